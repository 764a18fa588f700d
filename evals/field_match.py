"""Field comparison as each schema declares it (polex.pipeline.spec.FieldScore): a
similarity in [0, 1] for matching, and a verdict (correct or not) for counting."""

from __future__ import annotations

import math
import re
from typing import Any

from polex.pipeline.places import normalise_region
from polex.pipeline.spec import FieldScore

Span = tuple[int, int]


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def token_f1(a: str, b: str) -> float:
    ta, tb = _tokens(a), _tokens(b)
    if not ta or not tb:
        return float(ta == tb)
    common = 0
    pool = list(tb)
    for token in ta:
        if token in pool:
            pool.remove(token)
            common += 1
    if not common:
        return 0.0
    p, r = common / len(ta), common / len(tb)
    return 2 * p * r / (p + r)


def jaccard(a: list[Any], b: list[Any]) -> float:
    sa, sb = set(a or []), set(b or [])
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def span_overlap(a: Span | None, b: Span | None, text_a: str, text_b: str) -> float:
    """Overlap coefficient of two character spans; of token sets when a span is unknown."""
    if a is not None and b is not None:
        inter = min(a[1], b[1]) - max(a[0], b[0])
        if inter <= 0:
            return 0.0
        return inter / max(1, min(a[1] - a[0], b[1] - b[0]))
    ta, tb = set(_tokens(text_a)), set(_tokens(text_b))
    if not ta or not tb:
        return 0.0
    return len(ta & tb) / min(len(ta), len(tb))


def numeric_equal(pred: Any, gold: Any, tolerance: float, candidates: list[Any] | None = None) -> bool:
    if not isinstance(pred, int | float) or pred is True or pred is False:
        return False
    options = [gold, *(candidates or [])]
    return any(
        isinstance(g, int | float)
        and math.isclose(float(pred), float(g), rel_tol=tolerance, abs_tol=tolerance)
        for g in options
    )


def normalise_period(value: Any) -> str | None:
    if value is None:
        return None
    return re.sub(r"\s+", "", str(value)) or None


def normalise_text(value: Any) -> str:
    return " ".join(str(value).lower().split())


def compare(
    field: FieldScore,
    pred: dict[str, Any],
    gold: dict[str, Any],
    pred_span: Span | None = None,
    gold_span: Span | None = None,
) -> tuple[float, bool]:
    """(similarity, correct) of one field of a predicted and a gold record."""
    p, g = pred.get(field.name), gold.get(field.name)
    if field.match == "numeric":
        ok = numeric_equal(p, g, field.tolerance, gold.get(f"{field.name}_candidates"))
        return float(ok), ok
    if field.match == "text":
        sim = token_f1(str(p or ""), str(g or ""))
        return sim, sim >= field.threshold
    if field.match == "set":
        sim = jaccard(list(p or []), list(g or []))
        return sim, sim >= field.threshold
    if field.match == "span":
        sim = span_overlap(pred_span, gold_span, str(p or ""), str(g or ""))
        return sim, sim > field.threshold
    # An uncertain gold field accepts any of its candidate readings (GUIDELINES:
    # `<field>_candidates`), for labels as for numbers.
    options = [g, *gold.get(f"{field.name}_candidates", [])]
    if field.match == "region":
        ok = any(normalise_region(p) == normalise_region(o) for o in options)
        return float(ok), ok
    if field.match == "period":
        ok = any(normalise_period(p) == normalise_period(o) for o in options)
        return float(ok), ok
    ok = any(_same_label(p, o) for o in options)
    return float(ok), ok


def _same_label(pred: Any, gold: Any) -> bool:
    if pred is None or gold is None:
        return pred is None and gold is None
    return normalise_text(pred) == normalise_text(gold)
