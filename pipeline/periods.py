"""Periods of figures from temporal phrases: "From January to November this year",
"By the end of December 2021", "in 2020", "the 14th Five-Year Plan". Output format:
"2020", "2021-01/2021-11", "2021/2025". A period the text does not fix is None."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
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
_YEAR_REF = rf"(?:{_YEAR}|(this year|the year)|(last year))"
_COUNT = {
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
}
_FIRST_MONTHS = r"(two|three|four|five|six|seven|eight|nine|ten|eleven|[2-9]|1[01])"
_FIVE_YEAR_PLANS = {
    "10th": "2001/2005",
    "tenth": "2001/2005",
    "11th": "2006/2010",
    "eleventh": "2006/2010",
    "xi": "2006/2010",
    "12th": "2011/2015",
    "twelfth": "2011/2015",
    "xii": "2011/2015",
    "13th": "2016/2020",
    "thirteenth": "2016/2020",
    "xiii": "2016/2020",
    "14th": "2021/2025",
    "fourteenth": "2021/2025",
    "xiv": "2021/2025",
    "15th": "2026/2030",
    "fifteenth": "2026/2030",
    "xv": "2026/2030",
}
# A four-digit number followed by what it counts is a figure, not a year ("created
# 2000 new jobs", "2010 people", "2020 yuan").
_COUNTED = (
    r"\s*(?:%|percent|new\b|more\b|people|persons?\b|jobs?\b|posts?\b|workers?\b|yuan|households?"
    r"|enterprises?|companies|graduates?|labou?rers?|positions?|places?|times\b|thousand|million)"
)
_PLAN_NAMES = "|".join(sorted(_FIVE_YEAR_PLANS, key=len, reverse=True))

# Case-insensitive, written in lower case (see CaselessPattern). In order of
# precedence within a fragment: a month range beats a plan, a plan its years.
_PATTERNS: list[tuple[str, CaselessPattern]] = [
    (
        "dated",
        CaselessPattern.compile(
            rf"\bfrom (?:the end of )?{_MONTH}(?: \d{{1,2}})?,? {_YEAR}"
            rf" to (?:the end of )?{_MONTH}(?: \d{{1,2}})?,? {_YEAR}"
        ),
    ),
    ("months", CaselessPattern.compile(rf"\bfrom {_MONTH} to {_MONTH}(?:,? {_YEAR_REF})?")),
    ("months", CaselessPattern.compile(rf"\b{_MONTH}\s*(?:-|–|to)\s*{_MONTH}(?:,? {_YEAR_REF})?")),
    # a translation of "1-11月", the year to date: "1-11 months", "from 1 to 11 months
    # of 2020", "1~6 month" (not a duration: "for 3-6 months", "for 1-3 months")
    (
        "numbered",
        CaselessPattern.compile(
            rf"(?<!for )\b(?:from )?1\s*(?:-|–|~|to)\s*(1[0-2]|[2-9])\s*months?\b(?: of {_YEAR_REF})?"
        ),
    ),
    ("first", CaselessPattern.compile(rf"\bfirst {_FIRST_MONTHS} months(?: of {_YEAR_REF})?")),
    ("quarters", CaselessPattern.compile(rf"\bfirst (three )?quarters?(?: of {_YEAR_REF})?")),
    (
        "quarter",
        CaselessPattern.compile(
            rf"\b(?:(?:the )?(second|third|fourth) quarter|q([1-4]))\b(?:,? (?:of )?{_YEAR_REF})?"
        ),
    ),
    ("half", CaselessPattern.compile(rf"\bfirst half(?: of {_YEAR_REF}| year)?")),
    ("plan", CaselessPattern.compile(rf"\b({_PLAN_NAMES})\b[^.;]{{0,12}}?five[- ]year\b")),
    (
        "span",
        CaselessPattern.compile(
            rf"\b{_YEAR}\s*(?:-|–|to)\s*((?:19|20)?\d{{2}})\b(?![-–/:]?\d)(?!{_COUNTED})"
        ),
    ),
    # "at the end of June 2019", "by the end of June 2019": 2019-06 (rule 102); by
    # the end of December a figure is the whole year's ("By the end of December
    # 2021, 484,000 new urban jobs": 2021)
    (
        "month",
        CaselessPattern.compile(rf"\b(?:in|at the end of|the end of(?! december\b)) {_MONTH},? {_YEAR}\b"),
    ),
    ("year", CaselessPattern.compile(rf"\b(?:by |before )?the end of (?:{_MONTH} )?{_YEAR}")),
    ("year", CaselessPattern.compile(rf"\b(?:in|during|for|of|since|by|before) {_YEAR}\b")),
    ("year", CaselessPattern.compile(rf"\b{_YEAR}\b(?!{_COUNTED})")),
    ("this", CaselessPattern.compile(r"\b(this year|last year|the past year)\b")),
]
# Matches where any of _PATTERNS does: most fragments name no time, and one scan
# says so where eleven would.
_ANY_PATTERN = CaselessPattern.any_of([pattern.pattern for _, pattern in _PATTERNS])
# A year a figure is compared with is not the figure's period ("higher than during
# the same period in 2019", "up 0.01 point over that in 2002", "from 2012 figures").
_COMPARED_BEFORE = re.compile(
    r"\b(?:than|over that|compared (?:with|to)|same (?:period|level|time)|versus|over|as in)\b"
    r"[^.;,\d]{0,25}(?:(?:19|20)\d{2}\s*(?:and|or|,)\s*)?$"
    r"|\b(?:points?|percent|%)\s+from\s+(?:the end of\s+)?$",
    re.IGNORECASE,
)
_COMPARED_AFTER = re.compile(r"^\s*(?:figures?|levels?)\b", re.IGNORECASE)


def article_year(text: str, metadata: dict[str, Any] | None = None) -> int | None:
    """The year "this year" means: a year in the metadata, else the only year the
    article names at all, publication dates and years of comparison left out (rules
    21a, 46). Two different years leave it open."""
    given = metadata_year(metadata)
    if given is not None:
        return given
    years = _years_named(text)
    return next(iter(years)) if len(years) == 1 else None


def metadata_year(metadata: dict[str, Any] | None) -> int | None:
    """A year in an article's metadata (year, date, published, published_at)."""
    for key in ("year", "date", "published", "published_at"):
        value = (metadata or {}).get(key)
        if value:
            found = re.search(_YEAR, str(value))
            if found:
                return int(found.group(1))
    return None


