"""What the command line prints when its streams are not a terminal (a pipe, a log,
a test runner): plain lines, markup-like text kept as written, the run's summary as
``name: value`` lines (pipeline/terminal.py)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polex.pipeline.cli import app
from polex.pipeline.runstore import read_jsonl
from polex.pipeline.terminal import Stream
from tests.conftest import SEEDS


def test_a_line_off_a_terminal_is_written_as_given_after_its_label(monkeypatch: pytest.MonkeyPatch) -> None:
    captured = io.StringIO()
    monkeypatch.setattr("sys.stderr", captured)
    stream = Stream(stderr=True)
    stream.say("no file [bold]x[/bold] here", "error:", "bold red")
    stream.say("plain")
    assert not stream.is_terminal
    assert captured.getvalue() == "error: no file [bold]x[/bold] here\nplain\n"


def test_a_table_off_a_terminal_is_its_title_and_one_name_value_line_per_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    captured = io.StringIO()
    monkeypatch.setattr("sys.stdout", captured)
    Stream().table("run out", [("articles ok / failed", "1 / 0"), ("cost", "$0.0000")])
    assert captured.getvalue() == "run out\n  articles ok / failed: 1 / 0\n  cost: $0.0000\n"


def test_a_run_off_a_terminal_prints_its_summary_as_name_value_lines(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["run", str(SEEDS / "000_f717e4e5ad01f3aa.txt"), "--out", str(run), "--backend", "offline"]
    )
    assert result.exit_code == 0, result.output
    records = len(read_jsonl(run / "QuantitativeTarget.jsonl"))
    assert f"\n  QuantitativeTarget records: {records}\n" in result.output
    assert "\n  articles ok / failed: 1 / 0\n" in result.output
    assert f"manifest: {run / 'manifest.json'}" in result.output
