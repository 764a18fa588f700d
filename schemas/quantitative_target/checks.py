"""Grounding checks of one QuantitativeTarget against the quantity engine. An error
goes back to the model as feedback (and, if it persists, rejects the record); a
flag travels with the kept record."""

from __future__ import annotations

import re
from typing import cast

from pydantic import BaseModel

from polex.pipeline.checks import artefact_flags, matching_mention, mentions_for, not_a_quantity, not_found
from polex.pipeline.quantities import Mention
from polex.pipeline.records import ArticleContext, Finding, error
from polex.schemas.quantitative_target.cues import clause_of, read_cues
from polex.schemas.quantitative_target.model import QuantitativeTarget

_WRITTEN_UNITS = {"percent", "percentage_points", "yuan", "person_times"}
# A plan or a deadline in the sentence: "by the end of the 13th Five-Year Plan ...
# reached 98%" states a goal in a translated plan (guidelines rule 43), so a result
# word there does not contradict the kind `target`.
_PLAN_OR_DEADLINE = re.compile(
    r"\bfive[- ]year\b|\bby the end of\b|\bby (?:19|20)\d\d\b|\bplan(?:ning)? period\b", re.IGNORECASE
)


def check_quantity(model: BaseModel, ctx: ArticleContext, span: tuple[int, int]) -> list[Finding]:
    """The check the spec registers: the pipeline hands it the validated model."""
    record = cast(QuantitativeTarget, model)
    value = record.value
    mentions = mentions_for(ctx, span)
    found = matching_mention(value, mentions)
    if found is None:
        return [not_found("value", value, mentions)]
    mention, reading = found
    if not mention.of_interest:
        return [not_a_quantity(mention)]
    findings: list[Finding] = []
    findings.extend(_check_unit(record, mention))
    findings.extend(_check_comparator(record, mention))
    findings.extend(_check_kind(record, mention, ctx))
    findings.extend(artefact_flags(mention, reading))
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


_SPAN_OF_YEARS = re.compile(r"\d{4}/\d{4}")


def _plan_or_deadline(record: QuantitativeTarget, ctx: ArticleContext, mention: Mention) -> bool:
    """Whether the figure is set in a plan (its period is a span of years) or the
    sentence before it names a plan or a deadline."""
    if _SPAN_OF_YEARS.fullmatch(record.period or ""):
        return True
    sentence = clause_of(ctx.text, mention).sentence
    return _PLAN_OR_DEADLINE.search(ctx.text, sentence.start, mention.start) is not None


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
    if (
        kind == "target"
        and cues.actual
        and not cues.target
        and not cues.change
        and not _plan_or_deadline(record, ctx, mention)
    ):
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
