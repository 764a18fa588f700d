"""The OpenAI-compatible backend against a scripted server: structured-output modes,
validate-and-reask, salvage, truncation, transport retries, cache and replay."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from polex.pipeline.backends.base import BackendError
from polex.pipeline.backends.openai_compat import LLMSettings, OpenAICompatBackend
from polex.pipeline.records import Article
from polex.pipeline.registry import discover
from polex.pipeline.runner import process_article
from polex.pipeline.transport import RetryPolicy
from tests.fake_openai import FakeServer, completion

QT = discover()["QuantitativeTarget"]
TEXT = (
    "From January to November this year, 686000 new jobs were created in cities and towns across the "
    "province, completing 108.9% of the annual target tasks."
)
ARTICLE = Article("a1", TEXT)
GOOD = [
    {
        "evidence": "686000 new jobs were created in cities and towns",
        "indicator": "new_urban_jobs",
        "indicator_text": "new jobs",
        "value": 686000,
        "unit": "persons",
        "kind": "actual",
    },
    {
        "evidence": "completing 108.9% of the annual target tasks",
        "indicator": "new_urban_jobs",
        "indicator_text": "annual target tasks",
        "value": 108.9,
        "unit": "percent",
        "kind": "completion_rate",
    },
]
UNGROUNDED = {**GOOD[0], "evidence": "686,000 jobs were made"}


def backend(server: FakeServer, tmp_path: Path | None = None, **settings: Any) -> OpenAICompatBackend:
    options = {
        "model": "fake",
        "base_url": "http://fake.local/v1",
        "mode": "json_schema",
        "retry": RetryPolicy(attempts=4, initial_wait=0.001, max_wait=0.01),
        "strategy": "free",  # these tests are about the free strategy's path unless they say
        **settings,
    }
    if tmp_path is not None:
        options.setdefault("cache_dir", tmp_path / "cache")
    return OpenAICompatBackend(LLMSettings(**options), transport=server.transport())


def run(b: OpenAICompatBackend, article: Article = ARTICLE) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        try:
            return (await process_article(article, [QT], b)).to_json_dict()
        finally:
            await b.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("mode", "check"),
    [
        ("json_schema", lambda body: body["response_format"]["type"] == "json_schema"),
        (
            "json_object_schema",
            lambda body: (
                body["response_format"] == {"type": "text"}
                and 'records-kv ::= "\\"records\\"" space ":" space records' in body["grammar"]
            ),
        ),
        ("json", lambda body: body["response_format"] == {"type": "json_object"}),
        ("md_json", lambda body: "response_format" not in body),
        ("tools", lambda body: body["tools"][0]["function"]["name"] == "QuantitativeTargetRecords"),
    ],
)
def test_each_structured_output_mode_sends_its_format_and_reads_its_answer(mode: str, check: Any) -> None:
    server = FakeServer([completion(GOOD, tool=mode == "tools", fence=mode == "md_json")])
    part = run(backend(server, mode=mode))
    assert check(server.requests[0])
    assert part["status"] == "ok"
    assert [r["record"]["value"] for r in part["records"]["QuantitativeTarget"]] == [686000, 108.9]


def test_the_prompt_carries_field_descriptions_and_the_article() -> None:
    server = FakeServer([completion(GOOD)])
    run(backend(server))
    system, user = server.requests[0]["messages"][:2]
    assert "The number, normalised" in system["content"]  # from the Pydantic field description
    assert "new_urban_jobs: New urban jobs created" in system["content"]
    assert TEXT in user["content"]
    assert server.requests[0]["temperature"] == 0.0 and server.requests[0]["seed"] == 0


def test_an_answer_that_is_not_json_is_reasked_without_a_versioned_library_url() -> None:
    server = FakeServer([completion(content='{"records": [\n\t\t'), completion(GOOD)])
    part = run(backend(server, mode="json", max_reasks=2))
    assert len(server.requests) == 2
    feedback = str(server.requests[1]["messages"][-1]["content"])
    assert "Invalid JSON" in feedback
    assert "errors.pydantic.dev" not in feedback  # the reask (and its cache key) is the same on any pydantic
    assert len(part["records"]["QuantitativeTarget"]) == 2


def test_an_ungrounded_answer_is_reasked_with_the_validation_error() -> None:
    server = FakeServer([completion([UNGROUNDED]), completion(GOOD, prompt_tokens=150, completion_tokens=30)])
    part = run(backend(server, max_reasks=2))
    assert len(server.requests) == 2
    feedback = " ".join(str(m["content"]) for m in server.requests[1]["messages"])
    assert "evidence not found in the article" in feedback
    assert "errors.pydantic.dev" not in feedback  # no versioned library URL in what the model reads
    assert part["usage"]["reasks"] == 1
    assert part["usage"]["prompt_tokens"] == 250 and part["usage"]["completion_tokens"] == 50
    assert len(part["records"]["QuantitativeTarget"]) == 2 and part["rejected"] == []


def test_when_reasks_run_out_valid_records_are_kept_and_the_rest_rejected() -> None:
    server = FakeServer([completion([GOOD[0], UNGROUNDED])] * 2)
    part = run(backend(server, max_reasks=1))
    assert len(server.requests) == 2
    assert [r["record"]["value"] for r in part["records"]["QuantitativeTarget"]] == [686000]
    (rejected,) = part["rejected"]
    assert "evidence not found" in rejected["reasons"][0]
    assert any("still invalid" in n for n in part["usage"]["notes"])


def test_non_json_answers_are_rejected_not_dropped() -> None:
    server = FakeServer([completion(content="I cannot help with that.")] * 2)
    part = run(backend(server, max_reasks=1))
    assert part["status"] == "ok" and part["records"]["QuantitativeTarget"] == []
    assert part["rejected"][0]["record"] == "I cannot help with that."


def test_an_answer_cut_off_at_max_tokens_splits_the_chunk_and_says_so() -> None:
    long_text = " ".join([TEXT] * 3)

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        article = body["messages"][-1]["content"].split("<article>")[-1]
        if article.count("686000") > 1:
            return completion(content='{"records": [{"evidence": "686', finish="length")
        return completion(GOOD)

    server = FakeServer(answer)
    part = run(backend(server), Article("long", long_text))
    assert part["usage"]["splits"] >= 1
    assert any("cut off at max_tokens" in n for n in part["usage"]["notes"])
    assert part["status"] == "ok" and len(part["records"]["QuantitativeTarget"]) == 2


def test_an_answer_that_stays_cut_off_fails_the_article_with_a_clear_error() -> None:
    server = FakeServer(lambda body: completion(content='{"records": [', finish="length"))
    part = run(backend(server, max_splits=1))
    assert part["status"] == "failed"
    assert "cut off at max_tokens=2048" in part["error"]


def test_transport_faults_are_retried_honouring_retry_after() -> None:
    waits: list[float] = []
    server = FakeServer(
        [
            lambda body: httpx.Response(429, headers={"Retry-After": "0.02"}, json={"error": "slow down"}),
            lambda body: httpx.Response(503, json={"error": "busy"}),
            lambda body: httpx.Response(200, content=b'{"id": "x", "choi'),  # a truncated body
            completion(GOOD),
        ]
    )
    b = backend(server)

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    b._http._transport.sleep = fake_sleep  # type: ignore[attr-defined]
    part = run(b)
    assert part["status"] == "ok"
    assert part["usage"]["transport_retries"] == 3 and part["usage"]["reasks"] == 0
    assert part["usage"]["requests"] == 4
    assert waits[0] == pytest.approx(0.02)


def test_when_the_retry_budget_is_spent_the_article_fails_clearly() -> None:
    server = FakeServer(lambda body: lambda b: httpx.Response(502, json={"error": "bad gateway"}))
    part = run(backend(server, retry=RetryPolicy(attempts=3, initial_wait=0.001, max_wait=0.001)))
    assert part["status"] == "failed"
    assert "HTTP 502" in part["error"] and len(server.requests) == 3


def test_a_repeated_run_makes_no_requests(tmp_path: Path) -> None:
    server = FakeServer([completion([UNGROUNDED]), completion(GOOD)])
    first = run(backend(server, tmp_path))
    second = run(backend(server, tmp_path))
    assert len(server.requests) == 2
    assert second["usage"]["requests"] == 0 and second["usage"]["cache_hits"] == 2
    assert first["records"] == second["records"]


def test_replay_never_calls_out_and_a_missing_answer_fails_loudly(tmp_path: Path) -> None:
    recorder = FakeServer([completion(GOOD)])
    run(backend(recorder, tmp_path))
    silent = FakeServer([])
    replayed = run(backend(silent, tmp_path, replay=True))
    assert silent.requests == [] and replayed["status"] == "ok"
    other = Article("a2", TEXT + " More.")
    missing = run(backend(silent, tmp_path, replay=True), other)
    assert silent.requests == []
    assert missing["status"] == "failed" and "ReplayMiss" in missing["error"]


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(BackendError, match="unknown structured-output mode"):
        OpenAICompatBackend(LLMSettings(mode="xml"))


def test_long_articles_are_chunked_with_overlap_and_merged_without_duplicates(tmp_path: Path) -> None:
    from tests.conftest import SEEDS
    from tests.loopback_llm import LoopbackLLM

    text = (SEEDS / "004_76301af96bdc979d.txt").read_text()
    with LoopbackLLM() as llm:
        b = OpenAICompatBackend(
            LLMSettings(
                model="loopback",
                base_url=llm.url,
                chunk_chars=1200,
                chunk_overlap=400,
                mode="json",
                strategy="free",
            )
        )
        part = run(b, Article("long", text))
    assert part["usage"]["requests"] >= 8  # several chunks of one article
    rows = part["records"]["QuantitativeTarget"]
    spans = [(r["char_start"], r["char_end"], r["record"]["value"]) for r in rows]
    assert len(spans) == len(set(spans))
    assert all(text[r["char_start"] : r["char_end"]] == r["record"]["evidence"] for r in rows)
    assert {484000, 795000, 1133000, 3866} <= {r["record"]["value"] for r in rows}


def test_a_reask_refused_by_the_server_keeps_the_previous_answer_and_says_why() -> None:
    too_long = httpx.Response(400, json={"error": {"message": "Requested tokens exceed context window"}})
    server = FakeServer([completion([GOOD[0], UNGROUNDED]), lambda body: too_long])
    part = run(backend(server, max_reasks=2))
    assert part["status"] == "ok" and len(server.requests) == 2
    assert [r["record"]["value"] for r in part["records"]["QuantitativeTarget"]] == [686000]
    assert len(part["rejected"]) == 1
    assert any("a reask failed" in n and "context window" in n for n in part["usage"]["notes"])


def test_a_replay_missing_a_reask_fails_loudly(tmp_path: Path) -> None:
    recorder = FakeServer([completion([UNGROUNDED]), completion(GOOD)])
    run(backend(recorder, tmp_path))
    # drop the recorded answer to the reask: the replay must not quietly keep going
    reask_key = max((tmp_path / "cache").rglob("*.json"), key=lambda p: p.stat().st_mtime)
    reask_key.unlink()
    silent = FakeServer([])
    part = run(backend(silent, tmp_path, replay=True))
    assert silent.requests == []
    assert part["status"] == "failed" and "ReplayMiss" in part["error"]


def test_the_chunks_of_an_article_are_asked_at_once_and_merged_in_chunk_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every chunk's request is made before any answer comes back (so a Batch API run
    captures them all in one round), and the records keep chunk order although the
    first chunk answers last. A failing chunk fails the article with its own error,
    after the other chunks have ended."""
    from polex.pipeline.backends.base import Candidates
    from polex.pipeline.chunking import Chunk
    from polex.pipeline.records import ArticleContext
    from polex.pipeline.spec import SchemaSpec

    text = " ".join(f"In {year} the city created {year - 1900}000 new jobs." for year in range(1950, 2030))
    events: list[tuple[str, int]] = []
    failing: set[int] = set()

    async def answer_slowly(
        self: OpenAICompatBackend, ctx: ArticleContext, spec: SchemaSpec, piece: Chunk, out: Candidates
    ) -> None:
        events.append(("asked", piece.index))
        for _ in range(piece.count - piece.index):  # the first chunk waits longest
            await asyncio.sleep(0)
        events.append(("answered", piece.index))
        if piece.index in failing:
            raise BackendError(f"chunk {piece.index} failed")
        out.records.append(({"evidence": ctx.text[piece.start : piece.start + 10]}, piece.start))
        out.flags.append([])

    monkeypatch.setattr(OpenAICompatBackend, "_extract_chunk", answer_slowly)
    b = OpenAICompatBackend(
        LLMSettings(
            model="fake", base_url="http://fake.local/v1", mode="json", chunk_chars=1000, strategy="free"
        )
    )
    result = asyncio.run(b.extract(ArticleContext(Article("long", text)), QT))
    chunks = len(result.records)
    assert chunks >= 3
    numbers = list(range(1, chunks + 1))  # Chunk.index counts from 1
    assert events[:chunks] == [("asked", i) for i in numbers]
    assert events[chunks:] == [("answered", i) for i in reversed(numbers)]
    hints = [hint for _record, hint in result.records]
    assert hints == sorted(hints) and hints[0] == 0

    events.clear()
    failing.update({2, 3})
    with pytest.raises(BackendError, match="chunk 2 failed"):
        asyncio.run(b.extract(ArticleContext(Article("long", text)), QT))
    assert sorted(i for kind, i in events if kind == "answered") == numbers
