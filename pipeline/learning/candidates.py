"""What a learned extractor decides about: a number of interest, or a sentence."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache

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


# A line break inside a sentence: not after an end of sentence or clause, and
# followed by a lower-case word (hard-wrapped text: "within 2.5\npercent in 2006").
_WRAPPED_LINE_BREAK = re.compile(r"(?<![.!?。！？;；:：])\n+(?=[a-z])")


@lru_cache(maxsize=16)
def unwrapped(text: str) -> str:
    """``text`` with the line breaks inside sentences turned into spaces. The same
    length, so every offset into it is an offset into ``text``: the sentences,
    clauses and paragraphs of number candidates are read from it, evidence is cut
    from ``text``. (Sentence candidates keep the lines: on dev, whole wrapped
    sentences made the PolicyMeasure keep classifier keep too many.)"""
    return _WRAPPED_LINE_BREAK.sub(lambda m: " " * len(m.group()), text)


def _previous(text: str, spans: list[Span], index: int) -> Span | None:
    """The sentence before spans[index] in the same paragraph (linear, unlike a scan)."""
    if index <= 0 or "\n" in text[spans[index - 1].end : spans[index].start]:
        return None
    return spans[index - 1]


def mention_candidates(ctx: ArticleContext) -> list[Candidate]:
    """The numbers of interest of an article as candidates, found once per article:
    every schema with a quantity field asks for the same candidates (and so can
    share their features). Callers must not change the list."""
    return ctx.shared("mention_candidates", lambda: _mention_candidates(ctx))


def _mention_candidates(ctx: ArticleContext) -> list[Candidate]:
    text = unwrapped(ctx.text)
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
