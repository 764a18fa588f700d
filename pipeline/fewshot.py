"""Few-shot examples for LLM prompts, chosen per chunk by similarity (TF-IDF cosine)
from the hand-labelled gold that may be tuned on: the corpus's `dev` split
(evals/corpus, by each article's `split` in manifest.jsonl) and the seeds' gold
(evals/gold with seeds/). The `test` split is never read here.

An example is one sentence of a gold article and the gold records whose evidence
lies in it, as the JSON answer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sklearn.feature_extraction.text import TfidfVectorizer

from polex.pipeline.grounding import locate
from polex.pipeline.spec import SchemaSpec
from polex.pipeline.text import containing, sentences

DEV_SPLIT = "dev"
MAX_PASSAGE_CHARS = 600


@dataclass(frozen=True)
class GoldExample:
    article_id: str
    text: str
    records: tuple[dict[str, Any], ...]

    def as_prompt(self) -> dict[str, str]:
        return {"text": self.text, "json": json.dumps({"records": list(self.records)}, ensure_ascii=False)}


def _evals_dir() -> Path:
    # resolved: in a source tree polex/evals is a link to evals/, beside seeds/
    return Path(str(resources.files("polex.evals"))).resolve()


def tunable_articles() -> list[tuple[str, Path, Path]]:
    """(id, article file, gold file) of every dev article and seed with gold."""
    corpus = _evals_dir() / "corpus"
    found: list[tuple[str, Path, Path]] = []
    manifest = corpus / "manifest.jsonl"
    if manifest.is_file():
        for line in manifest.read_text(encoding="utf-8").splitlines():
            row = json.loads(line) if line.strip() else {}
            if row.get("split") == DEV_SPLIT:
                article_id = str(row["id"])
                article, gold = (
                    corpus / "articles" / f"{article_id}.txt",
                    corpus / "gold" / f"{article_id}.json",
                )
                found.append((article_id, article, gold))
    seeds = _evals_dir().parent / "seeds"
    for gold in sorted((_evals_dir() / "gold").glob("*.json")):
        found.append((gold.stem, seeds / f"{gold.stem}.txt", gold))
    return [(i, a, g) for i, a, g in found if a.is_file() and g.is_file()]


def example_pool(spec: SchemaSpec) -> tuple[GoldExample, ...]:
    """Every sentence of a tunable article that holds gold records of ``spec``."""
    if spec.registry_name not in _POOLS:
        _POOLS[spec.registry_name] = _example_pool(spec)
    return _POOLS[spec.registry_name]


_POOLS: dict[str, tuple[GoldExample, ...]] = {}
_INDEXES: dict[str, tuple[TfidfVectorizer, Any] | None] = {}


def _example_pool(spec: SchemaSpec) -> tuple[GoldExample, ...]:
    pool: list[GoldExample] = []
    for article_id, article, gold in tunable_articles():
        text = article.read_text(encoding="utf-8")
        spans = sentences(text)
        by_sentence: dict[tuple[int, int], list[dict[str, Any]]] = {}
        for raw in json.loads(gold.read_text(encoding="utf-8")).get(spec.name, []):
            try:
                record = spec.model.model_validate(raw).model_dump(mode="json")
            except ValidationError:
                continue
            where = locate(str(record.get("evidence", "")), text)
            sentence = containing(spans, where[0]) if where else None
            if sentence is not None and sentence.end - sentence.start <= MAX_PASSAGE_CHARS:
                by_sentence.setdefault((sentence.start, sentence.end), []).append(record)
        for (start, end), records in sorted(by_sentence.items()):
            pool.append(GoldExample(article_id, text[start:end], tuple(records)))
    return tuple(pool)


def _index(spec: SchemaSpec) -> tuple[TfidfVectorizer, Any] | None:
    if spec.registry_name not in _INDEXES:
        _INDEXES[spec.registry_name] = _build_index(spec)
    return _INDEXES[spec.registry_name]


def _build_index(spec: SchemaSpec) -> tuple[TfidfVectorizer, Any] | None:
    pool = example_pool(spec)
    if not pool:
        return None
    vectorizer = TfidfVectorizer(lowercase=True, ngram_range=(1, 2), sublinear_tf=True)
    return vectorizer, vectorizer.fit_transform([e.text for e in pool])


def similar_examples(spec: SchemaSpec, text: str, k: int = 2, exclude: str = "") -> list[GoldExample]:
    """The ``k`` pool examples most similar to ``text``, from different articles and
    never from the article ``exclude`` (the one being extracted)."""
    index = _index(spec)
    if index is None or k <= 0:
        return []
    vectorizer, matrix = index
    scores = (matrix @ vectorizer.transform([text]).T).toarray().ravel()
    pool = example_pool(spec)
    chosen: list[GoldExample] = []
    for i in sorted(range(len(pool)), key=lambda i: (-scores[i], i)):
        if pool[i].article_id != exclude and all(pool[i].article_id != c.article_id for c in chosen):
            chosen.append(pool[i])
        if len(chosen) == k:
            break
    return chosen