@lru_cache(maxsize=64)
def _years_named(text: str) -> frozenset[int]:
    """Every year an article names as the time of its figures (read once per text:
    several extractors ask): not a date of publication, a credit or a time stamp
    ("Updated: 2024-02-06", "( People's Daily 08/08/2001)"), nor a year a figure is
    compared with ("9 percentage points from 2011"), nor a graduate cohort's year ("the
    class of 2023" fixes its cohort's figures, not the article's year: rule 86)."""
    dated = publication_dates(text)
    return frozenset(
        int(m.text[:4])
        for m in find_mentions(text)
        if m.role in ("year", "date")
        and len(m.text) >= 4
        and not any(start <= m.start < end for start, end in dated)
        and not _COMPARED_BEFORE.search(text[max(0, m.start - 40) : m.start])
        and not _COHORT_BEFORE.search(text[max(0, m.start - 20) : m.start])
        and not _in_quoted_name(text, m.start)
        and not _SINCE_BEFORE.search(text[max(0, m.start - 10) : m.start])
    )


_SINCE_BEFORE = re.compile(r"\bsince\s+$", re.IGNORECASE)  # a starting point, not the year reported


def _in_quoted_name(text: str, offset: int) -> bool:
    """Whether ``offset`` lies inside a quoted name on its line (a document's or a
    campaign's name: the "Notice on ... Young People in 2024" fixes no year, rule 46)."""
    line = text[text.rfind("\n", 0, offset) + 1 : offset]
    return (
        line.count('"') % 2 == 1 or line.rfind("“") > line.rfind("”") or line.rfind("《") > line.rfind("》")
    )


