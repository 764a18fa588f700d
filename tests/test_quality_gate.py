"""The CI gate: the offline default, run on the seeds and scored against the gold,
must not fall below the committed baseline (evals/baseline.json). After a real
improvement, refresh the baseline with the command in the README."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli import app
from tests.conftest import GOLD, ROOT, SEEDS

BASELINE = ROOT / "evals" / "baseline.json"


def test_offline_scores_do_not_drop_below_the_baseline(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cli = CliRunner()
    assert cli.invoke(app, ["run", str(SEEDS), "--out", str(run), "--backend", "offline"]).exit_code == 0
    result = cli.invoke(
        app,
        [
            "eval",
            str(run),
            "--gold",
            str(GOLD),
            "--articles",
            str(SEEDS),
            "--baseline",
            str(BASELINE),
            "--max-drop",
            "0.005",
        ],
    )
    assert result.exit_code == 0, result.output
    baseline = json.loads(BASELINE.read_text())["headline"]
    assert {"QuantitativeTarget.lenient_f1", "PolicyMeasure.lenient_f1"} <= set(baseline)
