"""What a learned extractor decides about: a number of interest, or a sentence."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from polex.pipeline.quantities import Mention
from polex.pipeline.records import ArticleContext
from polex.pipeline.text import Span, containing, segments, sentences


@dataclass(frozen=True)
class Candidate:
    """One thing a record may be made of. ``mention`` is set for number candidates;
    ``segment`` is the clause that is the record's default evidence."""

    start: int
    end: int
    sentence: Span
    segment: Span
    previous: Span | None
    mention: Mention | None = None


def _previous(text: str, spans: list[Span], index: int) -> Span | None:
    """The sentence before spans[index] in the same paragraph (linear, unlike a scan)."""
    if index <= 0 or "\n" in text[spans[index - 1].end : spans[index].start]:
        return None
    return spans[index - 1]


def mention_candidates(ctx: ArticleContext) -> list[Candidate]:
    text = ctx.text
    all_sentences = sentences(text)
    starts = [s.start for s in all_sentences]
    found: list[Candidate] = []
    pieces: dict[int, list[Span]] = {}  # sentence start -> its segments, computed once
    for mention in ctx.mentions:
        if not mention.of_interest:
            continue
        index = bisect.bisect_right(starts, mention.start) - 1
        if index >= 0 and all_sentences[index].start <= mention.start < all_sentences[index].end:
            sentence, previous = all_sentences[index], _previous(text, all_sentences, index)
        else:
            sentence, previous = Span(0, len(text), text), None
        if sentence.start not in pieces:
            pieces[sentence.start] = segments(sentence, text)
        segment = containing(pieces[sentence.start], mention.start) or sentence
        found.append(Candidate(mention.start, mention.end, sentence, segment, previous, mention))
    return found


MIN_SENTENCE_CHARS = 25


def sentence_candidates(ctx: ArticleContext) -> list[Candidate]:
    text = ctx.text
    found: list[Candidate] = []
    all_sentences = sentences(text)
    for index, sentence in enumerate(all_sentences):
        if len(sentence.text) < MIN_SENTENCE_CHARS:
            continue
        previous = _previous(text, all_sentences, index)
        found.append(Candidate(sentence.start, sentence.end, sentence, sentence, previous))
    return found
