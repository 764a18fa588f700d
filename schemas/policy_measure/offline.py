"""The offline extractor of PolicyMeasure: sentences with an action verb are
classified by the category cues of categories.toml; target groups by group cues."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from polex.pipeline.records import ArticleContext
from polex.pipeline.text import CaselessPattern, lowered, sentences
from polex.schemas.policy_measure.model import PolicyMeasure

CATEGORIES_FILE = Path(__file__).with_name("categories.toml")
_MAX_DESCRIPTION_WORDS = 15
_MIN_WORDS = 5


@dataclass(frozen=True)
class Rules:
    actions: CaselessPattern  # any action verb, one pattern
    # (name, any of its cues in one pattern, each cue) per category
    categories: tuple[tuple[str, CaselessPattern, tuple[CaselessPattern, ...]], ...]
    groups: tuple[tuple[str, tuple[CaselessPattern, ...]], ...]


@lru_cache(maxsize=1)
def rules() -> Rules:
    raw: dict[str, Any] = tomllib.loads(CATEGORIES_FILE.read_text("utf-8"))

    def compile_all(patterns: list[str]) -> tuple[CaselessPattern, ...]:
        return tuple(CaselessPattern.compile(p) for p in patterns)

    return Rules(
        actions=CaselessPattern.any_of(raw["actions"]["verbs"]),
        categories=tuple(
            (name, CaselessPattern.any_of(e["cues"]), compile_all(e["cues"]))
            for name, e in raw["categories"].items()
        ),
        groups=tuple((name, compile_all(cues)) for name, cues in raw["groups"].items()),
    )


def classify(sentence: str) -> str | None:
    """The category with the most cue hits, or None if the sentence is no measure."""
    r = rules()
    low = lowered(sentence)
    if not r.actions.search(sentence, low):
        return None
    best: tuple[int, str] | None = None
    for name, any_cue, cues in r.categories:
        if not any_cue.search(sentence, low):
            continue
        hits = sum(1 for p in cues if p.search(sentence, low))
        if hits and (best is None or hits > best[0]):
            best = (hits, name)
    return best[1] if best else None


def target_groups(sentence: str) -> list[str]:
    low = lowered(sentence)
    found = [name for name, cues in rules().groups if any(p.search(sentence, low) for p in cues)]
    return found or ["general"]


def describe(sentence: str) -> str:
    words = sentence.split()
    short = " ".join(words[:_MAX_DESCRIPTION_WORDS])
    return short + ("..." if len(words) > _MAX_DESCRIPTION_WORDS else "")


def extract(ctx: ArticleContext) -> list[tuple[PolicyMeasure, int]]:
    records: list[tuple[PolicyMeasure, int]] = []
    for sentence in sentences(ctx.text):
        if len(sentence.text.split()) < _MIN_WORDS:
            continue
        category = classify(sentence.text)
        if category is None:
            continue
        record = PolicyMeasure(
            evidence=sentence.text,
            category=category,  # type: ignore[arg-type]
            description=describe(sentence.text),
            target_groups=target_groups(sentence.text),  # type: ignore[arg-type]
        )
        records.append((record, sentence.start))
    return records
