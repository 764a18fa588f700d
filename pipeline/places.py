"""Which jurisdiction an article or a clause is about, from a gazetteer of Chinese
provinces and prefecture cities (pipeline/data/gazetteer.toml)."""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

Level = Literal["province", "city"]


@dataclass(frozen=True)
class Place:
    name: str
    level: Level
    province: str


@dataclass(frozen=True)
class Gazetteer:
    by_name: dict[str, Place]
    pattern: re.Pattern[str]


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    raw = tomllib.loads(resources.files("polex.pipeline").joinpath("data/gazetteer.toml").read_text("utf-8"))
    by_name: dict[str, Place] = {}
    for province, entry in raw.items():
        by_name.setdefault(province, Place(province, "province", province))
        for alias in entry.get("aliases", []):
            by_name.setdefault(alias, Place(province, "province", province))
        for city in entry.get("cities", []):
            by_name.setdefault(city, Place(city, "city", province))
    names = sorted(by_name, key=len, reverse=True)
    # the look-ahead of the names' first characters skips most positions at once
    first = "".join(sorted({re.escape(n[0]) for n in names}))
    pattern = re.compile(rf"(?=[{first}])\b(" + "|".join(re.escape(n) for n in names) + r")\b")
    return Gazetteer(by_name, pattern)


# A name inside a company's name or a person's address says nothing of the
# jurisdiction the figures belong to.
_COMPANY_AFTER = re.compile(r"^[^.;]{0,40}?\b(?:Co\.|Company|Ltd|LTD|Group|Inc\.)", re.IGNORECASE)
_PERSON_BEFORE = re.compile(r"(?:citizen|resident|native|villager) of\s*$", re.IGNORECASE)
_NEWSPAPER_AFTER = re.compile(r"^\s+(?:Daily|Evening News|News|Times|Morning Post)\b")
# Nor does the venue of a meeting ("a press conference during the annual meeting of
# the NPC, which opened yesterday in Beijing"), nor a province that only locates the
# city named before it ("Guangzhou, the capital city of South China's Guangdong Province").
_VENUE_BEFORE = re.compile(
    r"\b(?:meeting|conference|session|congress|forum|NPC|CPPCC)\b[^.;]{0,40}\bin\s*$", re.IGNORECASE
)
_LOCATING_BEFORE = re.compile(r"\bcapital(?: city)? of\s+(?:[A-Za-z]+\s+)?(?:China's\s+)?$", re.IGNORECASE)


def places_in(text: str) -> list[tuple[Place, int, bool]]:
    """Every place name in ``text``: (place, offset, named_as_source)."""
    g = gazetteer()
    found: list[tuple[Place, int, bool]] = []
    for match in g.pattern.finditer(text):
        after = text[match.end() : match.end() + 60]
        before = text[max(0, match.start() - 30) : match.start()]
        context = text[max(0, match.start() - 80) : match.start()]
        if _COMPANY_AFTER.match(after) or _PERSON_BEFORE.search(before) or _VENUE_BEFORE.search(context):
            continue
        if g.by_name[match.group(1)].level == "province" and _LOCATING_BEFORE.search(context):
            continue
        found.append((g.by_name[match.group(1)], match.start(), bool(_NEWSPAPER_AFTER.match(after))))
    return found


_CITY_VOICE = re.compile(r"\b(?:the|our|this|whole) city\b|\bcity's\b|\bmunicipal\b", re.IGNORECASE)
_PROVINCE_VOICE = re.compile(
    r"\b(?:the|our|this|whole) province\b|\bprovincial\b|\bprovince's\b", re.IGNORECASE
)


NATION = "China"
_NATION_VOICE = re.compile(
    r"\b(?:the (?:whole )?country|nationwide|national(?:ly)?|China's|across China|the State Council|"
    r"Ministry of Human Resources and Social Security)\b",
    re.IGNORECASE,
)


