"""The offline extractor of QuantitativeTarget: deterministic rules over the quantity
engine's mentions. Indicator from the taxonomy alias nearest the number, kind from
the clause's cues, period from temporal phrases, region from the gazetteer,
evidence = the number's clause. All rules are data in this folder's TOML files."""

from __future__ import annotations

import re

from polex.pipeline.periods import article_year, period_at
from polex.pipeline.places import article_region
from polex.pipeline.quantities import Mention
from polex.pipeline.records import ArticleContext
from polex.pipeline.text import Span, lowered_article, previous_sentence
from polex.schemas.quantitative_target.cues import Clause, clause_of, read_cues
from polex.schemas.quantitative_target.model import QuantitativeTarget, Unit
from polex.schemas.quantitative_target.taxonomy import EXCLUDE, alias_pattern, excluded_aliases, indicators

_UNITS = set(Unit.__args__)  # type: ignore[attr-defined]


def _nearest_alias(text: str, start: int, end: int, mention: Mention) -> tuple[str, int, int] | None:
    """(indicator id, alias start, alias end) of the alias in text[start:end] nearest
    to the mention; an alias of a money indicator wins for a yuan figure, and a
    longer alias wins a tie."""
    pattern, owner = alias_pattern()
    table = indicators()
    best: tuple[int, int, int, str, int, int] | None = None
    for match in pattern.finditer(text, lowered_article(text), start, end):
        if match.start() < mention.end and match.end() > mention.start:
            continue
        indicator = owner[match.group().lower()]
        gap = mention.start - match.end() if match.end() <= mention.start else match.start() - mention.end
        money = indicator in table and table[indicator].unit == "yuan"
        unit_clash = int(mention.unit == "yuan" and indicator != EXCLUDE and not money)
        key = (unit_clash, gap, -len(match.group()), indicator, match.start(), match.end())
        if best is None or key < best:
            best = key
    return None if best is None else (best[3], best[4], best[5])


def _unit(mention: Mention, indicator: str, alias: str) -> str:
    entry = indicators()[indicator]
    if mention.unit_explicit and mention.unit:
        return mention.unit
    if alias.lower() in entry.alias_units:
        return entry.alias_units[alias.lower()]
    if entry.force_unit or mention.unit is None:
        return entry.unit if entry.unit in _UNITS else "other"
    return mention.unit


def _in_company_sentence(text: str, sentence: Span) -> bool:
    words = text[sentence.start : sentence.end].lower()
    return any(
        alias.lower() in words for alias in excluded_aliases() if alias.lower().startswith(("co.", "comp"))
    )


def extract(ctx: ArticleContext) -> list[tuple[QuantitativeTarget, int]]:
    text = ctx.text
    region = article_region(text)
    year = article_year(text, ctx.article.metadata)
    records: list[tuple[QuantitativeTarget, int]] = []
    last_indicator: dict[int, str] = {}  # sentence start -> indicator of its previous figure
    for mention in ctx.mentions:
        if not mention.of_interest:
            continue
        clause = clause_of(text, mention)
        if _in_company_sentence(text, clause.sentence):
            continue
        cues = read_cues(text, mention, clause)
        kind = cues.inferred()
        found = _indicator(text, mention, clause, kind, last_indicator.get(clause.sentence.start))
        indicator, alias_start, alias_end = found
        if indicator == EXCLUDE:
            continue
        last_indicator[clause.sentence.start] = indicator
        evidence_start = min(clause.segment.start, alias_start) if alias_start >= 0 else clause.segment.start
        evidence_end = max(clause.segment.end, alias_end)
        value = -mention.value if kind == "change" and cues.negative else mention.value
        before = previous_sentence(text, clause.sentence)
        period = (
            period_at(text, clause.segment.start, clause.segment.end, year)
            or period_at(text, clause.sentence.start, clause.sentence.end, year)
            or (period_at(text, before.start, before.end, year) if before else None)
        )
        if alias_start >= 0:
            indicator = unemployment_rate_of_era(
                indicator,
                text[alias_start:alias_end],
                text[clause.sentence.start : clause.sentence.end],
                period,
                year,
            )
        records.append(
            (
                QuantitativeTarget(
                    evidence=text[evidence_start:evidence_end],
                    indicator=indicator,
                    indicator_text=text[alias_start:alias_end] if alias_start >= 0 else "",
                    value=value,
                    value_high=mention.high,
                    unit=_unit(mention, indicator, text[alias_start:alias_end] if alias_start >= 0 else ""),  # type: ignore[arg-type]
                    kind=kind,
                    comparator=mention.comparator,
                    period=period,
                    region=region,
                ),
                evidence_start,
            )
        )
    return records


# Guidelines 16b and 81: "unemployment rate" with no word for its kind is the
# registered rate before 2018 and the surveyed rate from 2018 on (the year of the
# figure, else of the article); a sentence that speaks of a survey names the surveyed one.
BARE_RATE_ALIAS = "unemployment rate"
SURVEYED_RATE_FROM = 2018
_SURVEY = re.compile(r"\bsurvey", re.IGNORECASE)
_YEAR = re.compile(r"(?:19|20)\d\d")


def unemployment_rate_of_era(
    indicator: str, alias: str, sentence: str, period: str | None, article_year: int | None
) -> str:
    """The indicator of a figure whose nearest alias is the bare "unemployment rate"
    (the registered rate's alias): surveyed when the sentence speaks of a survey or
    the figure's year is 2018 or later, else ``indicator`` unchanged."""
    if indicator != "registered_unemployment_rate" or alias.lower() != BARE_RATE_ALIAS:
        return indicator
    if _SURVEY.search(sentence):
        return "surveyed_unemployment_rate"
    years = _YEAR.findall(period or "")
    year = int(years[-1]) if years else article_year
    return "surveyed_unemployment_rate" if year is not None and year >= SURVEYED_RATE_FROM else indicator


def _indicator(
    text: str, mention: Mention, clause: Clause, kind: str, inherited: str | None
) -> tuple[str, int, int]:
    own = _nearest_alias(text, clause.segment.start, clause.segment.end, mention)
    if own is not None:
        return own
    if kind in ("completion_rate", "change") and inherited:
        return inherited, -1, -1
    wider = _nearest_alias(text, clause.sentence.start, clause.sentence.end, mention)
    if wider is not None:
        return wider
    return "other", -1, -1
