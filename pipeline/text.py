"""Sentence and clause boundaries, with offsets. Translated articles run sentences
together ("...annual plan.The registered..."), so a full stop ends a sentence even
without a following space, unless it sits between two digits."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import cached_property, lru_cache

# Abbreviations that end in a full stop but not a sentence ("Co., Ltd. has ...").
_NOT_AN_END = r"(?<!\bCo)(?<!\bLtd)(?<!\bLTD)(?<!\bInc)(?<!\bNo)(?<!\bMr)(?<!\bDr)(?<!\bSt)(?<!\bvs)"
# The look-ahead names every character an end can start with, so that the look-behinds
# run only there, not at every character of the text.
_SENTENCE_END = re.compile(
    rf"(?=[.!?。！？;；\n…])(?:{_NOT_AN_END}(?<!\d)[.!?。！？](?!\d)|(?<=\d)[.](?!\d)|[;；]|\n+|……)"
)
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
    return list(_segments(sentence, text))


@lru_cache(maxsize=1024)
def _segments(sentence: Span, text: str) -> tuple[Span, ...]:
    """Read once per sentence of an article: the extractors ask for every number in it."""
    return tuple(_split(text, _SEGMENT_END, sentence.start, sentence.end))


def containing(spans: list[Span] | tuple[Span, ...], pos: int) -> Span | None:
    for span in spans:
        if span.start <= pos < span.end:
            return span
    return None


# Case-insensitive matching, fast. Python's re searches a case-insensitive pattern
# several times slower than a case-sensitive one, and a lower-case pattern finds in
# a lower-cased text exactly the spans IGNORECASE finds in the text, except around
# three characters: IGNORECASE equates "İ", "ı" and "ſ" with "i" and "s" although
# their lower case is not that letter ("İ" lower-cases to two characters).
_CASE_TRAPS = re.compile("[\u0130\u0131\u017f]")
# Escapes that mean the same in either case of the text (\b, \w, \s, \d and their
# negations) and escaped punctuation; any other escape (\x41, \N{...}) could name a letter.
_SAFE_ESCAPE = re.compile(r"\\(?:[bBwWsSdD]|[^A-Za-z0-9])")


def lowered(text: str) -> str | None:
    """``text`` lower-cased for ``CaselessPattern``, or None when one of its characters
    makes lower-casing differ from case-insensitive matching."""
    return None if _CASE_TRAPS.search(text) else text.lower()


@lru_cache(maxsize=8)
def lowered_article(text: str) -> str | None:
    """``lowered`` of a whole article, computed once (several extractors ask)."""
    return lowered(text)


@dataclass(frozen=True)
class CaselessPattern:
    """A case-insensitive regular expression that finds the same spans as
    ``re.compile(pattern, re.IGNORECASE)``: written in lower case, it matches the
    lower-cased text case-sensitively (``fast``); a pattern with an upper-case letter
    or a text ``lowered`` refuses uses IGNORECASE (``slow``, compiled when first
    needed: most patterns never are, and compiling costs start-up time). Groups of a
    fast match are in lower case."""

    pattern: str
    fast: re.Pattern[str] | None

    @cached_property
    def slow(self) -> re.Pattern[str]:
        return re.compile(self.pattern, re.IGNORECASE)

    @classmethod
    def compile(cls, pattern: str) -> CaselessPattern:
        unescaped = _SAFE_ESCAPE.sub("", pattern)
        # ASCII letters in lower case; any other character without case ("–", "。"):
        # IGNORECASE gives a cased one like "µ" or "ſ" equivalents lower-casing does not
        lower_case = "\\" not in unescaped and all(
            ("a" <= ch <= "z")
            if ch.isascii() and ch.isalpha()
            else (ch.isascii() or ch.lower() == ch.upper())
            for ch in unescaped
        )
        if not lower_case:
            compiled = cls(pattern, None)
            _ = compiled.slow  # a pattern only IGNORECASE can match is needed at once
            return compiled
        return cls(pattern, re.compile(pattern))

    @classmethod
    def any_of(cls, patterns: list[str] | tuple[str, ...]) -> CaselessPattern:
        """One pattern that matches where any of ``patterns`` does (none: nowhere)."""
        return cls.compile("|".join(f"(?:{p})" for p in patterns) or r"(?!x)x")

    # search and finditer pick the pattern themselves (no helper call): the rules
    # search a few thousand times per article
    def search(
        self, text: str, low: str | None, pos: int = 0, endpos: int = sys.maxsize
    ) -> re.Match[str] | None:
        """Search ``text``; ``low`` is ``lowered(text)``."""
        fast = self.fast
        if fast is None or low is None:
            return self.slow.search(text, pos, endpos)
        return fast.search(low, pos, endpos)

    def finditer(
        self, text: str, low: str | None, pos: int = 0, endpos: int = sys.maxsize
    ) -> list[re.Match[str]]:
        fast = self.fast
        if fast is None or low is None:
            return list(self.slow.finditer(text, pos, endpos))
        return list(fast.finditer(low, pos, endpos))
