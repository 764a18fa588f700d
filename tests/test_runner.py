"""Batch runs with the offline backend: outputs, grounding invariants, resume,
failure isolation."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from polex.pipeline.backends.offline import OfflineBackend
from polex.pipeline.inputs import read_inputs
from polex.pipeline.records import ArticleContext
from polex.pipeline.registry import discover
from polex.pipeline.runner import RunPlan, run_sync
from polex.pipeline.runstore import RunDirError, read_jsonl
from tests.conftest import SEEDS


def run_offline(out: Path, specs: list | None = None, inputs: list[Path] | None = None):  # type: ignore[no-untyped-def]
    articles, errors = read_inputs(inputs or [SEEDS])
    specs = specs or list(discover().values())
    return run_sync(RunPlan(articles, errors, specs, OfflineBackend(), out, "test", concurrency=3))


def test_every_written_record_is_grounded_in_its_article(tmp_path: Path) -> None:
    result = run_offline(tmp_path / "run")
    texts = {p.stem: p.read_text("utf-8") for p in SEEDS.glob("*.txt")}
    total = 0
    for name in result.manifest.schemas:
        for row in read_jsonl(tmp_path / "run" / f"{name}.jsonl"):
            total += 1
            text = texts[row["article_id"]]
            span = text[row["char_start"] : row["char_end"]]
            assert " ".join(span.lower().split()) == " ".join(row["record"]["evidence"].lower().split())
    assert total == sum(result.manifest.totals.records.values()) > 100
    assert result.manifest.totals.articles_ok == 5


def test_the_run_directory_is_complete(tmp_path: Path) -> None:
    run_offline(tmp_path / "run")
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert {
        "manifest.json",
        "QuantitativeTarget.jsonl",
        "QuantitativeTarget.csv",
        "PolicyMeasure.jsonl",
        "PolicyMeasure.csv",
        "rejected.jsonl",
        "errors.jsonl",
        "unclaimed.jsonl",
        "parts",
    } <= names
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["backend"]["backend"] == "offline"
    for schema in manifest["schemas"].values():
        assert len(schema["prompt_sha256"]) == 16 and len(schema["schema_sha256"]) == 16
    for article in manifest["articles"]:
        assert len(article["sha256"]) == 64 and article["status"] == "ok"
        assert article["usage"]["requests"] == 0
    header = (tmp_path / "run" / "QuantitativeTarget.csv").read_text().splitlines()[0]
    assert header.startswith("article_id,evidence,indicator,")


def test_a_second_run_resumes_and_writes_identical_outputs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_offline(out)
    first = {p.name: p.read_bytes() for p in out.glob("*.jsonl")}
    (out / "parts" / "001_af90ca12de1d48dc.json").unlink()  # as if killed before this article finished
    (out / "parts" / "002_b54908c3101e4205.json").write_text('{"article_id": "002_b5')  # a torn write
    result = run_offline(out)
    assert result.manifest.totals.articles_resumed == 3
    assert {p.name: p.read_bytes() for p in out.glob("*.jsonl")} == first


def test_one_failing_schema_keeps_the_other_schemas_records(tmp_path: Path) -> None:
    registry = discover()

    def broken(ctx: ArticleContext) -> list:  # type: ignore[type-arg]
        raise RuntimeError(f"rules crashed on {ctx.article.id}")

    specs = [registry["QuantitativeTarget"], replace(registry["PolicyMeasure"], offline=broken)]
    result = run_offline(tmp_path / "run", specs)
    assert result.failed == 5
    errors = read_jsonl(tmp_path / "run" / "errors.jsonl")
    assert len(errors) == 5 and all("rules crashed" in e["error"] for e in errors)
    assert len(read_jsonl(tmp_path / "run" / "QuantitativeTarget.jsonl")) > 50


def test_input_errors_are_reported_and_the_batch_completes(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    result = run_offline(tmp_path / "run", inputs=[SEEDS, tmp_path / "empty.txt"])
    assert result.manifest.totals.articles_ok == 5
    errors = read_jsonl(tmp_path / "run" / "errors.jsonl")
    assert [e["article_id"] for e in errors] == ["empty"]


def test_an_unwritable_output_directory_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(RunDirError, match="not writable"):
        run_offline(blocker / "run")


def test_no_record_at_all_leaves_every_number_unclaimed_so_the_recall_alarm_sounds() -> None:
    # an LLM that answers {"records": []} everywhere must not look like full recall
    from polex.pipeline.registry import select
    from polex.pipeline.runner import unclaimed_mentions

    [article], _ = read_inputs([SEEDS / "000_f717e4e5ad01f3aa.txt"])
    ctx = ArticleContext(article)
    interesting = [m for m in ctx.mentions if m.of_interest]
    assert len(interesting) > 3
    unclaimed = unclaimed_mentions(ctx, {}, select(["QuantitativeTarget"]))
    assert [u["char_start"] for u in unclaimed] == [m.start for m in interesting]
    # a run of schemas that claim no numbers has nothing to report
    assert unclaimed_mentions(ctx, {}, select(["PolicyMeasure"])) == []
