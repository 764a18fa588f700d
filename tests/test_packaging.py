"""The project installs under one import name, `polex`, so it can sit beside any other
distribution (OpenAI's `evals`, for one) without either overwriting the other."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("pipeline", "schemas", "prompts", "evals")


@pytest.mark.slow
def test_the_wheel_holds_only_the_polex_namespace(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("polex-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"polex", wheel.name.split("-py3")[0] + ".dist-info"}, tops
    for folder in FOLDERS:  # every folder of the design ships, under the namespace
        assert any(name.startswith(f"polex/{folder}/") for name in names), folder
    assert "polex/prompts/quantitative_target.v1.md" in names
    assert "polex/pipeline/data/quantities.toml" in names


def test_no_module_reaches_for_a_top_level_folder_name(tmp_path: Path) -> None:
    """Imports every module from outside the source tree, then runs the offline job:
    a leftover `import pipeline` or `resources.files("schemas")` would fail here."""
    script = f"""
import importlib, pkgutil, sys
import polex
for info in pkgutil.walk_packages(polex.__path__, "polex."):
    importlib.import_module(info.name)
leaked = sorted(n for n in {FOLDERS!r} if n in sys.modules)
assert not leaked, leaked
from polex.pipeline.cli import app
from typer.testing import CliRunner
result = CliRunner().invoke(app, ["run", {str(ROOT / "seeds")!r}, "--out", "run", "--backend", "offline"])
assert result.exit_code == 0, result.output
leaked = sorted(n for n in {FOLDERS!r} if n in sys.modules)
assert not leaked, leaked
"""
    done = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
