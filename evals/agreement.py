"""`polex gold agree`: how far two labellings of the same articles agree, scored by
the very matcher that scores runs (labelling B as predictions, A as reference), on
the articles both labelled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polex.evals.eval_report import FieldScores
from polex.evals.harness import subset_f1
from polex.evals.loading import gold_span, load_gold
from polex.evals.scoring import COUNTS, Item, score_article, summarise
from polex.pipeline.inputs import decode
from polex.pipeline.spec import SchemaSpec


def agreement(gold_a: Path, gold_b: Path, articles_dir: Path, specs: list[SchemaSpec]) -> dict[str, Any]:
    a, b = load_gold(gold_a), load_gold(gold_b)
    shared = sorted(set(a) & set(b))
    texts = {i: decode(path.read_bytes())[0] for i in shared if (path := articles_dir / f"{i}.txt").is_file()}
    out: dict[str, Any] = {"articles": shared, "schemas": {}}
    for spec in specs:
        if not any(spec.name in a[i] for i in shared):
            continue
        scores = []
        for i in shared:
            text = texts.get(i)
            reference = [Item(r, gold_span(r, text)) for r in a[i].get(spec.name, [])]
            other = [Item(r, gold_span(r, text)) for r in b[i].get(spec.name, [])]
            scores.append(score_article(spec, i, other, reference))
        summary = summarise(spec, scores)
        row: dict[str, Any] = {
            "records_a": summary.n_gold,
            "records_b": summary.n_pred,
            "lenient_micro_f1": summary.records.lenient.micro.f1,
            "strict_micro_f1": summary.records.strict.micro.f1,
            # None, not 0, for a field neither labelling filled in (every value null on both sides)
            "fields_f1": {name: f.f1 if _scored(f) else None for name, f in summary.fields.items()},
        }
        if spec.quantity_field:
            row[f"{spec.quantity_field}_f1"] = subset_f1(scores, (spec.quantity_field,))
        for name, value in summary.set_f1.items():
            row[f"{name}_set_f1"] = value
        out["schemas"][spec.name] = row
    return out


def _scored(field: FieldScores) -> bool:
    """Whether any pair gave the field a verdict (a value on at least one side)."""
    return any(getattr(field, count) for count in COUNTS)