@lru_cache(maxsize=64)
def article_region(text: str) -> str | None:
    """The jurisdiction an article reports on: the most named province or city,
    chosen by whether the article speaks of "the city" or "the province". A
    newspaper's home city names its province when only the province is spoken of
    ("(Lanzhou Daily)" in an article about "the province" means Gansu). A title that
    names one jurisdiction, which the body names too, names the article's ("Employment
    Subsidy Policy for College Students in Harbin" is about Harbin, however often it
    says Heilongjiang; a name in a garbled machine-translated title alone is not). A
    title, else a lead, that names a place within its province (a county or district
    within its city) is about the most specific of them ("Hubei Jingmen ...",
    "Guanshanhu district of Guiyang, capital city of Guizhou province"), unless the
    article speaks of "the province" more than of the place's kind (a dateline's city)."""
    title = _title(text)
    body_start = text.find(title) + len(title)
    counties = article_counties(text)
    in_body = places_named(text, body_start, len(text), counties)
    in_title = places_named(title, 0, len(title), counties)
    in_title += tuple(
        name
        for name in in_body
        if name not in gazetteer().by_name
        and name not in in_title
        and re.search(rf"\b{re.escape(name)}\b", title)
    )
    if len(in_title) == 1 and in_title[0] in in_body:
        return in_title[0]
    # a title naming a place and its province ("Hubei Jingmen", "Xishuangbanna in SW
    # China's Yunnan") is about the place, however a translation spells it in the body
    a_headline = len(text.lstrip().split("\n", 1)[0]) <= TITLE_CHARS  # not an opening paragraph
    titled = most_specific(in_title, counties) if len(in_title) > 1 and a_headline else None
    if titled and re.search(rf"\b{re.escape(titled)}\b", text[body_start:], re.IGNORECASE):
        return titled
    # so is a lead naming one ("A large-scale job fair was held in Liuzhou, Guangxi"),
    # unless the article speaks of the wider jurisdiction more than of the place's kind
    in_lead = places_named(text, 0, LEAD_CHARS, counties)
    lead = most_specific(in_lead, counties) if len(in_lead) > 1 else None
    if lead and _speaks_of(lead, text):
        return lead
    places = places_in(text)
    if not places:
        # no province or city at all: national figures when the text speaks of the nation
        return NATION if _NATION_VOICE.search(text) else None
    city_voice = len(_CITY_VOICE.findall(text))
    province_voice = len(_PROVINCE_VOICE.findall(text))
    cities = Counter(p.name for p, _, source in places if p.level == "city" and not source)
    provinces = Counter(p.name for p, _, _ in places if p.level == "province")
    if city_voice > province_voice and cities:
        return cities.most_common(1)[0][0]
    if provinces:
        return provinces.most_common(1)[0][0]
    homes = Counter(p.province for p, _, _ in places)
    if province_voice >= city_voice:
        return homes.most_common(1)[0][0]
    return (cities or homes).most_common(1)[0][0]


TITLE_CHARS = 200
LEAD_CHARS = 400  # the title and the opening lines
_DISTRICT_VOICE = re.compile(
    r"\b(?:the|our|this|whole) (?:district|county)\b|\b(?:district|county)'s\b", re.I
)
_PREFECTURE_VOICE = re.compile(r"\b(?:the|our|this|whole) prefecture\b|\bprefecture's\b", re.IGNORECASE)


def most_specific(names: Sequence[str], counties_named: frozenset[str] = frozenset()) -> str | None:
    """The most specific of ``names`` when they nest (a county or district, its city,
    the city's province: "Guanshanhu district of Guiyang, capital city of Guizhou
    province" → Guanshanhu; "Hubei Jingmen" → Jingmen); None when they name two
    places side by side (two cities, two provinces, two counties) or nothing. A name
    in ``counties_named`` is a county even when a gazetteer city shares it."""
    by_name = gazetteer().by_name
    known = [by_name[n] for n in names if n in by_name and n not in counties_named]
    counties = [n for n in names if n not in by_name or n in counties_named]
    provinces = {p.province for p in known}
    cities = {p.name for p in known if p.level == "city"}
    if len(counties) > 1 or len(provinces) > 1 or len(cities) > 1:
        return None
    return next(iter(counties or cities or provinces), None)


