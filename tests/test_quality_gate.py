"""The CI gate: the offline default, run on the labelled corpus and scored against
its gold, must not fall below the committed baseline of the **test** split
(evals/baseline.json, written by scripts/refresh_baseline.py). The seeds and the
dev split are what the models learn from, so they are not gated."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from polex.pipeline.cli import app
from tests.conftest import ROOT

BASELINE = ROOT / "evals" / "baseline.json"
CORPUS = ROOT / "evals" / "corpus"


def test_offline_scores_on_the_test_split_do_not_drop_below_the_baseline(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cli = CliRunner()
    ran = cli.invoke(app, ["run", str(CORPUS / "articles"), "--out", str(run), "--backend", "offline"])
    assert ran.exit_code == 0, ran.output
    result = cli.invoke(
        app,
        [
            "eval",
            str(run),
            "--gold",
            str(CORPUS / "gold"),
            "--articles",
            str(CORPUS / "articles"),
            "--baseline",
            str(BASELINE),
            "--max-drop",
            "0.005",
        ],
    )
    assert result.exit_code == 0, result.output
    baseline = json.loads(BASELINE.read_text())["headline"]
    assert "split=test/QuantitativeTarget.lenient_f1" in baseline
    assert "split=test/PolicyMeasure.category_set_f1" in baseline
    assert all(key.startswith("split=test") for key in baseline), "the gate is the test split only"
