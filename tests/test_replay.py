"""CI replays the committed recording of the `openai` backend (made against the
loopback llama-cpp-python server by scripts/record_smollm2_seeds.sh) through the
full LLM path, with zero requests, and scores it against the gold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from tests.conftest import GOLD, ROOT, SEEDS

RECORDING = ROOT / "evals" / "recordings" / "smollm2-seeds"


def replay_args(out: Path) -> list[str]:
    """The recorded command, with --replay instead of --cache-dir, no server URL and
    a new --out."""
    recorded = json.loads((RECORDING / "recorded-run-manifest.json").read_text())
    words = iter(recorded["command"][1:])
    rewritten: list[str] = []
    for word in words:
        if word == "--out":
            rewritten += ["--out", str(out)]
            next(words)
        elif word == "--cache-dir":
            rewritten += ["--replay", next(words)]
        elif word == "--base-url":
            next(words)
        else:
            rewritten.append(word)
    if "--schema" not in rewritten:  # schemas registered after the recording are not in it
        for name in recorded["schemas"]:
            rewritten += ["--schema", name]
    return rewritten


def test_the_recording_replays_with_zero_requests_and_is_scored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (RECORDING / "recorded-run-manifest.json").is_file(), "the replay fixture is missing"
    monkeypatch.chdir(ROOT)
    recorded = json.loads((RECORDING / "recorded-run-manifest.json").read_text())
    out = tmp_path / "replay"
    result = CliRunner().invoke(app, replay_args(out))
    assert result.exit_code in (0, 1), result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["totals"]["usage_this_run"]["requests"] == 0
    recorded_requests = recorded["totals"]["usage_this_run"]["requests"]
    assert manifest["totals"]["usage_this_run"]["cache_hits"] == recorded_requests
    assert "ReplayMiss" not in (out / "errors.jsonl").read_text()
    # the records may differ from the recorded run's when grounding or merging improve;
    # the scores below may not drop

    baseline = RECORDING / "eval-baseline.json"
    scored = CliRunner().invoke(
        app,
        [
            "eval",
            str(out),
            "--gold",
            str(GOLD),
            "--articles",
            str(SEEDS),
            "--baseline",
            str(baseline),
            "--max-drop",
            "0.005",
        ],
    )
    assert scored.exit_code == 0, scored.output
    headline = json.loads((out / "eval.json").read_text())["headline"]
    assert all(0.0 <= v <= 1.0 for v in headline.values())
