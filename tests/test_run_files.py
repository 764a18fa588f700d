"""The run directory's files: parts checked on resume (a damaged, foreign or stale
part is redone and reported, never trusted), outputs streamed yet the same bytes,
atomic writes for run files and the response cache, and a cached re-run that
leaves intact outputs alone."""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from polex.pipeline.artifacts import Part, RunManifest
from polex.pipeline.backends.offline import OfflineBackend
from polex.pipeline.files import atomic_write
from polex.pipeline.inputs import read_inputs
from polex.pipeline.registry import discover
from polex.pipeline.runner import RunPlan, RunResult, run_sync
from polex.pipeline.runstore import RunDirError, RunStore, UntrustedPart
from polex.pipeline.transport import ResponseStore
from tests.conftest import SEEDS

FIRST = "000_f717e4e5ad01f3aa"
SECOND = "001_af90ca12de1d48dc"


def run_offline(out: Path, inputs: list[Path] | None = None) -> RunResult:
    articles, errors = read_inputs(inputs or [SEEDS])
    return run_sync(RunPlan(articles, errors, list(discover().values()), OfflineBackend(), out, "test"))


def outputs(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted([*run.glob("*.jsonl"), *run.glob("*.csv")])}


def redone(result: RunResult) -> dict[str, str]:
    return {a.id: a.part_redone_because for a in result.manifest.articles if a.part_redone_because}


def test_a_corrupt_part_is_reported_and_its_article_redone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "run"
    run_offline(out)
    first = outputs(out)
    part = out / "parts" / f"{FIRST}.json"
    data = json.loads(part.read_text("utf-8"))
    data["records"]["QuantitativeTarget"][0]["char_start"] = "somewhere"  # wrong shape, valid JSON
    part.write_text(json.dumps(data), "utf-8")
    (out / "parts" / f"{SECOND}.json").write_text('{"article_id": "001_af', "utf-8")  # truncated
    with caplog.at_level(logging.WARNING, logger="polex.runner"):
        result = run_offline(out)
    assert result.manifest.totals.parts_redone == 2
    assert result.manifest.totals.articles_resumed == 3
    reasons = redone(result)
    assert set(reasons) == {FIRST, SECOND}
    assert "char_start" in reasons[FIRST] and "not a valid part" in reasons[SECOND]
    assert FIRST in caplog.text and SECOND in caplog.text and "redone" in caplog.text
    assert outputs(out) == first  # redone, the same records again
    assert (
        Part.model_validate_json(part.read_bytes()).records["QuantitativeTarget"][0].char_start != "somewhere"
    )
    written = RunManifest.model_validate_json((out / "manifest.json").read_bytes())
    assert written.totals.parts_redone == 2


def test_a_part_of_a_foreign_run_is_redone_not_trusted(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_offline(out)
    first = outputs(out)
    part = out / "parts" / f"{FIRST}.json"
    data = json.loads(part.read_text("utf-8"))
    data["settings_key"] = "0123456789abcdef"  # made by a run with other settings
    data["records"]["QuantitativeTarget"] = []  # ...which found nothing here
    part.write_text(json.dumps(data), "utf-8")
    other = out / "parts" / f"{SECOND}.json"
    data = json.loads(other.read_text("utf-8"))
    data["article_id"] = "someone-else"  # a file of another article under this name
    other.write_text(json.dumps(data), "utf-8")
    result = run_offline(out)
    reasons = redone(result)
    assert "other settings" in reasons[FIRST] and "0123456789abcdef" in reasons[FIRST]
    assert "someone-else" in reasons[SECOND]
    assert result.manifest.totals.parts_redone == 2
    assert outputs(out) == first


def test_a_part_whose_article_text_changed_is_redone(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for seed in SEEDS.glob("*.txt"):
        (inputs / seed.name).write_text(seed.read_text("utf-8"), "utf-8")
    out = tmp_path / "run"
    run_offline(out, [inputs])
    changed = inputs / f"{FIRST}.txt"
    changed.write_text(changed.read_text("utf-8").replace("Anhui", "Jiangxi"), "utf-8")
    result = run_offline(out, [inputs])
    assert redone(result) == {FIRST: "the article's text changed since its part was made"}
    assert result.manifest.totals.articles_resumed == 4
    rows = [json.loads(line) for line in (out / "FundingAllocation.jsonl").read_text("utf-8").splitlines()]
    assert any(r["article_id"] == FIRST and r["record"]["region"] == "Jiangxi" for r in rows)


def test_a_cached_rerun_keeps_intact_outputs_and_rewrites_edited_ones(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_offline(out)
    first = outputs(out)
    untouched = (out / "PolicyMeasure.csv").stat().st_mtime_ns
    result = run_offline(out)
    assert result.manifest.totals.articles_resumed == 5
    assert (out / "PolicyMeasure.csv").stat().st_mtime_ns == untouched  # not rewritten
    (out / "QuantitativeTarget.jsonl").write_text("edited by hand\n", "utf-8")
    run_offline(out)
    assert outputs(out) == first  # the edited output is rebuilt from the parts


def test_a_part_that_vanishes_before_the_export_is_a_clear_error(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.prepare()
    with pytest.raises(RunDirError, match=f"part of {FIRST} vanished"):
        store.trusted_part(FIRST)
    store.part_path(FIRST).write_text("[]", "utf-8")
    with pytest.raises(UntrustedPart, match="not a valid part"):
        store.read_part(FIRST)


def test_a_failed_atomic_write_leaves_the_old_file_whole_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "file.json"
    atomic_write(target, "old")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)  # the data is fsynced before the rename
    with pytest.raises(OSError, match="No space"):
        atomic_write(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.json"]


def test_the_response_cache_writes_through_the_atomic_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ResponseStore(tmp_path)
    store.put("ab" * 32, {"status": 200, "body": {"answer": 1}})
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    store.put("ab" * 32, {"status": 200, "body": {"answer": 2}})
    assert synced, "the cache entry was not fsynced"
    assert store.get("ab" * 32) == {"status": 200, "body": {"answer": 2}}
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(28, "No space left")))
    with pytest.raises(OSError):
        store.put("ab" * 32, {"status": 200, "body": {"answer": 3}})
    assert store.get("ab" * 32) == {"status": 200, "body": {"answer": 2}}  # the old entry, whole
    assert [p.name for p in (tmp_path / "ab").iterdir()] == ["ab" * 32 + ".json"]


def test_the_export_holds_no_more_than_the_part_it_is_writing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_offline(out)
    store = RunStore(out)
    ids = [p.stem for p in sorted(SEEDS.glob("*.txt"))]
    alive: list[weakref.ref[Part]] = []
    held_when_read: list[int] = []

    def parts() -> Iterator[Part]:
        for article_id in ids * 3:
            gc.collect()
            held_when_read.append(sum(ref() is not None for ref in alive))
            part = store.trusted_part(article_id)
            alive.append(weakref.ref(part))
            yield part
            del part

    written = store.write_outputs(parts(), list(discover().values()), [])
    assert len(held_when_read) == 15 and max(held_when_read) <= 1  # only the part being written
    rows = (out / "QuantitativeTarget.jsonl").read_text("utf-8").splitlines()
    once = [json.loads(line) for line in rows[: len(rows) // 3]]
    assert [json.loads(line) for line in rows] == once * 3
    assert (
        written.digests["QuantitativeTarget.jsonl"]
        == hashlib.sha256((out / "QuantitativeTarget.jsonl").read_bytes()).hexdigest()
    )
