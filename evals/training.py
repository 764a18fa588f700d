"""The gold a model may learn from: the seeds and the corpus's `dev` split, never
`test`. Shared by `polex train` and the learning-curve script."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from polex.evals.corpus import CORPUS_DIR, MANIFEST_NAME, CorpusEntry, CorpusError, split_rank, splits
from polex.evals.loading import load_gold
from polex.pipeline.inputs import decode
from polex.pipeline.learning.train import GoldArticle
from polex.pipeline.records import Article

ROOT = Path(__file__).resolve().parents[1]
SEED_GOLD = ROOT / "evals" / "gold"
SEED_ARTICLES = ROOT / "seeds"
TRAINABLE_SPLITS = ("dev", "seed")


@dataclass(frozen=True)
class GoldSource:
    gold: Path
    articles: Path
    manifest: Path | None  # None: every article is a seed


DEFAULT_SOURCES = (
    GoldSource(SEED_GOLD, SEED_ARTICLES, None),
    GoldSource(CORPUS_DIR / "gold", CORPUS_DIR / "articles", CORPUS_DIR / MANIFEST_NAME),
)


def training_articles(
    schema: str, sources: tuple[GoldSource, ...] = DEFAULT_SOURCES, limit: int | None = None
) -> list[GoldArticle]:
    """Gold articles of the trainable splits, in a fixed order (seeds first, then
    dev by salted hash), the first ``limit`` of them when given. An article whose
    split is `test` (or unknown) is never returned, and neither is any article the
    corpus manifest does not list as dev, whatever folder its gold sits in (a copy
    of the corpus gold elsewhere cannot smuggle test articles in)."""
    corpus = CORPUS_DIR / MANIFEST_NAME
    corpus_splits = splits(corpus) if corpus.is_file() else {}
    found: list[tuple[int, str, GoldArticle]] = []
    for source in sources:
        if not source.gold.is_dir() or not any(source.gold.glob("*.json")):
            continue
        split_of = splits(source.manifest) if source.manifest is not None else None
        for article_id, data in load_gold(source.gold).items():
            split = (
                "seed"
                if split_of is None
                else (split_of[article_id].split if article_id in split_of else None)
            )
            if article_id in corpus_splits and corpus_splits[article_id].split != "dev":
                split = corpus_splits[article_id].split
            if split not in TRAINABLE_SPLITS:
                continue
            path = source.articles / f"{article_id}.txt"
            if not path.is_file():
                raise CorpusError(f"gold {data['_file']} has no article {path}")
            text = decode(path.read_bytes())[0]
            records = data.get(schema, [])
            order = 0 if split == "seed" else 1
            article = GoldArticle(Article(article_id, text), records, rules_tuned_on=split == "seed")
            found.append((order, split_rank(article_id), article))
    found.sort(key=lambda item: (item[0], item[1]))
    articles = [item[2] for item in found]
    return articles[:limit] if limit is not None else articles


FoldsBy = Literal["hash", "batch"]


def dev_folds(entries: list[CorpusEntry], folds: int, by: FoldsBy = "hash") -> list[list[str]]:
    """The dev articles of ``entries`` cut into cross-validation folds of ids: by
    salted hash into ``folds`` folds, or one fold per ``batch`` (leave one batch
    out: a batch's articles were collected and labelled together, so a fold of
    another batch's wording is a harder, more honest held-out set)."""
    dev = sorted((e for e in entries if e.split == "dev"), key=lambda e: split_rank(e.id))
    if by == "batch":
        batches = sorted({e.batch for e in dev})
        return [[e.id for e in dev if e.batch == batch] for batch in batches]
    ids = [e.id for e in dev]
    return [ids[k::folds] for k in range(folds)]
