"""The quantity engine: every numeric mention of an article, normalised, with offsets.

Pure functions, no model. The rules (scale words, units, qualifiers, bands) live in
``pipeline/data/quantities.toml``; this module only applies them. Each mention says
what role its number plays (a quantity of interest, a year, a date, an ordinal, part
of a name, a count of measures, a stray character) so that nothing is silently
dropped, and machine-translation artefacts carry their candidate readings instead
of being silently corrected.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from polex.pipeline.text import CaselessPattern, lowered_article

Role = Literal["quantity", "year", "date", "ordinal", "name", "count_of_measures", "stray"]
# How a figure relates to its number ("about", "more than", "within"): the one
# declaration every schema with a comparator field imports.
Comparator = Literal["eq", "approx", "at_least", "at_most"]


@dataclass(frozen=True)
class Artefact:
    """A machine-translation artefact found in a mention, with its candidate readings."""

    kind: Literal["split_wan", "lost_decimal", "stray_character", "odd_grouping"]
    note: str
    readings: tuple[float, ...]


@dataclass(frozen=True)
class Mention:
    """One number in an article. ``value`` is the reading used downstream; when an
    artefact made the engine prefer another reading than the literal one, the
    literal stays in ``literal`` and the artefact says why."""

    start: int
    end: int
    text: str
    value: float
    literal: float
    unit: str | None
    unit_explicit: bool
    comparator: Comparator
    role: Role
    high: float | None = None
    artefacts: tuple[Artefact, ...] = field(default=())

    @property
    def of_interest(self) -> bool:
        return self.role == "quantity"

    @property
    def readings(self) -> tuple[float, ...]:
        """Every value this mention can be read as: the preferred, the literal and
        each artefact candidate (and the top of a range)."""
        values = [self.value, self.literal]
        if self.high is not None:
            values.append(self.high)
        for artefact in self.artefacts:
            values.extend(artefact.readings)
        return tuple(dict.fromkeys(values))


@dataclass(frozen=True)
class Rules:
    scales: dict[str, float]
    units_after: dict[str, str]
    units_before: dict[str, str]
    count_nouns: dict[str, list[str]]
    qualifiers_before: dict[str, list[str]]
    qualifiers_after: dict[str, list[str]]
    measure_nouns: list[str]
    months: list[str]
    year_min: int
    year_max: int
    year_cues: list[str]
    bands: dict[str, tuple[float, float]]
    numerators: dict[str, int]
    denominators: dict[str, int]
    number_words: dict[str, float]


@lru_cache(maxsize=1)
def load_rules() -> Rules:
    raw: dict[str, Any] = tomllib.loads(
        resources.files("polex.pipeline").joinpath("data/quantities.toml").read_text("utf-8")
    )
    return Rules(
        scales={k.lower(): float(v) for k, v in raw["scales"].items()},
        units_after={k.lower(): v for k, v in raw["units_after"].items()},
        units_before={k.lower(): v for k, v in raw["units_before"].items()},
        count_nouns=raw["count_nouns"],
        qualifiers_before=raw["qualifiers_before"],
        qualifiers_after=raw["qualifiers_after"],
        measure_nouns=raw["not_of_interest"]["count_nouns"],
        months=raw["dates"]["months"],
        year_min=raw["dates"]["year_min"],
        year_max=raw["dates"]["year_max"],
        year_cues=raw["dates"]["year_cues"],
        bands={k: (float(v["min"]), float(v["max"])) for k, v in raw["bands"].items()},
        numerators=raw["fractions"]["numerators"],
        denominators=raw["fractions"]["denominators"],
        number_words={k.lower(): float(v) for k, v in raw["number_words"].items()},
    )


# A number as written: digits, optional thousands groups, optional decimals. The
# first group may be longer than three digits ("2860,000"): that is flagged later.
_NUMBER = re.compile(r"(?<![\d.])\d+(?:,\d{3}(?!\d))*(?:\.\d+)?")
_ISO_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
_ORDINAL_SUFFIX = re.compile(r"(?:st|nd|rd|th)\b", re.IGNORECASE)
_PLUS_N = re.compile(r"\s*\+\s*n\b", re.IGNORECASE)
_NAME_QUOTE_MAX = 40


def _alternation(phrases: list[str] | dict[str, Any]) -> str:
    words = sorted(phrases, key=len, reverse=True)
    return "|".join(re.escape(w) for w in words)


@lru_cache(maxsize=1)
def _patterns() -> dict[str, re.Pattern[str]]:
    r = load_rules()
    # Digit-bearing scales ("10,000" as 万) only count after whitespace; word scales
    # must end on a word boundary so "millions" is not "million" + "s".
    scale = _alternation(r.scales)
    unit = _alternation(r.units_after)
    nouns = _alternation([n for group in r.count_nouns.values() for n in group])
    return {
        # ASCII lookaheads: "万人" and "亿元" are a scale followed by a CJK word.
        "scale": re.compile(rf"\s*({scale})(?![A-Za-z0-9_])(?!,\d)", re.IGNORECASE),
        "unit": re.compile(rf"\s*({unit})(?![A-Za-z0-9_])", re.IGNORECASE),
        "unit_before": re.compile(rf"({_alternation(r.units_before)})\s*$", re.IGNORECASE),
        "split_wan": re.compile(r"\s+(\d{1,3})\s+(10,000|100 million)(?![\d,])"),
        "range": re.compile(r"\s*(?:to|-|–|~|—)\s*(?=\d)", re.IGNORECASE),
        "noun": re.compile(rf"\s+(?:[\w-]+\s+){{0,2}}?({nouns})\b", re.IGNORECASE),
        "measure_noun": re.compile(
            rf"\s+(?:[\w-]+\s+){{0,2}}?({_alternation(r.measure_nouns)})\b", re.IGNORECASE
        ),
        "month_before": re.compile(rf"\b({_alternation(r.months)})\.?\s+$", re.IGNORECASE),
        "month_after": re.compile(
            rf"(?:st|nd|rd|th)?\s+(?:of\s+)?({_alternation(r.months)})\b", re.IGNORECASE
        ),
        "year_cue": re.compile(rf"\b({_alternation(r.year_cues)})\s+$", re.IGNORECASE),
        "and_more": re.compile(r"\s+and\s+(\d{1,3})(?![\d,.])"),
    }


@lru_cache(maxsize=1)
def _whole_text_patterns() -> dict[str, CaselessPattern]:
    """The case-insensitive patterns searched over a whole article (the others are
    matched at a number's position): as ``CaselessPattern``, they search the
    lower-cased article, several times faster than IGNORECASE."""
    r = load_rules()
    word_scales = [s for s in r.scales if s.replace(" ", "").isalpha() and s.isascii()]
    return {
        "word_number": CaselessPattern.compile(
            # not "a thousand-year", "one in a million", "one thousand two hundred"
            rf"(?<!\bin )\b({_alternation(r.number_words)})\s+({_alternation(word_scales)})(?![\w-])"
            rf"(?!\s+of\b)(?!\s+(?:and\s+)?(?:{_alternation(r.number_words)}|hundred|thousand)\b)"
        ),
        "fraction": CaselessPattern.compile(
            rf"\b({_alternation(r.numerators)})[\s-]+({_alternation(r.denominators)})\b(?=\s+of\b)"
        ),
    }


def _to_float(number_text: str) -> float:
    return float(Decimal(number_text.replace(",", "")))


def _scaled(number_text: str, scale: float) -> float:
    value = Decimal(number_text.replace(",", "")) * Decimal(repr(scale))
    return float(value)


@dataclass
class _Parse:
    """The working state of one mention while its surroundings are read."""

    start: int
    end: int
    number_text: str
    value: float
    literal: float
    unit: str | None = None
    scaled: bool = False
    high: float | None = None
    artefacts: list[Artefact] = field(default_factory=list)
    consumed_until: int = 0


def find_mentions(text: str) -> list[Mention]:
    """Every numeric mention in ``text``, in order, each with its role. (Read once
    per text: the extractors, checks and periods of one article all ask.)"""
    return list(_find_mentions(text))


@lru_cache(maxsize=16)
def _find_mentions(text: str) -> tuple[Mention, ...]:
    p = _patterns()
    mentions: list[Mention] = []
    iso_dates = [(m.start(), m.end()) for m in _ISO_DATE.finditer(text)]
    cursor = 0
    for match in _NUMBER.finditer(text):
        if match.start() < cursor:
            continue  # already read as part of a previous mention (scale, range)
        if any(s <= match.start() < e for s, e in iso_dates):
            span = next((s, e) for s, e in iso_dates if s <= match.start() < e)
            mentions.append(_plain(text, span[0], span[1], "date"))
            cursor = span[1]
            continue
        parse = _read_number(text, match, p)
        cursor = parse.consumed_until
        role = _role(text, parse, p)
        mentions.append(_finish(text, parse, role, p))
    mentions.extend(_fractions(text, p))
    mentions.extend(_word_numbers(text, p))
    mentions.sort(key=lambda m: m.start)
    return tuple(_flag_strays(mentions))


def _fractions(text: str, p: dict[str, re.Pattern[str]]) -> list[Mention]:
    """'a fifth of', 'two thirds of', 'half of' read as ratios."""
    rules = load_rules()
    found: list[Mention] = []
    for match in _whole_text_patterns()["fraction"].finditer(text, lowered_article(text)):
        value = rules.numerators[match.group(1).lower()] / rules.denominators[match.group(2).lower()]
        value = round(value, 6)
        written = text[match.start() : match.end()]  # the match itself may be lower-cased
        parse = _Parse(match.start(), match.end(), written, value, value, unit="ratio")
        found.append(
            Mention(
                match.start(),
                match.end(),
                written,
                value,
                value,
                "ratio",
                True,
                _comparator(text, parse),
                "quantity",
            )
        )
    return found


def _word_numbers(text: str, p: dict[str, re.Pattern[str]]) -> list[Mention]:
    """'a million people', 'two billion yuan': an exact amount in words."""
    rules = load_rules()
    found: list[Mention] = []
    for match in _whole_text_patterns()["word_number"].finditer(text, lowered_article(text)):
        if text[match.start(1)].isupper() and text[match.start(2)].isupper():
            continue  # a title-case name: "A Thousand Talents"
        value = _scaled(
            repr(rules.number_words[match.group(1).lower()]), rules.scales[match.group(2).lower()]
        )
        written = text[match.start() : match.end()]  # the match itself may be lower-cased
        parse = _Parse(match.start(), match.end(), written, value, value, scaled=True)
        unit = p["unit"].match(text, parse.end)
        if unit:
            parse.unit = rules.units_after[unit.group(1).lower()]
            parse.end = unit.end()
        found.append(_finish(text, parse, "quantity", p))
    return found


def quantities_of_interest(text: str) -> list[Mention]:
    return [m for m in find_mentions(text) if m.of_interest]


def _plain(text: str, start: int, end: int, role: Role) -> Mention:
    literal = _to_float(re.sub(r"\D", "", text[start:end]) or "0")
    return Mention(start, end, text[start:end], literal, literal, None, False, "eq", role)


def _read_number(text: str, match: re.Match[str], p: dict[str, re.Pattern[str]]) -> _Parse:
    rules = load_rules()
    number_text = match.group()
    literal = _to_float(number_text)
    parse = _Parse(match.start(), match.end(), number_text, literal, literal)
    _check_grouping(parse)

    split = p["split_wan"].match(text, parse.end)
    if split:
        _read_split_wan(parse, split, rules)
    else:
        _read_scales(text, parse, p, rules)
    _read_range(text, parse, p, rules)
    unit = p["unit"].match(text, parse.end)
    if unit:
        parse.unit = rules.units_after[unit.group(1).lower()]
        parse.end = unit.end()
    else:
        before = p["unit_before"].search(text, max(0, parse.start - 6), parse.start)
        if before:
            parse.unit = rules.units_before[before.group(1).lower()]
    _check_lost_decimal(parse, rules)
    parse.consumed_until = parse.end
    return parse


def _check_grouping(parse: _Parse) -> None:
    groups = parse.number_text.split(".")[0].split(",")
    if len(groups) > 1 and len(groups[0]) > 3:
        digits = "".join(groups)
        head = groups[0]
        # as written (2,860,000); one digit too many before the comma (286,000); or the
        # head as 万 with its decimal point lost (2.860万 = 28,600 = head x 10)
        readings = (float(digits), float(head[:-1] + "".join(groups[1:])), float(head) * 10)
        parse.artefacts.append(
            Artefact(
                "odd_grouping",
                f"'{parse.number_text}' has {len(head)} digits before its first comma; "
                "a digit may be extra or a 万 may have been mistranslated",
                tuple(dict.fromkeys(readings)),
            )
        )


def _read_split_wan(parse: _Parse, split: re.Match[str], rules: Rules) -> None:
    """'56 1 10,000 people': a decimal point of 56.1万 became a space."""
    digits = parse.number_text.replace(",", "") + split.group(1)
    scale = rules.scales[split.group(2).lower()]
    readings = [
        float(Decimal(digits) / Decimal(10**k) * Decimal(repr(scale))) for k in range(1, len(digits) + 1)
    ]
    preferred = _scaled(f"{parse.number_text.replace(',', '')}.{split.group(1)}", scale)
    parse.value = preferred
    parse.scaled = True
    parse.end = split.end()
    parse.artefacts.append(
        Artefact(
            "split_wan",
            f"'{parse.number_text}{split.group(0)}' reads as a split {split.group(2)} "
            f"(万/亿); preferred {parse.number_text}.{split.group(1)} x {scale:g}",
            tuple(sorted(set(readings))),
        )
    )


_NEXT_NUMBER = re.compile(r"\s+(\d+(?:\.\d+)?)")


def _read_scales(text: str, parse: _Parse, p: dict[str, re.Pattern[str]], rules: Rules) -> None:
    scale = p["scale"].match(text, parse.end)
    if not scale:
        return
    factor = rules.scales[scale.group(1).lower()]
    parse.value = _scaled(parse.number_text, factor)
    parse.literal = parse.value
    parse.scaled = True
    parse.end = scale.end()
    # A compound scale: "1 billion 700 million" adds a smaller scaled number.
    nxt = _NEXT_NUMBER.match(text, parse.end)
    if nxt:
        second = p["scale"].match(text, nxt.end())
        if second and rules.scales[second.group(1).lower()] < factor:
            parse.value += _scaled(nxt.group(1), rules.scales[second.group(1).lower()])
            parse.literal = parse.value
            parse.end = second.end()
            factor = rules.scales[second.group(1).lower()]
    # Machine translation of 5万9千5百: "59 thousand and 500" adds the remainder.
    # ... only when a count noun follows ("59 thousand and 500 people"), never a unit
    # or another noun ("1.2 million and 85 percent", "11 million and 3 provinces")
    remainder = p["and_more"].match(text, parse.end)
    if (
        remainder
        and int(remainder.group(1)) < factor
        and not p["scale"].match(text, remainder.end())
        and not p["unit"].match(text, remainder.end())
        and p["noun"].match(text, remainder.end())
    ):
        parse.value += float(remainder.group(1))
        parse.literal = parse.value
        parse.end = remainder.end()


_FROM_BEFORE = re.compile(r"\bfrom\s+(?:about\s+|around\s+)?$", re.IGNORECASE)


def _read_range(text: str, parse: _Parse, p: dict[str, re.Pattern[str]], rules: Rules) -> None:
    """'30 to 50 million yuan' is a range; 'from 60 percent to 90 percent' is a
    change between two levels, so a preceding 'from' leaves both numbers alone."""
    if _FROM_BEFORE.search(text[max(0, parse.start - 20) : parse.start]):
        return
    connector = p["range"].match(text, parse.end)
    if not connector:
        return
    second = _NUMBER.match(text, connector.end())
    if not second:
        return
    high_text = second.group()
    end = second.end()
    scale = p["scale"].match(text, end)
    if scale:
        factor = rules.scales[scale.group(1).lower()]
        high = _scaled(high_text, factor)
        if not parse.scaled:
            parse.value = parse.literal = _scaled(parse.number_text, factor)
        end = scale.end()
    else:
        high = _to_float(high_text)
        if parse.scaled:
            return  # "3 million to 2021": not a range of like quantities
    if high <= parse.value:
        return
    parse.high = high
    parse.end = end


def _check_lost_decimal(parse: _Parse, rules: Rules) -> None:
    band = rules.bands.get(parse.unit or "")
    if band is None or parse.scaled or "." in parse.number_text:
        return
    low, high = band
    if low <= parse.value <= high:
        return
    digits = parse.number_text.replace(",", "")
    candidates = [float(Decimal(digits) / Decimal(10**k)) for k in range(1, len(digits)) if digits[:-k]]
    in_band = [c for c in candidates if low <= c <= high]
    if not in_band:
        return
    parse.value = max(in_band)
    parse.artefacts.append(
        Artefact(
            "lost_decimal",
            f"{parse.number_text} {parse.unit} is outside the plausible band "
            f"[{low:g}, {high:g}]; a decimal point was probably lost",
            tuple(in_band),
        )
    )


def _role(text: str, parse: _Parse, p: dict[str, re.Pattern[str]]) -> Role:
    rules = load_rules()
    start, raw_end = parse.start, parse.start + len(parse.number_text)
    before = text[max(0, start - 30) : start]
    after = text[raw_end : raw_end + 40]
    if start > 0 and text[start - 1] in "_#":
        return "name"  # markup and labels: "[ad_1]", "No.#3"
    glued_before = start > 0 and text[start - 1].isalpha() and text[start - 1].isascii()
    glued_after = bool(after) and after[0].isascii() and after[0].isalpha()
    if glued_after and _ORDINAL_SUFFIX.match(after):
        return "date" if p["month_before"].search(before) else "ordinal"
    if glued_before or (glued_after and parse.unit is None):
        return "stray"
    if _in_short_quote(text, start) or _PLUS_N.match(after):
        return "name"
    is_plain_int = parse.number_text.isdigit() and not parse.scaled and parse.high is None
    if is_plain_int and parse.unit is None:
        number = int(parse.number_text)
        if number <= 31 and (p["month_before"].search(before) or p["month_after"].match(after)):
            return "date"
        is_year_number = len(parse.number_text) == 4 and rules.year_min <= number <= rules.year_max
        if is_year_number and (p["year_cue"].search(before) or not p["noun"].match(after)):
            return "year"
    if (
        parse.unit is None
        and p["measure_noun"].match(text, parse.end)
        and not p["noun"].match(text, parse.end)
    ):
        return "count_of_measures"
    return "quantity"


def _in_short_quote(text: str, pos: int) -> bool:
    """A number inside a short quoted phrase is part of a name ("12 facts", "2 + n")."""
    window = text[max(0, pos - _NAME_QUOTE_MAX) : pos]
    tail = text[pos : pos + _NAME_QUOTE_MAX]
    if window.rfind("“") > window.rfind("”") and "”" in tail:
        return True
    inside_straight = text.count('"', 0, pos) % 2 == 1
    return inside_straight and '"' in window and '"' in tail


def _finish(text: str, parse: _Parse, role: Role, p: dict[str, re.Pattern[str]]) -> Mention:
    unit, explicit = parse.unit, parse.unit is not None
    if unit is None:
        unit = _unit_from_noun(text, parse.end, p)
    return Mention(
        start=parse.start,
        end=parse.end,
        text=text[parse.start : parse.end],
        value=parse.value,
        literal=parse.literal,
        unit=unit,
        unit_explicit=explicit,
        comparator=_comparator(text, parse),
        role=role,
        high=parse.high,
        artefacts=tuple(parse.artefacts),
    )


def _unit_from_noun(text: str, end: int, p: dict[str, re.Pattern[str]]) -> str | None:
    noun = p["noun"].match(text, end)
    if not noun:
        return None
    word = noun.group(1).lower()
    for unit, words in load_rules().count_nouns.items():
        if word in (w.lower() for w in words):
            return unit
    return None


@dataclass(frozen=True)
class _Qualifiers:
    """The qualifier phrases compiled once. ``before``: every phrase ending the text
    before a number, longest first, so that the leftmost match is the longest phrase
    (a stray digit may sit right before it: "positions1More than"); ``after``: each
    phrase after the number, in the rules' order (a count noun may sit between:
    "500 people or more")."""

    before: re.Pattern[str]
    before_comparator: dict[str, Comparator]
    after: tuple[tuple[Comparator, re.Pattern[str]], ...]


@lru_cache(maxsize=1)
def _qualifiers() -> _Qualifiers:
    rules = load_rules()
    before_comparator: dict[str, Comparator] = {}
    for comparator, phrases in rules.qualifiers_before.items():
        for phrase in phrases:
            before_comparator.setdefault(phrase, comparator)  # type: ignore[arg-type]
    after = tuple(
        (comparator, re.compile(rf"\s*(?:[\w-]+\s+){{0,2}}?{re.escape(phrase)}\b"))
        for comparator, phrases in rules.qualifiers_after.items()
        for phrase in phrases
    )
    before = re.compile(rf"(?:^|[\W\d])({_alternation(before_comparator)})$")
    return _Qualifiers(before, before_comparator, after)  # type: ignore[arg-type]


_CURRENCY_AT_END = re.compile(r"(?:rmb|¥|yuan)\s*$", re.IGNORECASE)


def _comparator(text: str, parse: _Parse) -> Comparator:
    """The qualifier touching the number; the longest phrase wins ("no more than"
    is at_most, not the "more than" inside it)."""
    qualifiers = _qualifiers()
    before = text[max(0, parse.start - 40) : parse.start]
    before = _CURRENCY_AT_END.sub("", before).rstrip().lower()
    longest = qualifiers.before.search(before)
    if longest:
        return qualifiers.before_comparator[longest.group(1)]
    after = text[parse.end : parse.end + 40].lower()
    found: Comparator = "eq"
    for comparator, pattern in qualifiers.after:
        if pattern.match(after):
            found = comparator  # the last phrase listed that matches
    return found


def _flag_strays(mentions: list[Mention]) -> list[Mention]:
    """'3All 30,000', 'positions1More than 50,000': a stray digit glued to a word
    sits just before a real quantity. The stray is kept with role 'stray' and the
    quantity after it is flagged, so a reader sees both."""
    out = list(mentions)
    for i, mention in enumerate(out):
        if mention.role != "stray" or i + 1 >= len(out):
            continue
        nxt = out[i + 1]
        if nxt.role != "quantity" or nxt.start - mention.end > 20:
            continue
        artefact = Artefact(
            "stray_character",
            f"a stray '{mention.text}' is glued to the words before this figure; "
            f"read as {nxt.value:g}, not as {mention.text}{nxt.text}",
            (nxt.value,),
        )
        out[i + 1] = Mention(**{**nxt.__dict__, "artefacts": (*nxt.artefacts, artefact)})
    return out
