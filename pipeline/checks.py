"""Checks a schema can reuse. ``number_in_evidence("amount", unit="yuan")`` is a
check that the record's amount can be read off a number of interest inside its
evidence (in yuan), with machine-translation artefacts flagged."""

from __future__ import annotations

import math

from pydantic import BaseModel

from polex.pipeline.quantities import Mention, find_mentions
from polex.pipeline.records import ArticleContext, Finding, error, flag
from polex.pipeline.spec import Check


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def mentions_for(ctx: ArticleContext, span: tuple[int, int]) -> list[Mention]:
    """The engine's mentions inside an evidence span (or overlapping it)."""
    inside = ctx.mentions_in(*span)
    overlapping = [m for m in ctx.mentions if m.start < span[1] and m.end > span[0] and m not in inside]
    return inside + overlapping or find_mentions(ctx.text[span[0] : span[1]])


def matching_mention(value: float, mentions: list[Mention]) -> tuple[Mention, float] | None:
    """The mention (quantities of interest first) one of whose readings is ``value``
    (a signed change matches the unsigned number written)."""
    ordered = sorted(mentions, key=lambda m: not m.of_interest)
    for mention in ordered:
        for reading in mention.readings:
            if close(abs(value), abs(reading)):
                return mention, reading
    return None


def not_found(field: str, value: float, mentions: list[Mention]) -> Finding:
    written = ", ".join(f"'{m.text}' = {m.value:g}" for m in mentions if m.of_interest) or "no number"
    return error(
        "value_not_in_evidence",
        f"{field} {value:g} cannot be read off a number in the evidence (the evidence has {written}); "
        "copy the clause that holds the number, and normalise it (million = 1000000, 10,000 after a "
        "number = x10000)",
    )


def not_a_quantity(mention: Mention) -> Finding:
    return error(
        "not_a_quantity",
        f"'{mention.text}' is a {mention.role.replace('_', ' ')}, not a figure of employment policy; "
        "do not extract it",
    )


def artefact_flags(mention: Mention, reading: float) -> list[Finding]:
    """Flags for the artefacts of the mention a record was read from."""
    findings = [flag(f"mt_{a.kind}", a.note, a.readings) for a in mention.artefacts]
    if not close(reading, mention.literal) and mention.artefacts:
        findings.append(
            flag(
                "value_reinterpreted",
                f"'{mention.text}' is written as {mention.literal:g}; the record reads it as {reading:g}",
                (mention.literal, reading),
            )
        )
    return findings


def number_in_evidence(field: str, unit: str | None = None) -> Check:
    """A check that ``field`` (if set) is a number of interest inside the evidence,
    written in ``unit`` when one is given."""

    def check(record: BaseModel, ctx: ArticleContext, span: tuple[int, int]) -> list[Finding]:
        value = getattr(record, field, None)
        if value is None:
            return []
        mentions = mentions_for(ctx, span)
        found = matching_mention(float(value), mentions)
        if found is None:
            return [not_found(field, float(value), mentions)]
        mention, reading = found
        if not mention.of_interest:
            return [not_a_quantity(mention)]
        if unit is not None and mention.unit != unit:
            return [
                error("quantity_not_in_unit", f"{field} must be a figure in {unit}; '{mention.text}' is not")
            ]
        return artefact_flags(mention, reading)

    check.__name__ = f"number_in_evidence_{field}"
    return check
