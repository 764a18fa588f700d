"""Sentence and clause boundaries, with offsets. Translated articles run sentences
together ("...annual plan.The registered..."), so a full stop ends a sentence even
without a following space, unless it sits between two digits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# Abbreviations that end in a full stop but not a sentence ("Co., Ltd. has ...").
_NOT_AN_END = r"(?<!\bCo)(?<!\bLtd)(?<!\bLTD)(?<!\bInc)(?<!\bNo)(?<!\bMr)(?<!\bDr)(?<!\bSt)(?<!\bvs)"
_SENTENCE_END = re.compile(rf"{_NOT_AN_END}(?<!\d)[.!?。！？](?!\d)|(?<=\d)[.](?!\d)|[;；]|\n+|……")
_SEGMENT_END = re.compile(r"[,，:：]\s|[,，](?=\D)|\s[-–—]\s")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


def _split(text: str, pattern: re.Pattern[str], start: int = 0, end: int | None = None) -> list[Span]:
    end = len(text) if end is None else end
    spans: list[Span] = []
    cursor = start
    for match in pattern.finditer(text, start, end):
        if match.start() > cursor:
            spans.append(_trim(text, cursor, match.start()))
        cursor = match.end()
    if cursor < end:
        spans.append(_trim(text, cursor, end))
    return [s for s in spans if s.text]


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and (text[start].isspace() or text[start] in '”"’'):
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end, text[start:end])


# Longest sentence kept whole (the longest in the corpus is about 800 characters).
# An unpunctuated run beyond it is cut at commas or spaces, so the work done per
# number stays bounded and an article's time grows linearly with its length.
MAX_SENTENCE_CHARS = 1200


@lru_cache(maxsize=8)
def _sentences(text: str) -> tuple[Span, ...]:
    pieces: list[Span] = []
    for span in _split(text, _SENTENCE_END):
        pieces.extend(_bounded(text, span) if span.end - span.start > MAX_SENTENCE_CHARS else [span])
    return tuple(pieces)


def _bounded(text: str, span: Span) -> list[Span]:
    """``span`` cut into pieces of at most MAX_SENTENCE_CHARS, at the last comma (else
    the last space) inside each window."""
    pieces: list[Span] = []
    start = span.start
    while span.end - start > MAX_SENTENCE_CHARS:
        window = text[start : start + MAX_SENTENCE_CHARS]
        cut = max(window.rfind(", "), window.rfind("，"))
        if cut <= 0:
            cut = window.rfind(" ")
        end = start + (cut + 1 if cut > 0 else MAX_SENTENCE_CHARS)
        pieces.append(_trim(text, start, end))
        start = end
    pieces.append(_trim(text, start, span.end))
    return [p for p in pieces if p.text]


def sentences(text: str) -> list[Span]:
    """Sentences and semicolon clauses of ``text``."""
    return list(_sentences(text))


def previous_sentence(text: str, sentence: Span) -> Span | None:
    """The sentence before ``sentence`` in the same paragraph, if any."""
    earlier = [s for s in _sentences(text) if s.end <= sentence.start]
    if not earlier or "\n" in text[earlier[-1].end : sentence.start]:
        return None
    return earlier[-1]


def segments(sentence: Span, text: str) -> list[Span]:
    """The comma-separated pieces of one sentence."""
    return _split(text, _SEGMENT_END, sentence.start, sentence.end)


def containing(spans: list[Span] | tuple[Span, ...], pos: int) -> Span | None:
    for span in spans:
        if span.start <= pos < span.end:
            return span
    return None
