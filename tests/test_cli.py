"""The command line, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from polex.pipeline.cli import app
from tests.conftest import GOLD, ROOT, SEEDS

runner = CliRunner()


def test_run_defaults_to_offline_without_an_endpoint(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(SEEDS), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "backend offline" in result.output
    assert "QuantitativeTarget: " in result.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["backend"]["chosen_because"].startswith("no endpoint configured")


def test_run_exit_status_says_whether_an_article_failed(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "ok.txt").write_text("686000 new jobs were created.")
    result = runner.invoke(
        app,
        [
            "run",
            str(tmp_path / "ok.txt"),
            str(tmp_path / "empty.txt"),
            "--out",
            str(tmp_path / "run"),
            "--backend",
            "offline",
        ],
    )
    assert result.exit_code == 1
    assert "empty file" in result.output


def test_clear_refusals(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["run", str(tmp_path / "nope"), "--out", str(tmp_path / "r")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    schema = runner.invoke(app, ["run", str(SEEDS), "--out", str(tmp_path / "r"), "--schema", "Nope"])
    assert schema.exit_code == 2 and "unknown schema 'Nope'" in schema.output
    backend = runner.invoke(app, ["run", str(SEEDS), "--out", str(tmp_path / "r"), "--backend", "nope"])
    assert backend.exit_code == 2 and "unknown backend 'nope'" in backend.output


def test_schemas_lists_fields_and_prompts() -> None:
    result = runner.invoke(app, ["schemas"])
    assert result.exit_code == 0
    for expected in (
        "QuantitativeTarget.v1",
        "PolicyMeasure.v1",
        "indicator",
        "target_groups",
        "quantitative_target.v1.md",
    ):
        assert expected in result.output


def test_gold_check_passes_on_the_committed_gold() -> None:
    result = runner.invoke(app, ["gold", "check", "--gold", str(GOLD), "--articles", str(SEEDS)])
    assert result.exit_code == 0, result.output
    labelled = sum(
        len(v)
        for p in GOLD.glob("*.json")
        for k, v in json.loads(p.read_text()).items()
        if isinstance(v, list)
    )
    assert labelled >= 140 and f"gold ok: {labelled} records" in result.output


def test_gold_check_lists_disagreements_only_for_the_articles_asked() -> None:
    corpus = ["--gold", str(ROOT / "evals/corpus/gold"), "--articles", str(ROOT / "evals/corpus/articles")]

    def listed(output: str) -> set[str]:
        return {
            Path(line.split(":")[1].strip()).stem
            for line in output.splitlines()
            if line.startswith("disagreement:")
        }

    every = runner.invoke(app, ["gold", "check", *corpus])
    assert every.exit_code == 0, every.output
    assert len(listed(every.output)) >= 2  # the corpus gold disagrees with the cues in several files
    chosen = sorted(listed(every.output))[0]
    only = runner.invoke(app, ["gold", "check", *corpus, "--article", chosen])
    assert only.exit_code == 0, only.output
    assert listed(only.output) == {chosen}
    assert "in other articles not listed" in only.output and "gold ok:" in only.output


def test_python_dash_m_pipeline_works() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "polex.pipeline", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0 and "run" in out.stdout
