"""Ties records to the exact characters of their article.

The pipeline, never the model, computes offsets. Evidence must occur in the article
verbatim, tolerating only whitespace, quote-style and case differences; every other
difference makes the record invalid. A schema's own checks (e.g. "the value is a
number inside the evidence") run here too, so the LLM path, the offline path and
`polex gold check` apply one and the same rule set."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ValidationError

from polex.pipeline.records import (
    Alignment,
    ArticleContext,
    Finding,
    GroundedRecord,
    RejectedRecord,
)
from polex.pipeline.spec import SchemaSpec

_QUOTES = str.maketrans(
    {"“": '"', "”": '"', "„": '"', "‟": '"', "‘": "'", "’": "'", "‚": "'", "‛": "'", "`": "'"}
)


def _normalise_char(ch: str) -> str:
    return ch.translate(_QUOTES).lower()


@lru_cache(maxsize=64)
def _normalised_with_map(text: str) -> tuple[str, tuple[int, ...]]:
    """The text lower-cased, quotes unified and whitespace runs collapsed to one
    space, with the original index of every kept character."""
    out: list[str] = []
    index: list[int] = []
    in_space = False
    for i, ch in enumerate(text):
        if ch.isspace():
            if not in_space and out:
                out.append(" ")
                index.append(i)
            in_space = True
            continue
        in_space = False
        out.append(_normalise_char(ch))
        index.append(i)
    return "".join(out), tuple(index)


def _normalise(fragment: str) -> str:
    return _normalised_with_map(fragment.strip())[0].strip()


def locate(evidence: str, text: str, hint: int = 0) -> tuple[int, int, Alignment] | None:
    """Where ``evidence`` occurs in ``text``: (start, end, alignment) or None.
    Prefers the occurrence at or after ``hint`` (the chunk the record came from)."""
    needle = evidence.strip()
    if not needle:
        return None
    found = text.find(needle, hint)
    if found < 0:
        found = text.find(needle)
    if found >= 0:
        return found, found + len(needle), "exact"
    norm_text, index = _normalised_with_map(text)
    norm_needle = _normalise(needle)
    if not norm_needle:
        return None
    norm_hint = next((k for k, i in enumerate(index) if i >= hint), 0)
    pos = norm_text.find(norm_needle, norm_hint)
    if pos < 0:
        pos = norm_text.find(norm_needle)
    if pos < 0:
        return None
    start = index[pos]
    end = index[pos + len(norm_needle) - 1] + 1
    return start, end, "normalised"


def validation_errors(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}" for e in exc.errors()]


def check_record(
    record: BaseModel, spec: SchemaSpec, ctx: ArticleContext, hint: int = 0
) -> tuple[tuple[int, int, Alignment] | None, list[Finding]]:
    """Locate a validated record's evidence and run the schema's checks on it."""
    evidence = str(getattr(record, "evidence", "") or "")
    span = locate(evidence, ctx.text, hint)
    if span is None:
        shown = evidence if len(evidence) <= 120 else evidence[:117] + "..."
        return None, [Finding("error", "evidence_not_found", f"evidence not found in the article: {shown!r}")]
    findings: list[Finding] = []
    for check in spec.checks:
        findings.extend(check(record, ctx, (span[0], span[1])))
    return span, findings


def record_problems(record: BaseModel, spec: SchemaSpec, ctx: ArticleContext) -> list[str]:
    """The errors that make a record invalid, as sentences a model can act on."""
    _, findings = check_record(record, spec, ctx)
    return [f.message for f in findings if f.severity == "error"]


def ground(
    candidates: Iterable[BaseModel | dict[str, Any]],
    spec: SchemaSpec,
    ctx: ArticleContext,
    hint: int = 0,
    confidence: float | None = None,
) -> tuple[list[GroundedRecord], list[RejectedRecord]]:
    """Validate, locate and check candidate records; invalid ones are rejected with
    their reasons, never dropped."""
    kept: list[GroundedRecord] = []
    rejected: list[RejectedRecord] = []
    article_id = ctx.article.id
    for candidate in candidates:
        if isinstance(candidate, BaseModel):
            model = candidate
        else:
            try:
                model = spec.model.model_validate(candidate)
            except ValidationError as exc:
                rejected.append(RejectedRecord(article_id, spec.name, candidate, validation_errors(exc)))
                continue
        span, findings = check_record(model, spec, ctx, hint)
        errors = [f.message for f in findings if f.severity == "error"]
        if span is None or errors:
            rejected.append(RejectedRecord(article_id, spec.name, model.model_dump(mode="json"), errors))
            continue
        kept.append(
            GroundedRecord(
                article_id=article_id,
                schema=spec.name,
                record=model.model_dump(mode="json"),
                char_start=span[0],
                char_end=span[1],
                alignment=span[2],
                flags=[f for f in findings if f.severity == "flag"],
                confidence=confidence,
            )
        )
    return kept, rejected


def _same_record(a: GroundedRecord, b: GroundedRecord, fields: tuple[str, ...]) -> bool:
    """Equal on every identity field, an empty field matching anything: a figure seen
    in two overlapping chunks may have its period or region in one chunk only."""
    for name in fields:
        x, y = a.record.get(name), b.record.get(name)
        if x not in (None, "", []) and y not in (None, "", []) and repr(x) != repr(y):
            return False
    return True


def _filled(record: GroundedRecord) -> int:
    return sum(v not in (None, "", []) for v in record.record.values())


def deduplicate(records: list[GroundedRecord], spec: SchemaSpec) -> list[GroundedRecord]:
    """One record per identity (a figure repeated verbatim, or found again in an
    overlapping chunk). The most complete version is kept, at the first place the
    record occurs; the other places are remembered in ``also_at``."""
    kept: list[GroundedRecord] = []
    for record in sorted(records, key=lambda r: (r.char_start, r.char_end)):
        twin = next((k for k in kept if _same_record(k, record, spec.identity_fields)), None)
        if twin is None:
            kept.append(record)
            continue
        if _filled(record) > _filled(twin):
            twin.record = record.record
            twin.flags = record.flags
        if (record.char_start, record.char_end) not in twin.spans:
            twin.also_at.append((record.char_start, record.char_end))
    return kept


def apply_article_checks(records: list[GroundedRecord], spec: SchemaSpec, ctx: ArticleContext) -> None:
    """Consistency checks across the records of one article become flags."""
    for article_check in spec.article_checks:
        per_record = article_check([r.record for r in records], ctx)
        for record, findings in zip(records, per_record, strict=True):
            record.flags.extend(findings)
