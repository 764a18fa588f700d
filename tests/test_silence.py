"""Silence is an alarm: a run whose records leave most numbers of interest unclaimed
warns in its summary and manifest (per article and overall), and
--fail-on-silence makes it exit non-zero."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from polex.pipeline.cli import app
from polex.pipeline.silence import is_silent, silence_report
from tests.conftest import SEEDS
from tests.loopback_llm import LoopbackLLM
from tests.servers import LoopbackHTTPServer, QuietHandler

COLLAPSED = {
    "id": "chatcmpl-empty",
    "object": "chat.completion",
    "created": 0,
    "model": "x",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": '{"records": []}'}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105},
}


class CollapsedLLM(LoopbackHTTPServer):
    """Answers every request with no records, as the collapsed grammar did."""

    def __init__(self) -> None:
        class Handler(QuietHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_json(COLLAPSED)

        super().__init__(Handler)


def polex_run(url: str, out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(SEEDS / "001_af90ca12de1d48dc.txt"),
            "--out",
            str(out),
            "--backend",
            "openai",
            "--base-url",
            url,
            "--model",
            "m",
            "--mode",
            "json",
            "--no-cache",
            "--schema",
            "QuantitativeTarget",
            "--strategy",
            "free",  # the strategy whose answers collapsed to {"records": []}
            *extra,
        ],
    )
    return result.exit_code, result.output


def test_a_run_that_claims_no_number_warns_in_summary_and_manifest(tmp_path: Path) -> None:
    with CollapsedLLM() as llm:
        code, output = polex_run(llm.url, tmp_path / "run")
    assert code == 0, output
    assert "silence warning" in output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    silence = manifest["totals"]["silence"]
    assert silence["numbers_of_interest"] > 0 and silence["unclaimed"] == silence["numbers_of_interest"]
    assert silence["silent_articles"] == ["001_af90ca12de1d48dc"] and silence["warning"]
    assert manifest["articles"][0]["silent"] is True


def test_fail_on_silence_exits_non_zero_only_when_silent(tmp_path: Path) -> None:
    with CollapsedLLM() as llm:
        code, output = polex_run(llm.url, tmp_path / "silent", "--fail-on-silence")
    assert code == 3, output
    with LoopbackLLM() as llm:
        code, output = polex_run(llm.url, tmp_path / "heard", "--fail-on-silence")
    assert code == 0, output
    manifest = json.loads((tmp_path / "heard" / "manifest.json").read_text())
    assert manifest["totals"]["silence"]["warning"] is None


def test_silence_needs_most_numbers_unclaimed() -> None:
    assert is_silent(10, 6) and not is_silent(10, 5) and not is_silent(0, 0)
    report = silence_report([("a", 4, 4), ("b", 20, 0)])
    assert report.silent_articles == ["a"] and report.unclaimed == 4
    assert report.warning is not None and "4 of 24" in report.warning
