"""How well the core's readers read the period and region of the dev split's gold
figures, classifiers left out: each gold record of a schema with a quantity field is
anchored at the mention candidate its value and evidence point to, and the period and
region the offline extractor would give a record there are compared with the gold's
(its `period_candidates` / `region_candidates` accepted, as the scorer does).

    python scripts/dev_period_region.py [--schema QuantitativeTarget] [--errors out.tsv]

Dev articles only (the test split stays unseen). A fast check of a reader change
before the slower scripts/dev_crossval.py, which scores the same fields on the
records a trained model keeps.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

from polex.evals.corpus import CORPUS_DIR, MANIFEST_NAME, load_manifest
from polex.evals.field_match import compare
from polex.pipeline.grounding import locate
from polex.pipeline.learning.candidates import Candidate, mention_candidates
from polex.pipeline.learning.extract import candidate_region, figure_period
from polex.pipeline.periods import metadata_year, relative_year
from polex.pipeline.places import article_region
from polex.pipeline.records import Article, ArticleContext
from polex.pipeline.registry import select
from polex.pipeline.spec import FieldScore

FIELDS = ("period", "region")


def anchor(ctx: ArticleContext, record: dict[str, Any], value_field: str) -> Candidate | None:
    """The mention candidate a gold record stands on: its value read at a mention
    inside the record's evidence (the first such)."""
    located = locate(str(record.get("evidence", "")), ctx.text, 0)
    value = record.get(value_field)
    if located is None or not isinstance(value, int | float):
        return None
    for candidate in mention_candidates(ctx):
        mention = candidate.mention
        if mention is None or not located[0] <= mention.start < located[1]:
            continue
        if any(abs(abs(value) - abs(x)) <= 1e-6 * max(1.0, abs(x)) for x in mention.readings):
            return candidate
    return None


def verdict(predicted: Any, gold: dict[str, Any], name: str) -> str:
    """correct / both_empty / missing / spurious / incorrect, as the scorer counts."""
    ok = compare(FieldScore(name, name), {name: predicted}, gold)[1]
    if predicted is None and gold.get(name) is None:
        return "both_empty" if ok else "missing"
    if ok:
        return "correct"
    if gold.get(name) is None:
        return "spurious"
    return "missing" if predicted is None else "incorrect"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schema", default="QuantitativeTarget")
    parser.add_argument("--errors", type=Path, default=None, help="write every error as TSV")
    args = parser.parse_args()
    (spec,) = select([args.schema], [])
    assert spec.quantity_field, f"{spec.name} has no quantity field"
    rows = [r for r in load_manifest(CORPUS_DIR / MANIFEST_NAME) if r.split == "dev"]
    counts: dict[tuple[str, str], Counter[str]] = {}
    errors: list[dict[str, Any]] = []
    unanchored = 0
    for row in rows:
        text = (CORPUS_DIR / "articles" / f"{row.id}.txt").read_text("utf-8")
        gold = json.loads((CORPUS_DIR / "gold" / f"{row.id}.json").read_text("utf-8"))
        ctx = ArticleContext(Article(row.id, text, source=f"{row.id}.txt"))
        year = relative_year(text, metadata_year(ctx.article.metadata))
        region = article_region(text)
        for record in gold.get(spec.name, []):
            candidate = anchor(ctx, record, spec.quantity_field)
            if candidate is None:
                unanchored += 1
                continue
            predicted = {
                "period": figure_period(ctx, candidate, year),
                "region": candidate_region(ctx, candidate, region),
            }
            for name in FIELDS:
                found = verdict(predicted[name], record, name)
                for origin in (row.origin, "all"):
                    counts.setdefault((origin, name), Counter())[found] += 1
                if found not in ("correct", "both_empty"):
                    errors.append(
                        {
                            "article": row.id,
                            "origin": row.origin,
                            "field": name,
                            "verdict": found,
                            "predicted": predicted[name],
                            "gold": record.get(name),
                            "candidates": record.get(f"{name}_candidates"),
                            "evidence": str(record.get("evidence", ""))[:160],
                        }
                    )
    print(f"{len(rows)} dev articles; gold records with no anchoring candidate: {unanchored}")
    for (origin, name), c in sorted(counts.items()):
        total = sum(c.values())
        right = c["correct"] + c["both_empty"]
        verdicts = ("correct", "both_empty", "missing", "incorrect", "spurious")
        detail = " ".join(f"{k}={c[k]}" for k in verdicts)
        print(f"{origin:18} {name:7} accuracy {100 * right / total:5.1f} ({right}/{total})  {detail}")
    if args.errors:
        with args.errors.open("w", newline="", encoding="utf-8") as handle:
            columns = list(errors[0]) if errors else ["article"]
            writer = csv.DictWriter(handle, fieldnames=columns, delimiter="\t")
            writer.writeheader()
            writer.writerows(errors)


if __name__ == "__main__":
    main()
