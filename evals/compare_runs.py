"""`polex compare RUN_A RUN_B`: paired differences per metric with a paired
bootstrap interval (both runs resampled on the same articles, evals/bootstrap.py),
and the gold records each run gets right that the other does not."""

from __future__ import annotations

from typing import Any

import numpy as np

from polex.evals.bootstrap import article_interval, mean_difference
from polex.evals.harness import Evaluation
from polex.evals.scoring import ArticleScore, prf

COMPARE_SEED = 7


def _f1_per_article(articles: list[ArticleScore], level: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    tp = [a.lenient_tp if level == "lenient" else a.strict_tp for a in articles]
    return np.array(
        [prf(t, a.n_pred, a.n_gold)["f1"] for t, a in zip(tp, articles, strict=True)], dtype=float
    )


def _macro(f1: np.ndarray[Any, np.dtype[np.float64]]) -> float:
    return float(f1.mean()) if len(f1) else 0.0


def _right(articles: list[ArticleScore]) -> set[tuple[str, int]]:
    return {(a.article_id, p.gold) for a in articles for p in a.pairs if p.lenient and p.gold is not None}


def compare_runs(a: Evaluation, b: Evaluation, seed: int = COMPARE_SEED) -> dict[str, Any]:
    out: dict[str, Any] = {"run_a": a.report.run, "run_b": b.report.run, "schemas": {}}
    for name, scores_a in a.scores.items():
        scores_b = {s.article_id: s for s in b.scores.get(name, [])}
        first = [s for s in scores_a if s.article_id in scores_b]
        second = [scores_b[s.article_id] for s in first]
        schema: dict[str, Any] = {}
        for level in ("lenient", "strict"):
            f1_a, f1_b = _f1_per_article(first, level), _f1_per_article(second, level)
            schema[f"{level}_macro_f1"] = {
                "a": _macro(f1_a),
                "b": _macro(f1_b),
                "b_minus_a": _macro(f1_b) - _macro(f1_a),
                "interval_95": article_interval([f1_a, f1_b], mean_difference, seed),
            }
        right_a, right_b = _right(first), _right(second)
        gold_of = {(s.article_id, i): i for s in scores_a for i in range(s.n_gold)}
        schema["only_a_right"] = sorted([f"{aid}#{i}" for aid, i in right_a - right_b if (aid, i) in gold_of])
        schema["only_b_right"] = sorted([f"{aid}#{i}" for aid, i in right_b - right_a if (aid, i) in gold_of])
        out["schemas"][name] = schema
    return out
