"""ruff, ruff format, mypy and the import-linter layering contracts, as part of the
suite. Tools are found beside the running interpreter (the venv's bin/, which is
not on PATH when `.venv/bin/pytest` runs) and then on PATH; in CI a missing tool
is a failure, never a skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

COMMANDS = [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"], ["lint-imports"]]


def find_tool(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_tool_is_clean(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    tool = find_tool(command[0])
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail(f"{command[0]} is missing in CI (pip install -e '.[dev]')")
        pytest.skip(f"{command[0]} is not installed (pip install -e '.[dev]')")
    result = subprocess.run([tool, *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600)
    with capsys.disabled():  # the gate's own output shows in the test log, pass or fail
        print(f"\n$ {' '.join(command)}  (exit {result.returncode})\n{result.stdout[-2000:].rstrip()}")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
