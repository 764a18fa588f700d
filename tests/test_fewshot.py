"""Context and examples: every chunk carries its article's context; few-shot
examples come from dev and seed gold only, chosen by similarity, never from test
nor from the article being extracted."""

from __future__ import annotations

import json

from polex.pipeline.fewshot import example_pool, similar_examples, tunable_articles
from polex.pipeline.prompting import article_context
from polex.pipeline.records import Article, ArticleContext
from polex.pipeline.registry import discover
from tests.conftest import ROOT
from tests.fake_openai import FakeServer, completion
from tests.test_llm_backend import backend, run

QT = discover()["QuantitativeTarget"]
MANIFEST = ROOT / "evals" / "corpus" / "manifest.jsonl"


def test_no_test_article_is_ever_a_source_of_examples() -> None:
    rows = [json.loads(line) for line in MANIFEST.read_text().splitlines() if line.strip()]
    test_ids = {r["id"] for r in rows if r["split"] == "test"}
    dev_ids = {r["id"] for r in rows if r["split"] == "dev"}
    sources = {article_id for article_id, _, _ in tunable_articles()}
    assert sources & test_ids == set()
    assert dev_ids & sources and any(s.startswith("00") for s in sources)  # dev and seeds
    assert {e.article_id for e in example_pool(QT)} <= sources


def test_examples_are_the_most_similar_passages_from_other_articles() -> None:
    pool = example_pool(QT)
    target = pool[len(pool) // 2]
    chosen = similar_examples(QT, target.text, k=2)
    assert chosen[0] == target and chosen[1].article_id != target.article_id
    assert target not in similar_examples(QT, target.text, k=2, exclude=target.article_id)


def test_article_context_has_title_date_and_region() -> None:
    text = (
        "Guangzhou to create 200,000 jobs\n\nGuangzhou, March 25, 2004 - The city will create 200,000 jobs."
    )
    context = article_context(ArticleContext(Article("x", text)))
    assert context == 'title "Guangzhou to create 200,000 jobs"; date March 25, 2004; region Guangzhou'


def test_every_chunk_carries_the_context_and_similar_examples() -> None:
    text = (
        "Anhui jobs report\n\n" + "In 2021, 686000 new jobs were created in cities and towns in Anhui. " * 40
    ).strip()
    server = FakeServer(lambda body: completion([]))
    run(backend(server, chunk_chars=1200, chunk_overlap=400), Article("long", text))
    assert len(server.requests) > 1
    for body in server.requests:
        system, user = body["messages"][0]["content"], body["messages"][1]["content"]
        assert '(title "Anhui jobs report"; date 2021; region Anhui)' in user
        assert user.count("Example passage:") == 2 and "Example passage:" not in system
