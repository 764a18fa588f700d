"""What the QuantitativeTarget rules know, offered to the learned extractor as
features: which taxonomy aliases stand in the number's clause, sentence and the
sentence before (so that rare indicators are not empty), and the kind cues."""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from typing import Any

from polex.pipeline.learning.candidates import Candidate
from polex.pipeline.learning.lexicon import Lexicon, build_lexicon
from polex.pipeline.records import ArticleContext
from polex.pipeline.text import lowered_article
from polex.schemas.quantitative_target.cues import Clause, read_cues
from polex.schemas.quantitative_target.taxonomy import CUES_FILE, alias_pattern, indicators


@lru_cache(maxsize=16)
def _article_aliases(text: str) -> tuple[tuple[int, int, str], ...]:
    """Every taxonomy alias of an article, found once: (start, end, indicator)."""
    pattern, owner = alias_pattern()
    found = pattern.finditer(text, lowered_article(text))
    return tuple((m.start(), m.end(), owner[m.group().lower()]) for m in found)


def _aliases(text: str, start: int, end: int) -> list[tuple[int, str]]:
    return [(s, indicator) for s, e, indicator in _article_aliases(text) if start <= s and e <= end]


def features(ctx: ArticleContext, candidate: Candidate) -> dict[str, float]:
    mention = candidate.mention
    if mention is None:
        return {}
    text = ctx.text
    out: dict[str, float] = {}
    segment = _aliases(text, candidate.segment.start, candidate.segment.end)
    for _, indicator in segment:
        out[f"alias_clause={indicator}"] = 1.0
    if segment:
        nearest = min(segment, key=lambda item: abs(item[0] - mention.start))[1]
        out[f"alias_nearest={nearest}"] = 1.0
    for _, indicator in _aliases(text, candidate.sentence.start, candidate.sentence.end):
        out[f"alias_sentence={indicator}"] = 1.0
    if candidate.previous is not None:
        for _, indicator in _aliases(text, candidate.previous.start, candidate.previous.end):
            out[f"alias_previous={indicator}"] = 1.0
    cues = read_cues(text, mention, Clause(candidate.sentence, candidate.segment))
    for name in ("completion", "change", "negative", "target", "actual"):
        if getattr(cues, name):
            out[f"cue={name}"] = 1.0
    out[f"cue_kind={cues.inferred()}"] = 1.0
    return out


@lru_cache(maxsize=1)
def lexicon() -> dict[str, Lexicon]:
    """The taxonomy as a label lexicon: each indicator's aliases and label words."""
    table = indicators()
    entries = {i.id: tuple(re.escape(a.lower()) for a in i.aliases) for i in table.values()}
    labels = {i.id: re.sub(r"\(.*?\)", "", i.label) for i in table.values()}
    raw: dict[str, Any] = tomllib.loads(CUES_FILE.read_text("utf-8"))
    kinds = {
        "target": tuple(raw["target"]["clause"]),
        "actual": tuple(raw["actual"]["clause"]),
        "change": tuple(raw["lexicon"]["change"]),
        "completion_rate": tuple(raw["lexicon"]["completion_rate"]),
    }
    return {
        "indicator": build_lexicon("indicator", entries, labels),
        "kind": build_lexicon("kind", kinds, {k: k.replace("_", " ") for k in kinds}),
    }
