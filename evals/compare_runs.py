"""`polex compare RUN_A RUN_B`: paired differences per metric with a paired
bootstrap interval (both runs resampled on the same articles), and the gold
records each run gets right that the other does not."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from evals.harness import Evaluation
from evals.scoring import ArticleScore, prf

SAMPLES = 1000


def _macro(articles: list[ArticleScore], level: str) -> float:
    scores = [
        prf(a.lenient_tp if level == "lenient" else a.strict_tp, a.n_pred, a.n_gold)["f1"] for a in articles
    ]
    return sum(scores) / max(1, len(scores))


def _right(articles: list[ArticleScore]) -> set[tuple[str, int]]:
    return {(a.article_id, p.gold) for a in articles for p in a.pairs if p.lenient and p.gold is not None}


def compare_runs(a: Evaluation, b: Evaluation, seed: int = 7) -> dict[str, Any]:
    out: dict[str, Any] = {"run_a": a.report["run"], "run_b": b.report["run"], "schemas": {}}
    rng = random.Random(seed)
    for name, scores_a in a.scores.items():
        scores_b = {s.article_id: s for s in b.scores.get(name, [])}
        paired = [(s, scores_b[s.article_id]) for s in scores_a if s.article_id in scores_b]
        schema: dict[str, Any] = {}
        for level in ("lenient", "strict"):
            first = [x for x, _ in paired]
            second = [y for _, y in paired]
            delta = _macro(second, level) - _macro(first, level)
            draws = []
            for _ in range(SAMPLES):
                idx = [rng.randrange(len(paired)) for _ in paired] if paired else []
                draws.append(_macro([second[i] for i in idx], level) - _macro([first[i] for i in idx], level))
            schema[f"{level}_macro_f1"] = {
                "a": _macro(first, level),
                "b": _macro(second, level),
                "b_minus_a": delta,
                "interval_95": [float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))],
            }
        right_a, right_b = _right([x for x, _ in paired]), _right([y for _, y in paired])
        gold_of = {(s.article_id, i): i for s in scores_a for i in range(s.n_gold)}
        schema["only_a_right"] = sorted([f"{aid}#{i}" for aid, i in right_a - right_b if (aid, i) in gold_of])
        schema["only_b_right"] = sorted([f"{aid}#{i}" for aid, i in right_b - right_a if (aid, i) in gold_of])
        out["schemas"][name] = schema
    return out
