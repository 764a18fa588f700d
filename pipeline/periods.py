"""Periods of figures from temporal phrases: "From January to November this year",
"By the end of December 2021", "in 2020", "the 14th Five-Year Plan". Output format:
"2020", "2021-01/2021-11", "2021/2025". A period the text does not fix is None."""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache
from itertools import pairwise
from typing import Any

from polex.pipeline.quantities import find_mentions
from polex.pipeline.text import MAX_SENTENCE_CHARS, CaselessPattern, lowered

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ]
    )
}
_MONTH = r"(january|february|march|april|may|june|july|august|september|october|november|december)"
_YEAR = r"((?:19|20)\d{2})"
_YEAR_REF = rf"(?:{_YEAR}|(this year)|(last year))"
_FIVE_YEAR_PLANS = {
    "13th": "2016/2020",
    "xiii": "2016/2020",
    "14th": "2021/2025",
    "xiv": "2021/2025",
    "15th": "2026/2030",
    "xv": "2026/2030",
}

# Case-insensitive, written in lower case (see CaselessPattern).
_PATTERNS: list[tuple[str, CaselessPattern]] = [
    ("months", CaselessPattern.compile(rf"\bfrom {_MONTH} to {_MONTH}(?:,? {_YEAR_REF})?")),
    ("months", CaselessPattern.compile(rf"\b{_MONTH}\s*(?:-|–|to)\s*{_MONTH}(?:,? {_YEAR_REF})?")),
    ("plan", CaselessPattern.compile(r"\b(13th|14th|15th|xiii|xiv|xv)\b[^.;]{0,12}?five[- ]year\b")),
    ("year", CaselessPattern.compile(rf"\b(?:by )?the end of (?:{_MONTH} )?{_YEAR}")),
    ("year", CaselessPattern.compile(rf"\b(?:in|during|for|of|since) {_YEAR}\b")),
    ("year", CaselessPattern.compile(rf"\b{_YEAR}\b")),
    ("this", CaselessPattern.compile(r"\b(this year|last year)\b")),
]


def article_year(text: str, metadata: dict[str, Any] | None = None) -> int | None:
    """The year "this year" means: a year in the metadata, else the only year the
    article names at all. Two different years leave it open."""
    for key in ("year", "date", "published", "published_at"):
        value = (metadata or {}).get(key)
        if value:
            found = re.search(_YEAR, str(value))
            if found:
                return int(found.group(1))
    years = _years_named(text)
    return next(iter(years)) if len(years) == 1 else None


@lru_cache(maxsize=64)
def _years_named(text: str) -> frozenset[int]:
    """Every year an article names (read once per text: several extractors ask)."""
    return frozenset(
        int(m.text[:4]) for m in find_mentions(text) if m.role in ("year", "date") and len(m.text) >= 4
    )


def _year_of(groups: tuple[str | None, ...], year: int | None) -> int | None:
    explicit, this, last = groups
    if explicit:
        return int(explicit)
    if this:
        return year
    if last and year:
        return year - 1
    return None


def period_of_passage(text: str, start: int, year: int | None) -> str | None:
    """The period a passage fixes for a sentence that fixes none itself: the last
    period named earlier in the same paragraph ("In 2021, the province ... A total
    of 1.697 million people ..." are both 2021)."""
    paragraph_start = text.rfind("\n", 0, start) + 1
    cuts, found_by_cut = _passage_periods(text, paragraph_start, year)
    index = bisect_right(cuts, start) - 1  # the last sentence start at or before ``start``
    # the sentence ``start`` is in, up to ``start`` (bounded: an unpunctuated run is long)
    return period_at(text, max(cuts[index], start - MAX_SENTENCE_CHARS), start, year) or found_by_cut[index]


_PASSAGE_SENTENCE_END = re.compile(r"(?<=[.;!?。])\s*")


@lru_cache(maxsize=256)
def _passage_periods(text: str, paragraph_start: int, year: int | None) -> tuple[list[int], list[str | None]]:
    """Sentence starts of the paragraph and, for each, the last period named in the
    whole sentences before it: read once per paragraph, so the fallback costs the
    same for every number whatever the paragraph's length."""
    paragraph_end = text.find("\n", paragraph_start)
    paragraph_end = len(text) if paragraph_end < 0 else paragraph_end
    ends = _PASSAGE_SENTENCE_END.finditer(text, paragraph_start, paragraph_end)
    cuts = [paragraph_start, *sorted({m.end() for m in ends} - {paragraph_start})]
    found: list[str | None] = [None]
    for begin, end in pairwise(cuts):
        found.append(period_at(text, begin, end, year) or found[-1])
    return cuts, found


@lru_cache(maxsize=1024)
def period_at(text: str, start: int, end: int, year: int | None) -> str | None:
    """``period_in(text[start:end], year)``, read once per passage of an article: the
    extractors ask again for a clause or sentence for every number in it."""
    return period_in(text[start:end], year)


def period_in(fragment: str, year: int | None) -> str | None:
    """The period a fragment of text fixes, or None."""
    low = lowered(fragment)
    for kind, pattern in _PATTERNS:
        match = pattern.search(fragment, low)
        if not match:
            continue
        g = match.groups()
        if kind == "months":
            y = _year_of(g[2:5], year)
            if y is None:
                return None
            first, last = _MONTHS[g[0].lower()], _MONTHS[g[1].lower()]
            return f"{y}-{first:02d}/{y}-{last:02d}"
        if kind == "plan":
            return _FIVE_YEAR_PLANS[g[0].lower()]
        if kind == "year":
            return g[-1]
        if kind == "this":
            y = year if g[0].lower() == "this year" else (year - 1 if year else None)
            return str(y) if y else None
    return None