_COHORT_BEFORE = re.compile(r"\b(?:class|cohort|graduates)\s+of\s+$", re.IGNORECASE)


# A full date: "Aug 22, 2023", "2019-12-06", "08/08/2001", "2021/03/05".
_FULL_DATE = re.compile(
    rf"\b(?:{_MONTH}|(?:jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.?)\s+\d{{1,2}},?\s+{_YEAR}\b"
    r"|\b(?:19|20)\d{2}[-/.]\d{1,2}[-/.]\d{1,2}\b|\b\d{1,2}[-/.]\d{1,2}[-/.](?:19|20)\d{2}\b",
    re.IGNORECASE,
)
DATE_LINE_CHARS = 64  # a line this short around a full date is a date, credit or source line


def publication_dates(text: str) -> list[tuple[int, int]]:
    """(start, end) of the full dates that date the page rather than a figure: alone
    on a short line ("Updated: Aug 22, 2023 english.jinan.gov.cn Print", "2019-12-06
    14:11:00China Tibet Online") or in parentheses ("(China Daily March 25, 2004)")."""
    found: list[tuple[int, int]] = []
    for match in _FULL_DATE.finditer(text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        line_end = text.find("\n", match.end())
        line = text[line_start : len(text) if line_end < 0 else line_end].strip()
        opened = text.rfind("(", line_start, match.start())
        in_parentheses = opened >= 0 and text.find(")", opened, match.start()) < 0
        if len(line) <= DATE_LINE_CHARS or in_parentheses:
            found.append((match.start(), match.end()))
    return found


def _year_of(groups: tuple[str | None, ...], year: int | None) -> int | None:
    explicit, this, last = groups
    if explicit:
        return int(explicit)
    if this:
        return year
    if last and year:
        return year - 1
    return None


def period_of_passage(text: str, start: int, year: int | None, months_year: int | None = None) -> str | None:
    """The period a passage fixes for a sentence that fixes none itself: the last
    period named earlier in the same paragraph ("In 2021, the province ... A total
    of 1.697 million people ..." are both 2021)."""
    paragraph_start = text.rfind("\n", 0, start) + 1
    cuts, found_by_cut = _passage_periods(text, paragraph_start, year, months_year)
    index = bisect_right(cuts, start) - 1  # the last sentence start at or before ``start``
    # the sentence ``start`` is in, up to ``start`` (bounded: an unpunctuated run is long)
    sentence_start = max(cuts[index], start - MAX_SENTENCE_CHARS)
    return period_at(text, sentence_start, start, year, months_year) or found_by_cut[index]


_PASSAGE_SENTENCE_END = re.compile(r"(?<=[.;!?。])\s*")


@lru_cache(maxsize=256)
def _passage_periods(
    text: str, paragraph_start: int, year: int | None, months_year: int | None = None
) -> tuple[list[int], list[str | None]]:
    """Sentence starts of the paragraph and, for each, the last period named in the
    whole sentences before it: read once per paragraph, so the fallback costs the
    same for every number whatever the paragraph's length."""
    paragraph_end = text.find("\n", paragraph_start)
    paragraph_end = len(text) if paragraph_end < 0 else paragraph_end
    ends = _PASSAGE_SENTENCE_END.finditer(text, paragraph_start, paragraph_end)
    cuts = [paragraph_start, *sorted({m.end() for m in ends} - {paragraph_start})]
    found: list[str | None] = [None]
    for begin, end in pairwise(cuts):
        found.append(period_at(text, begin, end, year, months_year) or found[-1])
    return cuts, found


@lru_cache(maxsize=1024)
def period_at(
    text: str, start: int, end: int, year: int | None, months_year: int | None = None
) -> str | None:
    """``period_in(text[start:end], year, months_year)``, read once per passage of an
    article: the extractors ask again for a clause or sentence for every number in it."""
    return period_in(text[start:end], year, months_year)


def period_in(fragment: str, year: int | None, months_year: int | None = None) -> str | None:
    """The period a fragment of text fixes, or None."""
    return period_reading(fragment, year, months_year).period


@dataclass(frozen=True)
class PeriodReading:
    """What a fragment says of time: ``named`` when it holds a temporal phrase that
    is not a comparison; ``period`` when the text fixes that phrase's period ("this
    year" in an article that never names its year is named but not fixed)."""

    named: bool
    period: str | None


NOTHING_NAMED = PeriodReading(False, None)


def _compared(fragment: str, match: re.Match[str]) -> bool:
    before = fragment[max(0, match.start() - 40) : match.start()]
    return bool(_COMPARED_BEFORE.search(before) or _COMPARED_AFTER.match(fragment[match.end() :]))


def period_reading(fragment: str, year: int | None, months_year: int | None = None) -> PeriodReading:
    """The first temporal phrase of ``fragment`` in order of precedence, and the
    period it fixes. ``year`` is the year "this year" means (None: open);
    ``months_year``, when ``year`` is open, the year of a span of months that names
    none itself ("In the first two months, ..." in an article that names one year:
    ``article_year``)."""
    low = lowered(fragment)
    if _ANY_PATTERN.search(fragment, low) is None:
        return NOTHING_NAMED
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(fragment, low):
            if not _compared(fragment, match):
                return PeriodReading(True, _period_of(kind, match.groups(), year, fragment, months_year))
    return NOTHING_NAMED


_BARE_YEAR = re.compile(rf"\b{_YEAR}\b")


def _months_year(
    refs: tuple[str | None, ...], year: int | None, fragment: str, months_year: int | None = None
) -> int | None:
    """The year of a span of months: its own ("of 2022", "this year"), else a year
    the fragment names ("In 2021, from January to May"), else the article's year:
    "this year"'s, else ``months_year`` (a span of months with no word of its year
    is read in the year the article names; "the first nine months of this year"
    stays open with "this year")."""
    if any(refs):
        return _year_of(refs, year)
    named = next((m for m in _BARE_YEAR.finditer(fragment) if not _compared(fragment, m)), None)
    if named:
        return int(named.group(1))
    return year if year is not None else months_year


def _period_of(
    kind: str, g: tuple[str | None, ...], year: int | None, fragment: str, months_year: int | None = None
) -> str | None:
    if kind == "dated":
        opening, closing = _MONTHS[str(g[0]).lower()], _MONTHS[str(g[2]).lower()]
        return f"{g[1]}-{opening:02d}/{g[3]}-{closing:02d}"
    if kind == "month":
        return f"{g[1]}-{_MONTHS[str(g[0]).lower()]:02d}"
    if kind == "months":
        y = _months_year(g[2:5], year, fragment, months_year)
        if y is None:
            return None
        first, last = _MONTHS[str(g[0]).lower()], _MONTHS[str(g[1]).lower()]
        return f"{y}-{first:02d}/{y}-{last:02d}"
    if kind == "numbered":
        y = _months_year(g[1:4], year, fragment, months_year)
        return f"{y}-01/{y}-{int(str(g[0])):02d}" if y is not None else None
    if kind == "quarter":
        y = _months_year(g[2:5], year, fragment, months_year)
        number = {"second": 2, "third": 3, "fourth": 4}.get(str(g[0]).lower()) or int(str(g[1]))
        return f"{y}-{3 * number - 2:02d}/{y}-{3 * number:02d}" if y is not None else None
    if kind in ("first", "quarters", "half"):
        y = _months_year(g[-3:], year, fragment, months_year)
        if y is None:
            return None
        if kind == "first":
            count = str(g[0]).lower()
            last = _COUNT[count] if count in _COUNT else int(count)
        elif kind == "quarters":
            last = 9 if g[0] else 3
        else:
            last = 6
        return f"{y}-01/{y}-{last:02d}"
    if kind == "plan":
        return _FIVE_YEAR_PLANS[str(g[0]).lower()]
    if kind == "span":
        first_year, end = int(str(g[0])), str(g[1])
        last_year = int(end) if len(end) == 4 else first_year // 100 * 100 + int(end)
        return f"{first_year}/{last_year}" if last_year > first_year else None
    if kind == "year":
        return g[-1]
    if kind == "this":
        this = str(g[0]).lower() == "this year"
        y = year if this else (year - 1 if year else None)
        return str(y) if y else None
    return None


@lru_cache(maxsize=1024)
def reading_at(
    text: str, start: int, end: int, year: int | None, months_year: int | None = None
) -> PeriodReading:
    """``period_reading(text[start:end], year, months_year)``, read once per passage of
    an article."""
    return period_reading(text[start:end], year, months_year)


def period_of_figure(
    text: str, spans: Sequence[tuple[int, int]], year: int | None, months_year: int | None = None
) -> str | None:
    """The period of a figure: the first of ``spans`` (its clause, its sentence, the
    sentence before) that names a time decides it, fixed or not ("4.4 percent last
    year, from 6.7 percent in 2003": the clause's "last year", not 2003); when none
    does, the last period named earlier in the paragraph (rule 20)."""
    for start, end in spans:
        reading = reading_at(text, start, end, year, months_year)
        if reading.named:
            return reading.period
    return period_of_passage(text, spans[0][0], year, months_year) or _period_of_list_intro(
        text, spans[0][0], year, months_year
    )


_LIST_ITEM = re.compile(r"\s*(?:[-–—•*]|\d{1,2}[.)]|\(\d{1,2}\))")


def _period_of_list_intro(text: str, start: int, year: int | None, months_year: int | None) -> str | None:
    """A list item's period is that of the paragraph introducing the list ("targets
    for development in 2024 as follows:" then "-- over 12 million new urban jobs")."""
    introduction = list_introduction(text, start)
    return period_of_passage(text, introduction[1], year, months_year) if introduction else None


def list_introduction(text: str, start: int) -> tuple[int, int] | None:
    """(start, end) of the paragraph ending in a colon that introduces the list whose
    item holds ``start``; None when ``start`` is not in a list item."""
    paragraph_start = text.rfind("\n", 0, start) + 1
    if not _LIST_ITEM.match(text, paragraph_start):
        return None
    cursor = paragraph_start - 1
    while cursor > 0:
        previous_start = text.rfind("\n", 0, cursor) + 1
        paragraph = text[previous_start:cursor].strip()
        if paragraph.endswith((":", "：")):
            return previous_start, previous_start + len(text[previous_start:cursor].rstrip())
        if paragraph and not _LIST_ITEM.match(paragraph):
            return None
        cursor = previous_start - 1
    return None


LEAD_CHARS = 400  # the title and the opening lines
# Publication dates and timestamps in credit and date lines fix no year (rule 46).
_PUBLICATION_DATE = re.compile(
    rf"\b(?:{_MONTH}|(?:jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.?)\s+\d{{1,2}},?\s+{_YEAR}\b"
    rf"|\b{_YEAR}-\d{{1,2}}-\d{{1,2}}\b",
    re.IGNORECASE,
)
_EXPLICIT_YEAR = CaselessPattern.compile(rf"\b(?:in|for|during|of) {_YEAR}\b")
# A part of a year named with its year ("Q1 2023", "from January to July 2021"): a
# report of it is written in that same year.
_PART_OF_YEAR = CaselessPattern.compile(rf"\b(?:{_MONTH}|q[1-4]|h[12]),? {_YEAR}\b")
# The year of an earlier level ("down to 4.4 percent last year, from 6.7 percent in
# 2003") is not the year the lead reports on.
_EARLIER_LEVEL = re.compile(r"\bfrom [\d.,]+\s*(?:%|percent|million|thousand)?\s*$", re.IGNORECASE)
# Words that make the lead a plan or a goal: its year is the article's "this year".
_GOAL_LEAD = CaselessPattern.compile(
    r"\b(?:will|to create|to add|to keep|vow(?:s|ed)? to|aims?|plans?|targets?|strive|expects?|goals?)\b"
)


@lru_cache(maxsize=64)
def relative_year(text: str, metadata_year: int | None = None) -> int | None:
    """The year "this year" means for a figure (rule 47): a year in the metadata;
    else, when the lead (title and opening lines, publication dates left out) names
    one year "in 2020", that year if the lead states goals for it ("vowed to keep
    ... in 2006": this year is 2006) and the year after if it reports it ("added
    461,100 new urban jobs in 2020": last year is 2020); else None. A year named
    only further down ("In 2003 alone, Guangzhou received ...") is the year of its
    own passage, not the one "this year" or "last year" mean elsewhere in the
    article (rules 21a, 47: the text must name the current year of the same report;
    on the dev split the article's only year as a fallback got more of those
    figures wrong than right)."""
    if metadata_year is not None:
        return metadata_year
    year = lead_year(text)
    if year is None:
        return _planned_year(text)
    lead = _PUBLICATION_DATE.sub(" ", text[:LEAD_CHARS])
    low = lowered(lead)
    return year if _GOAL_LEAD.search(lead, low) or _PART_OF_YEAR.search(lead, low) else year + 1


# Words of a plan or a demand in the sentence that names the article's one year: the
# year the article plans for is its "this year" ("The meeting demanded that in 2020,
# the province's work should focus on ...", seed 001; rule 19).
_PLANNING = CaselessPattern.compile(
    r"\b(?:will|should|shall|must|demand(?:s|ed)?|to create|to add|to keep|vow(?:s|ed)? to|aims?|plans?|"
    r"targets?|strive|expects?|goals?)\b"
)


def _planned_year(text: str) -> int | None:
    """The one year the article names (``article_year``) when a sentence naming it
    plans for it; None when the article names it only for what was done (a year of
    results further down is not "this year": rules 21a, 47)."""
    year = article_year(text)
    if year is None:
        return None
    for match in re.finditer(rf"\b{year}\b", text):
        start = text.rfind(".", 0, match.start()) + 1
        end = text.find(".", match.end())
        sentence = text[start : len(text) if end < 0 else end]
        if _PLANNING.search(sentence, lowered(sentence)):
            return year
    return None


@lru_cache(maxsize=64)
def lead_year(text: str) -> int | None:
    """The one year the lead (title and opening lines, publication dates left out)
    names as its time ("in 2020", "for 2021", "Q1 2023", "January to July 2021"; not
    "from 6.7 percent in 2003", not "higher than in 2019"), or None when it names
    none or several."""
    lead = _PUBLICATION_DATE.sub(" ", text[:LEAD_CHARS])
    low = lowered(lead)
    years = {
        int(str(m.groups()[-1]))
        for m in [*_EXPLICIT_YEAR.finditer(lead, low), *_PART_OF_YEAR.finditer(lead, low)]
        if not _compared(lead, m) and not _EARLIER_LEVEL.search(lead[max(0, m.start() - 30) : m.start()])
    }
    return next(iter(years)) if len(years) == 1 else None


def in_headline(text: str, offset: int) -> bool:
    """Whether ``offset`` lies in the first line of ``text`` (its title)."""
    title_start = len(text) - len(text.lstrip())
    first_break = text.find("\n", title_start)
    return first_break < 0 or offset < first_break
