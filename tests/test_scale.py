"""What keeps an article's cost from growing with the articles before it in a run:
nothing of an article outlives it, and the caches the extraction keeps across
articles stop growing. No test here measures time: the cost per article at growing
sizes is measured in benchmarks/bench_scale.py and benchmarks/bench_drift.py."""

from __future__ import annotations

import asyncio
import gc
import sys
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from polex.pipeline.backends.offline import OfflineBackend
from polex.pipeline.records import Article, ArticleContext
from polex.pipeline.registry import discover
from polex.pipeline.runner import process_article
from tests.conftest import SEEDS


def _articles(count: int, start: int = 0) -> Iterator[Article]:
    """``count`` distinct articles: the seeds in turn, each copy with a line of its own."""
    texts = [p.read_text("utf-8") for p in sorted(SEEDS.glob("*.txt"))]
    for i in range(start, start + count):
        yield Article(f"copy-{i}", texts[i % len(texts)] + f"\n(Copy {i} of the seeds.)\n")


def _polex_caches() -> dict[str, Any]:
    """Every functools cache defined in polex's modules: its name -> the cached function."""
    found: dict[str, Any] = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith("polex.") or module is None:
            continue
        for attribute, value in vars(module).items():
            if hasattr(value, "cache_info") and getattr(value, "__module__", None) == name:
                found[f"{name}.{attribute}"] = value
    return found


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    yield
    gc.enable()


def test_an_article_context_and_its_memo_are_freed_by_reference_counting_when_extracted() -> None:
    # with the cyclic collector off, only reference counting frees: a context kept
    # by a cache, or in a reference cycle, would stay alive (and the heap the
    # collector walks would grow with every article of a run)
    specs = list(discover().values())
    backend = OfflineBackend()
    for warm_up in _articles(1, start=100):  # what every article shares is built once
        asyncio.run(process_article(warm_up, specs, backend))
    article = next(_articles(1))
    ctx = ArticleContext(article)
    gc.disable()
    for spec in specs:
        asyncio.run(backend.extract(ctx, spec))
    assert ctx.shared("mention_candidates", list), "the schemas that read numbers filled the memo"
    held: list[weakref.ref[Any]] = [weakref.ref(ctx), weakref.ref(ctx.article)]
    del ctx, article
    assert [ref() for ref in held] == [None, None]


def test_the_unbounded_caches_of_the_extraction_stop_growing_after_the_first_articles() -> None:
    # a cache without a size limit is keyed by what a run has few of (schemas,
    # models, fields); one keyed by an article (its text, a number, a sentence)
    # would grow with every article and must have a maxsize
    specs = list(discover().values())
    backend = OfflineBackend()
    for article in _articles(5):
        asyncio.run(process_article(article, specs, backend))
    unbounded = {name: f for name, f in _polex_caches().items() if f.cache_info().maxsize is None}
    assert unbounded, "the extraction keeps some caches without a size limit (per schema and field)"
    sizes = {name: f.cache_info().currsize for name, f in unbounded.items()}
    for article in _articles(5, start=5):
        asyncio.run(process_article(article, specs, backend))
    assert {name: f.cache_info().currsize for name, f in unbounded.items()} == sizes
    bounded = {name: f.cache_info() for name, f in _polex_caches().items() if f.cache_info().maxsize}
    assert all(info.currsize <= info.maxsize for info in bounded.values())
