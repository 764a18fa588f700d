"""Reads the cues of a number's clause: is it a completion rate, a change, a goal,
a reported result? Used by the offline extractor to choose a kind and by the
grounding check to refuse a kind the clause contradicts."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from pipeline.quantities import Mention
from pipeline.text import Span, containing, segments, sentences
from schemas.quantitative_target.model import Kind
from schemas.quantitative_target.taxonomy import cues


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


@lru_cache(maxsize=4096)
def read_cues(text: str, mention: Mention, clause: Clause) -> KindCues:
    c = cues()
    before = text[max(clause.sentence.start, mention.start - 60) : mention.start]
    after = text[mention.end : min(clause.sentence.end, mention.end + 60)]
    completion = any(p.search(after) for p in c.completion_after) or any(
        p.search(before) for p in c.completion_before
    )
    change_before = next((p.search(before) for p in c.change_before if p.search(before)), None)
    change_after = next((p.search(after) for p in c.change_after if p.search(after)), None)
    change = bool(change_before or change_after)
    near = (
        (change_before.group() if change_before else "")
        + " "
        + (change_after.group() if change_after else "")
    )
    negative = change and any(p.search(near) for p in c.negative)
    # Goal and result cues: the sentence up to the number, and the number's own segment.
    scope = text[clause.sentence.start : mention.start] + " " + text[mention.start : clause.segment.end]
    target = any(p.search(scope) for p in c.target)
    actual = any(p.search(text[clause.segment.start : clause.segment.end]) for p in c.actual) or (
        not target and any(p.search(scope) for p in c.actual)
    )
    return KindCues(completion, change, negative, target, actual)
