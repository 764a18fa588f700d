"""Where PolicyMeasure records are lost, counted on a dev cross-validation run
(scripts/dev_crossval.py --schema PolicyMeasure): dev errors only, safe to study.

    python scripts/pm_dev_losses.py runs/dev-cv-pm [--show spurious]

Lenient losses, per gold and predicted record the scorer left unmatched:
  missed      a gold measure no predicted record overlaps (its sentence was dropped)
  category    a gold measure overlapped only by records of other categories
  merged      a gold measure overlapped by a record of its category that the scorer
              paired with another gold measure (several measures in one record)
  spurious    a predicted record that overlaps no gold measure, by what its sentence is
  duplicate   a predicted record overlapping a gold measure of its category that
              another record already matched (one measure split into several records)
  wrong-cat   a predicted record overlapping gold measures of other categories only
Then, per category, the article sets' misses and spurious values."""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from polex.evals.corpus import CORPUS_DIR
from polex.evals.loading import gold_span
from polex.evals.scoring import Item, score_article
from polex.pipeline.registry import select

_MODAL = re.compile(r"\b(will|shall|should|must|plans? to|strive|aims? to|encourag\w*|support\w*)\b", re.I)
_FIGURE = re.compile(r"\d")


def overlaps(a: tuple[int, int] | None, b: tuple[int, int] | None) -> bool:
    return a is not None and b is not None and a[0] < b[1] and b[0] < a[1]


def sentence_kind(text: str, span: tuple[int, int]) -> str:
    """A coarse description of a spurious record's sentence."""
    if "\n" not in text[: span[0]].strip():
        return "headline/first line"
    words = text[span[0] : span[1]]
    parts = ["figure" if _FIGURE.search(words) else "no-figure"]
    parts.append("modal" if _MODAL.search(words) else "no-modal")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path)
    parser.add_argument("--show", choices=("missed", "category", "spurious", "merged", "duplicate"))
    args = parser.parse_args()
    (spec,) = select(["PolicyMeasure"], [])
    rows: dict[str, list[dict[str, Any]]] = {}
    for line in (args.run / "PolicyMeasure.jsonl").read_text("utf-8").splitlines():
        row = json.loads(line)
        rows.setdefault(row["article_id"], []).append(row)
    articles = [a["id"] for a in json.loads((args.run / "manifest.json").read_text())["articles"]]
    counts: Counter[str] = Counter()
    spurious_kinds: Counter[str] = Counter()
    set_missed: Counter[str] = Counter()
    set_spurious: Counter[str] = Counter()
    set_right: Counter[str] = Counter()
    shown = []
    for article_id in articles:
        text = (CORPUS_DIR / "articles" / f"{article_id}.txt").read_text("utf-8")
        gold_records = json.loads((CORPUS_DIR / "gold" / f"{article_id}.json").read_text()).get(
            "PolicyMeasure", []
        )
        preds = [Item(r["record"], (r["char_start"], r["char_end"])) for r in rows.get(article_id, [])]
        golds = [Item(g, gold_span(g, text)) for g in gold_records]
        score = score_article(spec, article_id, preds, golds)
        lenient = {(p.gold, p.pred) for p in score.pairs if p.lenient}
        gold_ok = {g for g, _ in lenient}
        pred_ok = {p for _, p in lenient}
        counts["gold"] += len(golds)
        counts["pred"] += len(preds)
        counts["lenient"] += len(lenient)
        for gi, gold in enumerate(golds):
            if gi in gold_ok:
                continue
            over = [pi for pi, p in enumerate(preds) if overlaps(p.span, gold.span)]
            same = [pi for pi in over if preds[pi].record["category"] == gold.record["category"]]
            kind = "missed" if not over else "merged" if same else "category"
            if kind == "category" and any(pi in pred_ok for pi in over):
                kind = "category, its sentence's record matched another measure"
            counts[kind] += 1
            if args.show == kind:
                shown.append((article_id, gold.record["category"], gold.record["evidence"]))
        for pi, pred in enumerate(preds):
            if pi in pred_ok:
                continue
            over = [gi for gi, g in enumerate(golds) if overlaps(pred.span, g.span)]
            same = [gi for gi in over if golds[gi].record["category"] == pred.record["category"]]
            kind = "spurious" if not over else "duplicate" if same else "wrong-cat"
            counts[kind] += 1
            if kind == "spurious" and pred.span is not None:
                spurious_kinds[sentence_kind(text, pred.span)] += 1
            if args.show == kind:
                shown.append((article_id, pred.record["category"], pred.record["evidence"]))
        predicted, wanted = score.sets["category"]
        for value in wanted - predicted:
            set_missed[value] += 1
        for value in predicted - wanted:
            set_spurious[value] += 1
        for value in predicted & wanted:
            set_right[value] += 1
    print(json.dumps(dict(counts)))
    print("spurious sentences:", json.dumps(dict(spurious_kinds.most_common())))
    print(f"{'category':34} right missed spurious")
    for value in sorted(set(set_missed) | set(set_spurious) | set(set_right)):
        print(f"{value:34} {set_right[value]:5} {set_missed[value]:6} {set_spurious[value]:8}")
    for article_id, category, evidence in shown:
        print(f"- {article_id} [{category}] {evidence[:200]!r}")


if __name__ == "__main__":
    main()
