"""`polex train --jobs N`: the fits run in worker processes, and the models they
save are byte for byte the ones a single process saves."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from polex.pipeline.cli import app
from tests.conftest import GOLD, SEEDS

SCHEMAS = ("QuantitativeTarget", "PolicyMeasure", "FundingAllocation")


def _train(schema: str, jobs: int, out: Path) -> bytes:
    result = CliRunner().invoke(
        app,
        [
            "train",
            *("--schema", schema),
            *("--gold", str(GOLD)),
            *("--articles", str(SEEDS)),
            *("--out", str(out)),
            *("--jobs", str(jobs)),
        ],
    )
    assert result.exit_code == 0, result.output
    return out.read_bytes()


@pytest.mark.parametrize("schema", SCHEMAS)
def test_two_worker_processes_save_the_same_model_file_as_one(schema: str, tmp_path: Path) -> None:
    serial = _train(schema, 1, tmp_path / "serial.npz")
    parallel = _train(schema, 2, tmp_path / "parallel.npz")
    assert parallel == serial


def test_jobs_below_one_is_refused_naming_the_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train", "--schema", "FundingAllocation", "--out", str(tmp_path / "m.npz"), "--jobs", "0"]
    )
    assert result.exit_code != 0
    assert "--jobs" in result.output
    assert not (tmp_path / "m.npz").exists()
