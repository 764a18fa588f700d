"""Reads the cues of a number's clause: is it a completion rate, a change, a goal,
a reported result? Used by the offline extractor to choose a kind and by the
grounding check to refuse a kind the clause contradicts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from polex.pipeline.quantities import Mention
from polex.pipeline.text import CaselessPattern, Span, containing, lowered, segments, sentences
from polex.schemas.quantitative_target.model import Kind
from polex.schemas.quantitative_target.taxonomy import cues


@dataclass(frozen=True)
class KindCues:
    completion: bool
    change: bool
    negative: bool
    target: bool
    actual: bool

    def inferred(self) -> Kind:
        if self.completion:
            return "completion_rate"
        if self.target and not self.actual:
            return "target"
        if self.change:
            return "change"
        return "actual"


@dataclass(frozen=True)
class Clause:
    sentence: Span
    segment: Span


def clause_of(text: str, mention: Mention) -> Clause:
    sentence = containing(sentences(text), mention.start) or Span(0, len(text), text)
    segment = containing(segments(sentence, text), mention.start) or sentence
    return Clause(sentence, segment)


def _any(pattern: CaselessPattern, text: str) -> bool:
    return pattern.search(text, lowered(text)) is not None


def _first(patterns: tuple[CaselessPattern, ...], text: str) -> re.Match[str] | None:
    low = lowered(text)
    return next((found for p in patterns if (found := p.search(text, low))), None)


# The rules, the checks and the learned features ask for each number's cues: read
# once per article. Each entry holds its article's text, so the cache is kept to a
# few articles' numbers (at 4,096 it held the texts of several hundred articles).
@lru_cache(maxsize=1024)
def read_cues(text: str, mention: Mention, clause: Clause) -> KindCues:
    c = cues()
    before = text[max(clause.sentence.start, mention.start - 60) : mention.start]
    after = text[mention.end : min(clause.sentence.end, mention.end + 60)]
    completion = _any(c.completion_after, after) or _any(c.completion_before, before)
    change_before = _first(c.change_before, before)
    change_after = _first(c.change_after, after)
    change = bool(change_before or change_after)
    near = (
        (change_before.group() if change_before else "")
        + " "
        + (change_after.group() if change_after else "")
    )
    negative = change and _any(c.negative, near)
    # Goal and result cues: the sentence up to the number, and the number's own segment.
    scope = text[clause.sentence.start : mention.start] + " " + text[mention.start : clause.segment.end]
    target = _any(c.target, scope)
    actual = _any(c.actual, text[clause.segment.start : clause.segment.end]) or (
        not target and _any(c.actual, scope)
    )
    return KindCues(completion, change, negative, target, actual)
