"""What the QuantitativeTarget rules know, offered to the learned extractor as
features: which taxonomy aliases stand in the number's clause, sentence and the
sentence before (so that rare indicators are not empty), and the kind cues."""

from __future__ import annotations

from pipeline.learning.candidates import Candidate
from pipeline.records import ArticleContext
from schemas.quantitative_target.cues import Clause, read_cues
from schemas.quantitative_target.taxonomy import alias_pattern


def _aliases(text: str, start: int, end: int) -> list[tuple[int, str]]:
    pattern, owner = alias_pattern()
    return [(match.start(), owner[match.group().lower()]) for match in pattern.finditer(text, start, end)]


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
