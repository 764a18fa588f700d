"""The fast paths of the offline run: what an offline run imports, articles in
several worker processes (same run directory as one process, Ctrl-C and a dying
worker leave whole parts and resume), and the case-insensitive matching the rules
use. No test here measures time: speed is measured in benchmarks/bench_offline.py."""

from __future__ import annotations

import gc
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polex.pipeline.backends import MODE_NAMES
from polex.pipeline.cli import app
from polex.pipeline.runstore import read_jsonl
from polex.pipeline.text import CaselessPattern, lowered
from tests.conftest import ROOT, SEEDS

OUTPUTS = ("*.jsonl", "*.csv")


def _polex(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polex.pipeline", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )


def _outputs(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for pattern in OUTPUTS for p in sorted(run.glob(pattern))}


def test_an_offline_run_of_utf8_text_imports_no_llm_client_training_stack_numpy_charset_detector_pool_or_rich(
    tmp_path: Path,
) -> None:
    script = textwrap.dedent(
        """
        import json, sys
        from polex.pipeline.cli import main
        sys.argv = ["polex", "run", sys.argv[1], "--out", sys.argv[2], "--backend", "offline"]
        try:
            main()
        except SystemExit as exit:
            code = exit.code
        heavy = (
            "openai", "instructor", "httpx", "jinja2", "sklearn",  # the LLM path and training
            "scipy", "threadpoolctl",  # training only
            "numpy",  # a model's first articles are scored in plain Python (learning/predictor.py)
            "llama_cpp", "pyarrow", "pandas",  # the local llama backend; nothing reads tables
            "charset_normalizer",  # guessing encodings: only for text that is not UTF-8
            "multiprocessing", "concurrent.futures.process",  # only with --workers
            "rich",  # styles, tables and the progress bar: only on a terminal (pipeline/terminal.py)
        )
        print(json.dumps({"code": code, "loaded": sorted(m for m in heavy if m in sys.modules)}))
        """
    )
    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", script, str(SEEDS / "000_f717e4e5ad01f3aa.txt"), str(run)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    assert report["loaded"] == []
    assert read_jsonl(run / "QuantitativeTarget.jsonl"), "the offline run extracted nothing"


def test_the_mode_names_the_cli_lists_are_the_llm_backend_modes() -> None:
    from polex.pipeline.backends.openai_compat import MODES

    assert tuple(MODES) == MODE_NAMES


def test_two_workers_write_the_same_run_as_one_process(tmp_path: Path) -> None:
    one = _polex("run", str(SEEDS), "--out", str(tmp_path / "one"), "--backend", "offline")
    two = _polex("run", str(SEEDS), "--out", str(tmp_path / "two"), "--backend", "offline", "--workers", "2")
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    single, parallel = _outputs(tmp_path / "one"), _outputs(tmp_path / "two")
    assert set(single) >= {"QuantitativeTarget.jsonl", "PolicyMeasure.jsonl", "FundingAllocation.csv"}
    assert parallel == single
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["totals"]["articles_ok"] == len(list(SEEDS.glob("*.txt")))


def test_workers_are_refused_for_a_backend_that_sends_requests(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["run", str(SEEDS), "--out", str(tmp_path / "run"), "--backend", "openai", "--workers", "2"]
    )
    assert result.exit_code == 2
    assert "--concurrency" in result.output and "offline" in result.output
    assert not (tmp_path / "run").exists()


# A schema whose offline rules stop on a gate file for an article saying HOLD, and end
# their process for an article saying CRASH: a run with a held article cannot finish
# before the test lets it, however fast or slow the machine is.
GATED_SCHEMA = """
import os
import time
from pathlib import Path

from pydantic import BaseModel, Field

from polex.pipeline.spec import FieldScore, SchemaSpec, Scoring


class FirstSentence(BaseModel):
    evidence: str = Field(description="The article's first sentence.")


def rules(ctx):
    if "CRASH" in ctx.text:
        os._exit(3)
    while "HOLD" in ctx.text and not Path(os.environ["POLEX_TEST_GATE"]).exists():
        time.sleep(0.05)
    return [(FirstSentence(evidence=ctx.text.split(".")[0]), 0)]


SPEC = SchemaSpec(
    name="FirstSentence",
    version=1,
    model=FirstSentence,
    prompt=Path(__file__).with_name("first_sentence.v1.md"),
    offline=rules,
    scoring=Scoring(fields=(FieldScore("evidence", "span"),)),
)
"""


def _gated_setup(tmp_path: Path, first: str) -> tuple[list[str], dict[str, str], Path]:
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    (schemas / "first_sentence.py").write_text(GATED_SCHEMA)
    (schemas / "first_sentence.v1.md").write_text("{{ schema_name }}\n=== user ===\n{{ text }}\n")
    corpus = tmp_path / "corpus.jsonl"
    lines = [{"id": "first", "text": f"{first} this article. It says little."}]
    lines += [{"id": f"a{i}", "text": f"Article {i} counts {i} things. Nothing else."} for i in range(6)]
    corpus.write_text("".join(json.dumps(line) + "\n" for line in lines))
    gate = tmp_path / "gate"
    env = {**os.environ, "POLEX_TEST_GATE": str(gate)}
    args = ["run", str(corpus), "--backend", "offline", "--schema-dir", str(schemas)]
    args += ["--schema", "FirstSentence", "--workers", "2"]
    return args, env, gate


def test_ctrl_c_with_workers_keeps_whole_parts_and_the_same_command_resumes(tmp_path: Path) -> None:
    args, env, gate = _gated_setup(tmp_path, "HOLD")
    run = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "polex.pipeline", *args, "--out", str(run)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    # One worker holds the first article; the other finishes the six others.
    deadline = time.monotonic() + 300
    while len(list((run / "parts").glob("*.json"))) < 6 and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        time.sleep(0.1)
    assert process.poll() is None, "the run ended although its first article is held"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 130, stderr
    assert "run the same command to resume" in stderr
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    parts = [json.loads(p.read_text()) for p in (run / "parts").glob("*.json")]
    assert sorted(p["article_id"] for p in parts) == [f"a{i}" for i in range(6)]

    gate.touch()
    resumed = _polex(*args, "--out", str(run), env=env)
    assert resumed.returncode == 0, resumed.stderr
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["totals"]["articles_resumed"] == 6 and manifest["totals"]["articles_ok"] == 7
    in_one_process = [a for a in args if a not in ("--workers", "2")]
    single = _polex(*in_one_process, "--out", str(tmp_path / "single"), env=env)
    assert single.returncode == 0, single.stderr
    assert _outputs(run) == _outputs(tmp_path / "single")


def test_a_worker_that_dies_fails_its_article_and_the_batch_goes_on(tmp_path: Path) -> None:
    args, env, _ = _gated_setup(tmp_path, "CRASH")
    run = tmp_path / "run"
    result = _polex(*args, "--out", str(run), env=env)
    assert result.returncode == 1, result.stderr
    parts = {p["article_id"]: p for p in (json.loads(f.read_text()) for f in (run / "parts").glob("*.json"))}
    assert len(parts) == 7, "every article has its part"
    assert parts["first"]["status"] == "failed" and "died" in parts["first"]["error"]
    # the articles in flight when the pool broke (2 workers' and the one waiting) may fail
    # with it, saying so; the rest are done by the new pool
    failed = [p for p in parts.values() if p["status"] == "failed"]
    assert all("died" in p["error"] for p in failed)
    assert len(failed) <= 3


@pytest.mark.parametrize(
    "pattern",
    [r"\bstabiliz\w* (?:posts|jobs)", r"(?<![\w-])(job fairs?|skills?)(?![\w-])", r"\bby \d{4}\b", "ſ|k"],
)
@pytest.mark.parametrize(
    "text",
    [
        "STABILIZING Jobs and Job Fairs BY 2025",
        "Kelvin \u212a and long \u017f: stabiliſe jobs",
        "\u0130stanbul SKILLS, \u0131job fair",
        "“Skills” 培训 job-fairs",
    ],
)
def test_caseless_patterns_find_what_ignorecase_finds(pattern: str, text: str) -> None:
    caseless = CaselessPattern.compile(pattern)
    expected = [m.span() for m in re.finditer(pattern, text, re.IGNORECASE)]
    assert [m.span() for m in caseless.finditer(text, lowered(text))] == expected
    found = caseless.search(text, lowered(text))
    assert (found.span() if found else None) == (expected[0] if expected else None)


def test_lowering_is_refused_exactly_for_the_characters_ignorecase_treats_otherwise() -> None:
    # Every character IGNORECASE equates with an ASCII letter that lower-casing does not
    # turn into that letter, or whose lower case is longer: the fast path must refuse it.
    letters = re.compile("[a-z]", re.IGNORECASE)
    traps = [
        chr(c)
        for c in range(0x80, 0x110000)
        if (letters.fullmatch(chr(c)) and not ("a" <= chr(c).lower() <= "z")) or len(chr(c).lower()) != 1
    ]
    assert traps, "the check found no trap at all"
    for character in traps:
        assert lowered(f"a{character}b") is None, f"U+{ord(character):04X} is not refused"
    assert lowered("Kelvin \u212a, “Skills” 培训") == "kelvin k, “skills” 培训"


def test_a_pattern_with_an_upper_case_letter_keeps_ignorecase() -> None:
    assert CaselessPattern.compile(r"\bXIV\b").fast is None
    assert CaselessPattern.compile(r"\x41").fast is None  # an escape naming a letter
    assert CaselessPattern.compile(r"\bfive[- ]year\b\s\S\d\D\w\W").fast is not None
    found = CaselessPattern.compile(r"\bXIV\b").search("the xiv plan", lowered("the xiv plan"))
    assert found is not None and found.span() == (4, 7)


@pytest.mark.parametrize("trap", ["", " (\u0130stanbul)"])
def test_numbers_in_words_are_read_in_any_case_and_keep_their_written_text(trap: str) -> None:
    from polex.pipeline.quantities import find_mentions

    text = f"Some two MILLION jobs and Two-Thirds of graduates were placed{trap}. A Thousand Talents stays a name."
    found = {m.text: m for m in find_mentions(text)}
    assert found["two MILLION"].value == 2_000_000
    assert found["Two-Thirds"].value == round(2 / 3, 6) and found["Two-Thirds"].unit == "ratio"
    assert "A Thousand" not in found


def _articles_and_entries_alive(corpus: Path) -> tuple[int, int]:
    """How many articles of ``corpus``, and manifest entries of them, this process
    holds (objects of other tests, kept by caches, are not counted)."""
    from polex.pipeline.artifacts import ArticleEntry
    from polex.pipeline.records import Article

    alive = gc.get_objects()
    articles = sum(isinstance(o, Article) and o.source.startswith(str(corpus)) for o in alive)
    entries = sum(isinstance(o, ArticleEntry) and (o.source or "").startswith(str(corpus)) for o in alive)
    return articles, entries


def test_a_run_holds_only_the_articles_it_is_working_on(tmp_path: Path) -> None:
    from polex.pipeline.backends.offline import OfflineBackend
    from polex.pipeline.inputs import Inputs
    from polex.pipeline.registry import discover
    from polex.pipeline.runner import RunPlan, run_sync

    corpus = tmp_path / "corpus.jsonl"
    lines = [
        {"id": f"a{i}", "text": f"Article {i}: {1000 + i} new jobs were created in 2021."} for i in range(60)
    ]
    corpus.write_text("".join(json.dumps(line) + "\n" for line in lines))
    seen: list[tuple[int, int]] = []
    plan = RunPlan(
        Inputs([corpus]), [], list(discover().values()), OfflineBackend(), tmp_path / "run", concurrency=2
    )
    result = run_sync(plan, lambda _part: seen.append(_articles_and_entries_alive(corpus)))
    assert result.totals.articles_ok == 60 and len(seen) == 60
    # at most the two being extracted and the one just read (texts are not all held),
    # and no growing list of manifest entries (they are spooled to disk)
    assert max(articles for articles, _ in seen) <= 3
    assert max(entries for _, entries in seen) <= 3
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert [a["id"] for a in manifest["articles"]] == [f"a{i}" for i in range(60)]


def test_an_article_finds_its_mention_candidates_and_their_features_once_for_every_schema() -> None:
    from polex.pipeline.learning import extract
    from polex.pipeline.learning.candidates import mention_candidates
    from polex.pipeline.learning.features import mention_features
    from polex.pipeline.records import Article, ArticleContext
    from polex.pipeline.registry import discover

    ctx = ArticleContext(Article("a", "In 2021 the city created 12,000 new jobs and trained 3,000 people."))
    first = mention_candidates(ctx)
    assert len(first) == 2 and mention_candidates(ctx) is first
    calls: list[str] = []
    assert ctx.shared("key", lambda: calls.append("computed") or 7) == 7
    assert ctx.shared("key", lambda: calls.append("computed") or 8) == 7
    assert calls == ["computed"]
    specs = discover()
    quantities, funding = specs["QuantitativeTarget"], specs["FundingAllocation"]
    assert quantities.quantity_field and funding.quantity_field
    with_rules = extract.featurize(quantities, ctx, first[0], {"kind": "target"})
    plain = extract.featurize(funding, ctx, first[0], None)
    # each schema adds its own features to a copy of the shared ones
    assert "rule:kept" in with_rules and "rule:kept" not in plain
    shared = ctx.shared(("mention_features", first[0]), dict)
    assert shared == mention_features(ctx.text, first[0])  # computed once, left unchanged
    assert set(shared) <= set(plain) and set(shared) <= set(with_rules)


class _RecordingBackend:
    """Computes in threads like the offline backend and records when each article's
    extraction starts and ends. The first article waits for the second to start (at
    most a few seconds): a runner that overlaps them lets the second start first."""

    name = "recording"
    blocks_event_loop = True

    def __init__(self) -> None:
        self.events: list[str] = []
        self.second_started = threading.Event()

    def describe(self) -> dict[str, object]:
        return {"backend": self.name, "model": "none", "parameters": {}}

    async def extract(self, ctx: object, spec: object) -> object:
        from polex.pipeline.backends.base import Candidates

        article_id = ctx.article.id  # type: ignore[attr-defined]
        self.events.append(f"start {article_id}")
        if article_id == "a0":
            self.second_started.wait(timeout=3)
        else:
            self.second_started.set()
        self.events.append(f"end {article_id}")
        return Candidates()

    async def aclose(self) -> None:
        return None


def test_the_first_article_is_extracted_alone_so_what_articles_share_is_built_once(tmp_path: Path) -> None:
    from polex.pipeline.records import Article
    from polex.pipeline.registry import discover
    from polex.pipeline.runner import RunPlan, run_sync

    backend = _RecordingBackend()
    articles = [Article(f"a{i}", f"Article {i}: {1000 + i} new jobs.") for i in range(4)]
    spec = discover()["PolicyMeasure"]
    plan = RunPlan(articles, [], [spec], backend, tmp_path / "run", concurrency=2)  # type: ignore[arg-type]
    result = run_sync(plan)
    assert result.totals.articles_ok == 4
    # no other article starts before the first has ended; then two at a time
    assert backend.events[:2] == ["start a0", "end a0"]
    assert sorted(backend.events) == sorted(f"{e} a{i}" for i in range(4) for e in ("start", "end"))


def test_the_streamed_manifest_is_the_text_of_the_manifest_model(tmp_path: Path) -> None:
    from polex.pipeline.artifacts import RunManifest

    bad = tmp_path / "in" / "bad.jsonl"
    bad.parent.mkdir()
    bad.write_text('{"id": "x", "text": "1,000 jobs in 2021."}\nnot json\n')
    done = _polex("run", str(SEEDS), str(bad.parent), "--out", str(tmp_path / "run"), "--backend", "offline")
    assert done.returncode == 1, done.stderr  # the malformed line fails, the rest is done
    assert "malformed JSON" in done.stderr
    written = (tmp_path / "run" / "manifest.json").read_text()
    manifest = RunManifest.model_validate_json(written)
    assert manifest.to_json_text() == written
    assert [a.status for a in manifest.articles][-2:] == ["ok", "input_error"]
    assert manifest.totals.articles == len(manifest.articles) == len(list(SEEDS.glob("*.txt"))) + 2


def test_seen_ids_move_to_disk_and_every_one_is_still_found() -> None:
    from polex.pipeline.inputs import SeenIds

    seen = SeenIds(spill_at=3)
    try:
        for i in range(7):
            seen.add(f"id{i}", f"file.jsonl:{i + 1}")
        assert seen.on_disk == 6  # two spills of three; the seventh is still in memory
        assert [seen.source_of(f"id{i}") for i in range(7)] == [f"file.jsonl:{i + 1}" for i in range(7)]
        assert seen.source_of("id7") is None
    finally:
        seen.close()


def test_a_duplicate_id_is_named_after_the_ids_seen_moved_to_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from polex.pipeline import inputs

    monkeypatch.setattr(inputs, "SPILL_AT", 2)
    corpus = tmp_path / "corpus.jsonl"
    ids = ["a", "b", "c", "d", "e", "a", "e"]
    corpus.write_text("".join(json.dumps({"id": i, "text": "1,000 jobs."}) + "\n" for i in ids))
    articles, problems = inputs.read_inputs([corpus])
    assert [a.id for a in articles] == ["a", "b", "c", "d", "e"]
    # "a" was moved to disk, "e" was still in memory: both are found, with their first line
    assert [(p.article_id, p.duplicate) for p in problems] == [("a", True), ("e", True)]
    assert f"first seen in {corpus}:1 " in problems[0].message
    assert f"first seen in {corpus}:5 " in problems[1].message


def test_seen_ids_on_disk_keep_a_small_page_cache() -> None:
    from polex.pipeline.inputs import SEEN_IDS_CACHE_KIB, SeenIds

    seen = SeenIds(spill_at=1)
    try:
        seen.add("id0", "file.jsonl:1")
        assert seen._database is not None
        [(cache_size,)] = seen._database.execute("PRAGMA cache_size").fetchall()
        assert cache_size == -SEEN_IDS_CACHE_KIB  # negative: KiB, not pages
        assert seen.source_of("id0") == "file.jsonl:1"
    finally:
        seen.close()


def test_articles_at_once_is_at_most_two_in_process_one_per_worker_plus_one_else_the_concurrency(
    tmp_path: Path,
) -> None:
    from polex.pipeline.backends.offline import OfflineBackend
    from polex.pipeline.runner import RunPlan, articles_at_once
    from polex.pipeline.workers import WorkerSetup

    def plan(backend: object, concurrency: int, workers: WorkerSetup | None = None) -> RunPlan:
        return RunPlan([], [], [], backend, tmp_path, concurrency=concurrency, workers=workers)  # type: ignore[arg-type]

    offline = OfflineBackend()
    assert articles_at_once(plan(offline, 8)) == 2
    assert articles_at_once(plan(offline, 1)) == 1
    assert articles_at_once(plan(offline, 8, WorkerSetup(3, "offline"))) == 4

    class SendsRequests:  # a backend that awaits a server: --concurrency requests overlap
        name = "requests"

    assert articles_at_once(plan(SendsRequests(), 8)) == 8


@pytest.mark.parametrize(
    ("phrase", "first"),
    [
        (r"\b(?:is|are) to\b", {"i", "a"}),
        ("subsid\\w* (?:to|for)", {"s"}),
        ("(?:posts|positions) (?:for|to)", {"p"}),
        ("grass-?roots", {"g"}),
        ("tax|(?:job|work) fairs?", {"t", "j", "w"}),
        ("a?b", None),  # the first letter is optional
        ("(?:x|y)?z", None),
        ("(?:x|)z", None),  # an empty alternative
        ("[ab]c", None),
        (r"\w+ jobs", None),
        (r"\-year", None),
        ("(x|y", None),  # does not balance
    ],
)
def test_first_characters_of_a_phrase_are_read_only_where_its_start_is_plain(
    phrase: str, first: set[str] | None
) -> None:
    from polex.pipeline.learning.lexicon import first_characters

    assert first_characters(phrase) == (frozenset(first) if first is not None else None)


def test_lexicon_hits_name_the_first_phrase_that_matches_as_trying_every_phrase_does() -> None:
    from polex.pipeline.learning.lexicon import build_lexicon, hits

    entries = {
        "fairs": ("job fairs?", r"(?:job|career) (?:fairs?|expos?)", "[jc]ob events?"),
        "posts": (r"\bjob (?:posts?|positions?)", "(?:public )?jobs?", "j?obs"),
        "other": (r"\w+ fairs?", "jobs fair"),
    }
    lexicon = build_lexicon("kind", entries, {})
    text = "Job fairs, career expos and a jobs fair; job posts, public jobs, obs and trade fairs. Cob events."
    lowered = text.lower()

    def by_trying_every_phrase(start: int, end: int) -> int:
        for phrase, value in lexicon.phrases:
            again = re.compile(phrase).match(lowered, start)
            if again is not None and again.end() == end:
                return value
        raise AssertionError(f"no phrase matches {lowered[start:end]!r}")

    found = hits(lexicon, text)
    assert len(found) >= 8
    assert [h.value for h in found] == [by_trying_every_phrase(h.start, h.end) for h in found]
