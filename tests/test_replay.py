"""CI replays the committed recording of the `openai` backend (made against the
loopback llama-cpp-python server by scripts/record_smollm2_seeds.sh) through the
full LLM path, with zero requests, and scores it against the gold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polex.pipeline.cli import app
from tests.conftest import GOLD, ROOT, SEEDS

RECORDING = ROOT / "evals" / "recordings" / "smollm2-seeds"


def clean_articles(recorded: dict) -> list[dict]:  # type: ignore[type-arg]
    """Articles whose recording holds no transport failure. While this recording was
    made, other work on the machine pushed some requests past the client timeout
    (ReadTimeout): those requests have no answer, so replaying them would (rightly)
    fail with ReplayMiss. Only the clean articles are replayed."""

    def clean(article: dict) -> bool:  # type: ignore[type-arg]
        text = " ".join([article.get("error") or "", *article["usage"]["notes"]])
        return "Timeout" not in text and "a reask failed" not in text

    return [a for a in recorded["articles"] if a.get("usage") and clean(a)]


def replay_args(out: Path) -> list[str]:
    """The recorded command's options, with --replay instead of --cache-dir, no server
    URL, a new --out, and the clean articles as inputs."""
    recorded = json.loads((RECORDING / "recorded-run-manifest.json").read_text())
    words = iter(recorded["command"][2:])  # after "polex run"
    options: list[str] = []
    for word in words:
        if word == "--out":
            options += ["--out", str(out)]
            next(words)
        elif word in ("--cache-dir", "--replay"):
            options += ["--replay", next(words)]
        elif word == "--base-url":
            next(words)
        elif word.startswith("--"):
            options += [word, next(words)]
        # positional inputs are replaced by the clean articles below
    if "--schema" not in options:
        for name in recorded["schemas"]:
            options += ["--schema", name]
    inputs = [a["source"] for a in clean_articles(recorded)]
    return ["run", *inputs, *options]


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
    clean = clean_articles(recorded)
    assert sorted(a["id"] for a in clean) == sorted(p.stem for p in SEEDS.glob("*.txt")), (
        "the recording must replay all five seeds"
    )
    answered = sum(a["usage"]["requests"] + a["usage"]["cache_hits"] for a in clean)
    assert manifest["totals"]["usage_this_run"]["cache_hits"] == answered
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
