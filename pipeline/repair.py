"""Repair before reject: what an LLM got wrong in a way the article itself can
settle is repaired deterministically and flagged, never silently changed and
never thrown away.

- a missing or textual quantity is read by the quantity engine from the evidence,
  when the evidence holds exactly one number of interest;
- a choice outside a field's list maps to it through a synonym ("people" ->
  persons, "%" -> percent), else becomes ``other`` (the model's label kept in the
  flag) when the list has ``other``;
- a relative period ("last year", "this year") is resolved from the article's year,
  or left null with a flag when the year is unknown;
- a comparator that disagrees with the words around the number takes the text's.

Only what cannot be grounded (evidence not in the article, a value not in the
evidence) is left for grounding to reject."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel

from polex.pipeline.checks import matching_mention, mentions_for
from polex.pipeline.grounding import locate
from polex.pipeline.periods import article_year, period_in
from polex.pipeline.quantities import find_mentions
from polex.pipeline.records import ArticleContext, Finding, flag
from polex.pipeline.spec import SchemaSpec

# Words models write for a choice, by the choice they mean (matched after lower-casing
# and turning spaces and hyphens into underscores).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "persons": ("people", "person", "persons", "individuals", "workers", "jobs", "residents", "graduates"),
    "person_times": ("person_time", "person_times", "persontimes", "times", "visits"),
    "posts": ("positions", "vacancies", "job_posts", "job_positions", "openings"),
    "households": ("household", "families", "family"),
    "enterprises": ("enterprise", "companies", "company", "firms", "employers", "businesses"),
    "yuan": ("rmb", "cny", "yuan_rmb", "rmb_yuan", "yuan"),
    "percent": ("%", "percentage", "per_cent", "pct"),
    "percentage_points": ("percentage_point", "points", "point", "pp", "ppt"),
    "events": ("event", "fairs", "job_fairs", "sessions"),
    "facilities": ("facility", "centres", "centers", "stations"),
}

_RELATIVE_YEARS = {"this year": 0, "the current year": 0, "last year": -1, "the previous year": -1}
_RELATIVE_YEARS |= {"next year": 1, "the coming year": 1, "the past year": -1}


@dataclass(frozen=True)
class Repair:
    """One deterministic repair of one field of a record."""

    kind: str
    field: str
    before: Any
    after: Any

    def finding(self) -> Finding:
        return flag(
            f"repaired_{self.kind}",
            f"{self.field}: the model wrote {self.before!r}; repaired to {self.after!r} ({self.kind})",
        )


@dataclass(frozen=True)
class FieldChoices:
    choices: tuple[str, ...]
    nullable: bool


@cache
def field_choices(model: type[BaseModel]) -> dict[str, FieldChoices]:
    """The single-choice fields of a model and their choices, from its JSON schema."""
    out: dict[str, FieldChoices] = {}
    for name, prop in model.model_json_schema().get("properties", {}).items():
        options = [prop, *prop.get("anyOf", [])]
        choices = next((o["enum"] for o in options if "enum" in o), None)
        if choices:
            nullable = any(o.get("type") == "null" for o in options)
            out[name] = FieldChoices(tuple(str(c) for c in choices), nullable)
    return out


def _key(word: str) -> str:
    return re.sub(r"[\s\-]+", "_", word.strip().lower())


def _repair_choice(name: str, value: Any, field: FieldChoices) -> tuple[Any, Repair | None]:
    if value is None and field.nullable:
        return value, None
    if isinstance(value, str) and value in field.choices:
        return value, None
    key = _key(str(value))
    for choice in field.choices:
        if key == choice or key in SYNONYMS.get(choice, ()) or key.rstrip("s") == choice:
            return choice, Repair("synonym", name, value, choice)
    if "other" in field.choices:
        return "other", Repair("unknown_choice", name, value, "other")
    return value, None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _repair_quantity(
    name: str, value: Any, evidence_span: tuple[int, int] | None, ctx: ArticleContext
) -> tuple[Any, Repair | None]:
    """A missing or textual quantity, read by the quantity engine."""
    if _number(value) is not None:
        return value, None
    if isinstance(value, str):
        written = [m for m in find_mentions(value) if m.role in ("quantity", "stray")]
        if len(written) == 1:
            return written[0].value, Repair("value_read", name, value, written[0].value)
    if evidence_span is None:
        return value, None
    of_interest = [m for m in mentions_for(ctx, evidence_span) if m.of_interest]
    if len(of_interest) == 1:
        return of_interest[0].value, Repair("value_from_evidence", name, value, of_interest[0].value)
    return value, None


def _repair_period(value: Any, ctx: ArticleContext, pattern: str | None) -> tuple[Any, Repair | None]:
    if value is None or (isinstance(value, str) and pattern and re.fullmatch(pattern, value)):
        return value, None
    text = str(value).strip()
    year = article_year(ctx.text, ctx.article.metadata)
    offset = _RELATIVE_YEARS.get(text.lower())
    if offset is not None:
        resolved = None if year is None else str(year + offset)
        return resolved, Repair(
            "period_resolved" if resolved else "period_unknown", "period", value, resolved
        )
    read = period_in(text, year)
    if read is not None and (pattern is None or re.fullmatch(pattern, read)):
        return read, Repair("period_resolved", "period", value, read)
    return None, Repair("period_unknown", "period", value, None)


def _repair_comparator(
    comparator: Any, value: float, evidence_span: tuple[int, int], ctx: ArticleContext
) -> tuple[Any, Repair | None]:
    """The comparator the words around the number say ("more than" -> at_least)."""
    found = matching_mention(value, mentions_for(ctx, evidence_span))
    if found is None or not found[0].of_interest or comparator == found[0].comparator:
        return comparator, None
    return found[0].comparator, Repair("comparator_from_text", "comparator", comparator, found[0].comparator)


def _period_pattern(model: type[BaseModel]) -> str | None:
    prop = model.model_json_schema().get("properties", {}).get("period", {})
    for option in [prop, *prop.get("anyOf", [])]:
        if "pattern" in option:
            return str(option["pattern"])
    return None


def repair_record(
    raw: dict[str, Any], spec: SchemaSpec, ctx: ArticleContext
) -> tuple[dict[str, Any], list[Repair]]:
    """The record with every deterministic repair applied, and the repairs made."""
    record = dict(raw)
    repairs: list[Repair] = []

    def apply(name: str, result: tuple[Any, Repair | None]) -> None:
        value, repair = result
        if repair is not None:
            record[name] = value
            repairs.append(repair)

    for name, field in field_choices(spec.model).items():
        if name in record:
            apply(name, _repair_choice(name, record[name], field))
    if "period" in spec.model.model_fields and "period" in record:
        apply("period", _repair_period(record["period"], ctx, _period_pattern(spec.model)))
    evidence = record.get("evidence")
    span = locate(evidence, ctx.text) if isinstance(evidence, str) else None
    evidence_span = (span[0], span[1]) if span else None
    quantity = spec.quantity_field
    if quantity:
        apply(quantity, _repair_quantity(quantity, record.get(quantity), evidence_span, ctx))
        value = _number(record.get(quantity))
        if "comparator" in spec.model.model_fields and value is not None and evidence_span is not None:
            apply("comparator", _repair_comparator(record.get("comparator", "eq"), value, evidence_span, ctx))
    return record, repairs
