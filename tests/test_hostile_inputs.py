"""Issue 14's second round: what a hostile corpus or a careless user sent in, and
what each now gets back (a clear error naming the input, or a correct result)."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polex.evals.run_report import render
from polex.pipeline.backends.base import Candidates
from polex.pipeline.chunking import chunk
from polex.pipeline.cli import app
from polex.pipeline.inputs import read_inputs
from polex.pipeline.records import ArticleContext
from polex.pipeline.runstore import read_jsonl
from tests.conftest import SEEDS

SEED = SEEDS / "000_f717e4e5ad01f3aa.txt"


def polex(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_credentials_in_the_base_url_are_masked_in_everything_the_run_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password, token = "hunter2-password-9", "tok-abcdef-123456"
    url = f"http://someone:{password}@127.0.0.1:9/v1?api-key={token}"
    args = [
        "run", str(SEED), "--out", str(tmp_path / "run"), "--backend", "openai", "--base-url", url,
        "--model", "m", "--retries", "1", "--timeout", "1", "--no-cache", "--schema", "QuantitativeTarget",
        "--strategy", "free",  # a request for sure (mentions asks nothing of the seed's sure numbers)
    ]  # fmt: skip
    monkeypatch.setattr("sys.argv", ["polex", *args])  # the manifest records the command line
    code, _ = polex(*args)
    assert code == 1  # nothing listens on port 9: the article fails, the run is written
    written = "".join(p.read_text() for p in (tmp_path / "run").rglob("*") if p.is_file())
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert password not in written and token not in written
    assert manifest["backend"]["base_url"] == "http://someone:[REDACTED]@127.0.0.1:9/v1?api-key=[REDACTED]"
    assert "http://someone:[REDACTED]@127.0.0.1:9/v1?api-key=[REDACTED]" in manifest["command"]


@pytest.mark.parametrize("size", [0, 1, 500, 999])
def test_a_chunk_size_too_small_is_refused_by_name(size: int) -> None:
    code, output = polex("run", str(SEED), "--out", "unused", "--chunk-chars", str(size))
    assert code == 2 and "--chunk-chars" in output
    with pytest.raises(ValueError, match="too small"):
        chunk("x. " * 1000, size)


def test_chunking_always_moves_forward_even_between_many_short_sentences() -> None:
    text = "Jobs rose. " * 2000
    pieces = chunk(text, 1000)
    assert pieces[0].start == 0 and pieces[-1].end == len(text)
    assert all(b.start > a.start and b.start < a.end for a, b in itertools.pairwise(pieces))
    assert len(pieces) < 2 * len(text) / (1000 - 400)


@pytest.mark.parametrize("option", ["--concurrency", "--max-bytes", "--retries", "--max-tokens"])
def test_zero_or_negative_limits_are_refused_by_name(option: str) -> None:
    for value in ("0", "-1"):
        code, output = polex("run", str(SEED), "--out", "unused", option, value)
        assert code == 2 and option in output


def test_version() -> None:
    from polex.pipeline import __version__

    code, output = polex("--version")
    assert code == 0 and output.strip() == f"polex {__version__}"


def test_jsonl_line_separators_inside_text_stay_text_in_and_out(tmp_path: Path) -> None:
    text = "Wuhan created 12,000 new urban jobs.\u2028A new paragraph\x85and another\u2029end."
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "a1", "text": text}, ensure_ascii=False) + "\n", "utf-8")
    articles, errors = read_inputs([source])
    assert errors == [] and [a.text for a in articles] == [text]
    # the rules, not the trained model: whether a re-trained model keeps this one-line
    # figure is not what this test is about
    code, _ = polex(
        "run", str(source), "--out", str(tmp_path / "run"), "--backend", "offline", "--rules-only"
    )
    assert code == 0
    for path in (tmp_path / "run").glob("*.jsonl"):
        raw = path.read_text("utf-8")
        assert "\u2028" not in raw and "\x85" not in raw and "\u2029" not in raw
        assert len(raw.splitlines()) == len(read_jsonl(path))  # any line reader sees one row per line
    [record] = read_jsonl(tmp_path / "run" / "QuantitativeTarget.jsonl")
    assert record["record"]["value"] == 12000


def test_one_bad_byte_costs_its_line_not_the_file(tmp_path: Path) -> None:
    good = json.dumps({"id": "ok", "text": "Create 5,000 jobs."}).encode()
    bad = b'{"id": "bad", "text": "caf\xe9 12 jobs"}'
    source = tmp_path / "mixed.jsonl"
    source.write_bytes(good + b"\n" + bad + b"\n" + good.replace(b'"ok"', b'"ok2"') + b"\n")
    articles, errors = read_inputs([source])
    assert [a.id for a in articles] == ["ok", "ok2"]
    [error] = errors
    assert error.source == f"{source}:2" and "not valid UTF-8" in error.message and "0xe9" in error.message


@pytest.mark.parametrize("value", [None, "", True, [1]])
def test_a_jsonl_id_that_is_not_an_id_is_an_error_not_the_text_none(tmp_path: Path, value: object) -> None:
    source = tmp_path / "ids.jsonl"
    source.write_text(json.dumps({"id": value, "text": "Create 5,000 jobs."}) + "\n")
    articles, errors = read_inputs([source])
    assert articles == [] and "'id' must be" in errors[0].message and errors[0].source == f"{source}:1"


def test_a_file_name_that_is_not_utf8_is_read_and_named(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.txt").write_text("The city will create 5,000 new urban jobs in 2024.")
    with open(os.fsencode(folder) + b"/bad\xffname.txt", "w") as handle:
        handle.write("The city will create 7,000 new urban jobs in 2024.")
    code, output = polex("run", str(folder), "--out", str(tmp_path / "run"), "--backend", "offline")
    assert code == 0, output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text("utf-8"))
    assert sorted(a["id"] for a in manifest["articles"]) == ["bad\\xffname", "good"]
    values = {
        r["article_id"]: r["record"]["value"]
        for r in read_jsonl(tmp_path / "run" / "QuantitativeTarget.jsonl")
    }
    assert values == {"bad\\xffname": 7000, "good": 5000}


def test_a_run_directory_inside_the_input_folder_is_not_read_back(tmp_path: Path) -> None:
    folder = tmp_path / "nest"
    folder.mkdir()
    (folder / "a.txt").write_text(SEED.read_text())
    for _ in range(2):
        code, output = polex("run", str(folder), "--out", str(folder / "run1"), "--backend", "offline")
        assert code == 0, output
    manifest = json.loads((folder / "run1" / "manifest.json").read_text())
    assert [a["id"] for a in manifest["articles"]] == ["a"]


def test_csv_cells_a_spreadsheet_would_run_are_made_inert(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps(
            {"id": '=HYPERLINK("http://x")', "text": "The city will create 5,000 new urban jobs in 2024."}
        )
        + "\n"
    )
    assert polex("run", str(source), "--out", str(tmp_path / "run"), "--backend", "offline")[0] == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "run" / "QuantitativeTarget.csv").read_text())))
    assert [r["article_id"] for r in rows] == ['\'=HYPERLINK("http://x")']
    assert all(not v.startswith(("=", "+", "@")) for r in rows for v in r.values())
    assert float(rows[0]["value"]) == 5000


def test_the_report_data_cannot_end_or_bend_its_script_element() -> None:
    hostile = {"articles": [{"id": "<!--<script>", "text": "</script><b>x</b>\u2028"}]}
    page = render(hostile)
    start = page.index("const DATA = ") + len("const DATA = ")
    payload = page[start : page.index(";\n", start)]
    assert "<" not in payload and "\u2028" not in payload
    assert json.loads(payload) == hostile


def test_a_run_directory_holding_other_settings_is_refused_unless_forced(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert polex("run", str(SEEDS), "--out", str(run), "--backend", "offline")[0] == 0
    before = {p.name: p.read_bytes() for p in run.glob("*.jsonl")}
    # fewer schemas, or another backend, into the same directory: refused, nothing touched
    code, output = polex("run", str(SEEDS), "--out", str(run), "--backend", "offline", "--rules-only",
                         "--schema", "PolicyMeasure")  # fmt: skip
    assert code == 2 and "other settings" in output and "--force" in output
    assert {p.name: p.read_bytes() for p in run.glob("*.jsonl")} == before
    # the same settings resume
    assert polex("run", str(SEEDS), "--out", str(run), "--backend", "offline")[0] == 0
    # --force replaces: no stale QuantitativeTarget file is left for `polex report` to export
    code, output = polex("run", str(SEEDS), "--out", str(run), "--backend", "offline", "--rules-only",
                         "--schema", "PolicyMeasure", "--force")  # fmt: skip
    assert code == 0, output
    assert not (run / "QuantitativeTarget.jsonl").exists() and (run / "PolicyMeasure.jsonl").exists()
    manifest = json.loads((run / "manifest.json").read_text())
    assert list(manifest["schemas"]) == ["PolicyMeasure"] and manifest["totals"]["articles_resumed"] == 0


def test_a_second_run_into_a_directory_being_written_is_refused(tmp_path: Path) -> None:
    import fcntl

    run = tmp_path / "run"
    run.mkdir()
    with open(run / ".polex.lock", "a+") as held:  # what a running `polex run` holds
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("pid 4242: polex run big.jsonl --out run")
        held.flush()
        code, output = polex("run", str(SEED), "--out", str(run), "--backend", "offline")
    assert code == 2 and "another polex run is writing to" in output and "pid 4242" in output
    assert not (run / "manifest.json").exists()
    assert polex("run", str(SEED), "--out", str(run), "--backend", "offline")[0] == 0


def test_an_unpunctuated_run_is_cut_into_bounded_sentences_so_work_per_number_is_bounded() -> None:
    from polex.pipeline.text import MAX_SENTENCE_CHARS, sentences

    text = "the city created 12,000 new urban jobs and trained 3,000 workers, " * 800  # 53 KB, no full stop
    pieces = sentences(text)
    assert max(p.end - p.start for p in pieces) <= MAX_SENTENCE_CHARS
    assert all(text[p.start : p.end] == p.text for p in pieces)
    assert "".join(p.text for p in pieces).replace(" ", "") == text.replace(" ", "")  # nothing lost


def test_the_passage_period_fallback_reads_each_paragraph_once_and_agrees_with_a_plain_scan() -> None:
    import re

    from polex.pipeline.periods import _passage_periods, period_in, period_of_passage

    def plain(text: str, start: int) -> str | None:  # the definition: scan the paragraph so far
        found = None
        for sentence in re.split(r"(?<=[.;!?。])\s*", text[text.rfind("\n", 0, start) + 1 : start]):
            found = period_in(sentence, 2023) or found
        return found

    text = SEED.read_text() + "\nIn 2021, the city grew. It created 5,000 jobs; then 7,000 more.\n"
    _passage_periods.cache_clear()
    for start in range(0, len(text), 7):
        assert period_of_passage(text, start, 2023) == plain(text, start), start
    assert _passage_periods.cache_info().misses == text.count("\n") + 1 - text.endswith("\n")


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("eval") / "run"
    assert polex("run", str(SEEDS), "--out", str(run), "--backend", "offline")[0] == 0
    return run


def _copy(run: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(run, to)
    return to


def test_eval_on_broken_input_is_an_error_naming_it_not_a_score(seed_run: Path, tmp_path: Path) -> None:
    from tests.conftest import GOLD

    # a schema file the manifest lists but the directory lacks
    missing = _copy(seed_run, tmp_path / "missing")
    (missing / "QuantitativeTarget.jsonl").unlink()
    code, output = polex("eval", str(missing), "--gold", str(GOLD))
    assert code == 2 and "QuantitativeTarget.jsonl is missing" in output
    # a torn JSONL line
    torn = _copy(seed_run, tmp_path / "torn")
    with open(torn / "PolicyMeasure.jsonl", "a") as handle:
        handle.write('{"article_id": "000_f717e4e5ad01f3aa", "rec')
    code, output = polex("eval", str(torn), "--gold", str(GOLD))
    assert code == 2 and "PolicyMeasure.jsonl: not a readable JSONL file" in output
    # a gold file that is a list
    gold = tmp_path / "gold"
    gold.mkdir()
    (gold / "x.json").write_text("[]")
    code, output = polex("eval", str(seed_run), "--gold", str(gold))
    assert code == 2 and "x.json: a gold file is a JSON object" in output
    # a run of other articles (an empty run scored 60 % before)
    empty = tmp_path / "empty"
    (tmp_path / "other.txt").write_text("The city will create 5,000 new urban jobs in 2024.")
    assert polex("run", str(tmp_path / "other.txt"), "--out", str(empty), "--backend", "offline")[0] == 0
    code, output = polex("eval", str(empty), "--gold", str(GOLD))
    assert code == 2 and "holds none of the" in output


class _Stuck:
    """A backend that never finishes one article: synchronously (as a CPU-bound
    extractor would) or at an await (as a server that never answers would)."""

    name = "stuck"

    def __init__(self, blocks_event_loop: bool) -> None:
        import threading

        self.blocks_event_loop = blocks_event_loop
        self.never = threading.Event()

    def describe(self) -> dict[str, object]:
        return {"backend": self.name, "model": "stuck", "parameters": {}}

    async def extract(self, ctx: ArticleContext, spec: object) -> Candidates:
        import asyncio

        if ctx.article.id == "stuck":
            if self.blocks_event_loop:
                self.never.wait()  # blocks its thread for good
            else:
                await asyncio.Event().wait()
        return Candidates()

    async def aclose(self) -> None:
        return None


@pytest.mark.parametrize("blocks_event_loop", [True, False])
def test_an_article_over_its_time_limit_fails_by_name_and_the_batch_goes_on(
    tmp_path: Path, blocks_event_loop: bool
) -> None:
    from polex.pipeline.records import Article
    from polex.pipeline.registry import select
    from polex.pipeline.runner import RunPlan, run_sync

    articles = [Article(i, "The city will create 5,000 new urban jobs in 2024.") for i in ("a", "stuck", "b")]
    backend = _Stuck(blocks_event_loop)
    plan = RunPlan(articles, [], select(["QuantitativeTarget"]), backend, tmp_path / "run", article_timeout=3)
    # 3 s: ample for the two articles that do finish (a stub answer), so a busy machine stays green
    result = run_sync(plan)  # returns although "stuck" never will
    backend.never.set()  # let the abandoned thread end
    statuses = {a.id: a.status for a in result.manifest.articles}
    assert statuses == {"a": "ok", "stuck": "failed", "b": "ok"}
    [error] = read_jsonl(tmp_path / "run" / "errors.jsonl")
    assert error["article_id"] == "stuck" and "timed out after 3 s (--article-timeout)" in error["error"]


def test_a_full_disk_is_a_clear_error_and_the_same_command_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    real_fsync, writes = os.fsync, []

    def fsync_until_full(fd: int) -> None:
        writes.append(fd)
        if len(writes) > 3:  # the manifest and two article parts fit; then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    run = tmp_path / "run"
    args = ("run", str(SEEDS), "--out", str(run), "--backend", "offline", "--concurrency", "1")
    monkeypatch.setattr(os, "fsync", fsync_until_full)
    code, output = polex(*args)
    assert code == 2 and "No space left on device" in output and "run the same command to resume" in output
    assert len(list((run / "parts").glob("*.json"))) == 2
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert polex(*args)[0] == 0
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["totals"]["articles_resumed"] == 2


def test_a_gold_record_its_schema_rejects_stops_the_eval_by_name(seed_run: Path, tmp_path: Path) -> None:
    import shutil

    from tests.conftest import GOLD

    gold = tmp_path / "gold"
    shutil.copytree(GOLD, gold)
    path = sorted(gold.glob("*.json"))[0]
    data = json.loads(path.read_text())
    data["QuantitativeTarget"][0]["indicator"] = "jobs_for_unicorns"
    path.write_text(json.dumps(data))
    code, output = polex("eval", str(seed_run), "--gold", str(gold))
    assert code == 2 and f"{path}: QuantitativeTarget[0].indicator" in output.replace("\n", "")