def _speaks_of(name: str, text: str) -> bool:
    """Whether ``text`` speaks of a jurisdiction of ``name``'s kind at least as often as
    of "the province": a county or district must be spoken of ("the district's
    bureau"); a city may be as silent as its province."""
    place = None if name in article_counties(text) else gazetteer().by_name.get(name)
    province_voice = len(_PROVINCE_VOICE.findall(text))
    if place is None:
        district_voice = len(_DISTRICT_VOICE.findall(text))
        return district_voice > 0 and district_voice >= province_voice
    if place.level == "city":
        return len(_CITY_VOICE.findall(text)) + len(_PREFECTURE_VOICE.findall(text)) >= province_voice
    return True


def _title(text: str) -> str:
    """The article's first line (its title, in the corpus's files)."""
    return text.lstrip().split("\n", 1)[0][:TITLE_CHARS]


def normalise_region(name: str | None) -> str | None:
    """'Anhui Province', 'anhui', 'Binzhou City' -> the gazetteer's spelling."""
    if not name:
        return None
    cleaned = re.sub(
        r"\b(province|city|municipality|autonomous region|prefecture|county|district)\b", "", name, flags=re.I
    )
    cleaned = " ".join(cleaned.split())
    for known in gazetteer().by_name:
        if known.lower() == cleaned.lower():
            return gazetteer().by_name[known].name
    return cleaned or None


# A county or district by its short name: "Ningxian county", "Jianghua Yao Autonomous
# County" (rule 72: an autonomous county keeps its short name), "Qingzhen, a
# county-level city".
_COUNTY = re.compile(
    r"\b([A-Z][a-z]{2,})(?:(?: [A-Z][a-z]+)?(?: Autonomous)? (?:County|District|county|district)\b"
    r"|, a county-level city\b)"
)


def places_named(text: str, start: int, end: int, counties: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The jurisdictions ``text[start:end]`` names, in order, each once: gazetteer
    places (not as a newspaper's name) and counties or districts ("Ningxian county"
    → "Ningxian", rule 21), also by the short name alone when ``counties`` (the
    article's, ``article_counties``) holds it ("Jianghua attracted ..." after
    "Jianghua Yao Autonomous County"). A county named like a gazetteer city of
    another province is the county ("Suining County, Hunan Province": rule 49)."""
    found: dict[int, str] = {
        match.start(): match.group(1)
        for match in _COUNTY.finditer(text, start, end)
        if _is_county_name(match.group(1))
    }
    if counties:
        for match in _names_pattern(counties).finditer(text, start, end):
            found.setdefault(match.start(), match.group(1))
    for place, offset, source in places_in(text[start:end]):
        if not source:
            found.setdefault(offset + start, place.name)
    return tuple(dict.fromkeys(name for _, name in sorted(found.items())))


@lru_cache(maxsize=64)
def _names_pattern(names: frozenset[str]) -> re.Pattern[str]:
    return re.compile(r"\b(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + r")\b")


@lru_cache(maxsize=64)
def article_counties(text: str) -> frozenset[str]:
    """The counties and districts an article names as such ("Suining County",
    "Jianghua Yao Autonomous County"), by their short names."""
    return frozenset(m.group(1) for m in _COUNTY.finditer(text) if _is_county_name(m.group(1)))


def _is_county_name(name: str) -> bool:
    """Whether a name followed by "County" or "District" is a county's own: any name
    the gazetteer does not hold, or a gazetteer city's name (a namesake); a province
    is never one ("Guangdong District" is no county)."""
    place = gazetteer().by_name.get(name)
    return place is None or place.level == "city"


def figure_region(text: str, spans: tuple[tuple[int, int], ...], fallback: str | None) -> str | None:
    """The region of a figure: the one jurisdiction the first of ``spans`` (its
    clause, then its sentence) that names any names alone, or the most specific of
    nested ones ("in Jinan's Zhangqiu district" → Zhangqiu); the article's region
    (``fallback``) when none names one, or when the span names several side by side. The province
    of an article's city, named beyond the clause, does not take the figures from the
    city ("the capital city of South China's Guangdong Province")."""
    by_name = gazetteer().by_name
    home = by_name.get(fallback or "")
    counties = article_counties(text)
    for level, (start, end) in enumerate(spans):
        in_span = places_named(text, start, end, counties)
        named = [n for n in in_span if level == 0 or not (home and n == home.province)]
        if named:
            return named[0] if len(named) == 1 else most_specific(named, counties) or fallback
    return fallback
