"""Grounding checks of one QuantitativeTarget against the quantity engine. An error
goes back to the model as feedback (and, if it persists, rejects the record); a
flag travels with the kept record."""

from __future__ import annotations

import math
from typing import cast

from pydantic import BaseModel

from pipeline.quantities import Mention, find_mentions
from pipeline.records import ArticleContext, Finding, error, flag
from schemas.quantitative_target.cues import clause_of, read_cues
from schemas.quantitative_target.model import QuantitativeTarget

_WRITTEN_UNITS = {"percent", "percentage_points", "yuan", "person_times"}


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def matching_mention(value: float, mentions: list[Mention]) -> tuple[Mention, float] | None:
    """The mention (quantities of interest first) one of whose readings is ``value``."""
    ordered = sorted(mentions, key=lambda m: not m.of_interest)
    for mention in ordered:
        for reading in mention.readings:
            if _close(abs(value), abs(reading)):
                return mention, reading
    return None


def _mentions_for(ctx: ArticleContext, span: tuple[int, int]) -> list[Mention]:
    inside = ctx.mentions_in(*span)
    overlapping = [m for m in ctx.mentions if m.start < span[1] and m.end > span[0] and m not in inside]
    return inside + overlapping or find_mentions(ctx.text[span[0] : span[1]])


def check_quantity(model: BaseModel, ctx: ArticleContext, span: tuple[int, int]) -> list[Finding]:
    """The check the spec registers: the pipeline hands it the validated model."""
    record = cast(QuantitativeTarget, model)
    value = record.value
    mentions = _mentions_for(ctx, span)
    found = matching_mention(value, mentions)
    if found is None:
        written = ", ".join(f"'{m.text}' = {m.value:g}" for m in mentions if m.of_interest) or "no number"
        return [
            error(
                "value_not_in_evidence",
                f"value {value:g} cannot be read off a number in the evidence "
                f"(the evidence has {written}); copy the clause that holds the number, and normalise "
                "it (million = 1000000, 10,000 after a number = x10000)",
            )
        ]
    mention, reading = found
    if not mention.of_interest:
        return [
            error(
                "not_a_quantity",
                f"'{mention.text}' is a {mention.role.replace('_', ' ')}, "
                "not a figure of employment policy; do not extract it",
            )
        ]
    findings: list[Finding] = []
    findings.extend(_check_unit(record, mention))
    findings.extend(_check_comparator(record, mention))
    findings.extend(_check_kind(record, mention, ctx))
    findings.extend(_artefact_flags(mention, reading))
    return findings


def _check_unit(record: QuantitativeTarget, mention: Mention) -> list[Finding]:
    unit = record.unit
    if mention.unit_explicit and mention.unit != unit:
        return [
            error(
                "unit_mismatch",
                f"unit '{unit}' disagrees with the text '{mention.text}', which is in {mention.unit}",
            )
        ]
    if unit in _WRITTEN_UNITS and not mention.unit_explicit:
        return [error("unit_not_written", f"unit '{unit}' is not written with '{mention.text}' in the text")]
    return []


def _check_comparator(record: QuantitativeTarget, mention: Mention) -> list[Finding]:
    comparator = record.comparator
    if comparator != mention.comparator:
        return [
            error(
                "comparator_mismatch",
                f"comparator '{comparator}' disagrees with the text: the words "
                f"around '{mention.text}' make it '{mention.comparator}'",
            )
        ]
    return []


def _check_kind(record: QuantitativeTarget, mention: Mention, ctx: ArticleContext) -> list[Finding]:
    kind, value = record.kind, record.value
    cues = read_cues(ctx.text, mention, clause_of(ctx.text, mention))
    where = f"'{mention.text}'"
    if cues.completion and kind != "completion_rate":
        return [
            error(
                "kind_contradicted",
                f"{where} is achieved as a share of a target: kind must be completion_rate",
            )
        ]
    if kind == "completion_rate" and not cues.completion and mention.unit != "percent":
        return [error("kind_contradicted", f"{where} is not a percentage of a target: not a completion_rate")]
    if cues.change and kind not in ("change", "target"):
        return [
            error(
                "kind_contradicted",
                f"{where} is a difference ('increase of', 'than', 'year-on-year'): kind must be change",
            )
        ]
    if kind == "change" and cues.change and (value < 0) != cues.negative:
        sign = "negative (a decrease or 'lower than')" if cues.negative else "positive (an increase)"
        return [error("sign_contradicted", f"{where} is a change whose value must be {sign}")]
    if kind == "target" and cues.actual and not cues.target and not cues.change:
        return [
            error(
                "kind_contradicted",
                f"{where} is reported as achieved ('were created', 'reached'): "
                "kind must be actual, not target",
            )
        ]
    if kind == "actual" and cues.target and not cues.actual:
        return [
            error("kind_contradicted", f"{where} is a goal ('will', 'ensure', 'strive'): kind must be target")
        ]
    return []


def _artefact_flags(mention: Mention, reading: float) -> list[Finding]:
    findings = [flag(f"mt_{a.kind}", a.note, a.readings) for a in mention.artefacts]
    if not _close(reading, mention.literal) and mention.artefacts:
        findings.append(
            flag(
                "value_reinterpreted",
                f"'{mention.text}' is written as {mention.literal:g}; the record reads it as {reading:g}",
                (mention.literal, reading),
            )
        )
    return findings
