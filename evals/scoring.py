"""Scores predicted records against gold, per article and schema:

normalise -> pair similarity -> one-to-one assignment (scipy linear_sum_assignment)
with a gate so unrelated records are never forced together -> per field: correct /
incorrect / missing / spurious (SemEval/MUC) -> lenient and strict record P/R/F1,
macro over articles and micro over records, with bootstrap intervals that resample
articles (evals/bootstrap.py). What is compared, and how, comes from each schema's Scoring declaration."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from polex.evals.bootstrap import article_interval, mean, micro_f1
from polex.evals.eval_report import (
    PRF,
    FieldScores,
    Intervals,
    LevelIntervals,
    LevelScores,
    Muc,
    RecordScores,
    ScoreSummary,
)
from polex.evals.field_match import Span, compare, is_empty
from polex.pipeline.spec import FieldScore, SchemaSpec

BOOTSTRAP_SEED = 13
COUNTS = ("correct", "incorrect", "missing", "spurious")


@dataclass
class Item:
    record: dict[str, Any]
    span: Span | None = None


@dataclass
class Pair:
    gold: int | None
    pred: int | None
    similarity: float = 0.0
    fields: dict[str, str] = field(default_factory=dict)
    lenient: bool = False
    strict: bool = False


@dataclass
class ArticleScore:
    article_id: str
    n_gold: int
    n_pred: int
    pairs: list[Pair]
    field_counts: dict[str, Counter[str]]
    sets: dict[str, tuple[set[Any], set[Any]]]

    @property
    def lenient_tp(self) -> int:
        return sum(p.lenient for p in self.pairs)

    @property
    def strict_tp(self) -> int:
        return sum(p.strict for p in self.pairs)


def prf(tp: float, n_pred: float, n_gold: float) -> dict[str, float]:
    """Precision, recall, F1. With nothing to find and nothing found, all are 1."""
    if n_pred == 0 and n_gold == 0:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f}


def _compare_all(fields: tuple[FieldScore, ...], pred: Item, gold: Item) -> dict[str, tuple[float, bool]]:
    return {f.name: compare(f, pred.record, gold.record, pred.span, gold.span) for f in fields}


def _similarity(spec: SchemaSpec, pred: Item, gold: Item) -> float:
    scoring = spec.scoring
    results = _compare_all(scoring.fields, pred, gold)
    anchors = [a for a in scoring.anchors if a in results]
    if anchors and not any(results[a][1] for a in anchors):
        return 0.0
    total = sum(f.weight for f in scoring.fields) or 1.0
    sim = sum(f.weight * results[f.name][0] for f in scoring.fields) / total
    return sim if sim >= scoring.gate else 0.0


def match(spec: SchemaSpec, preds: list[Item], golds: list[Item]) -> list[tuple[int, int, float]]:
    """One-to-one pairs (pred, gold, similarity) maximising total similarity."""
    if not preds or not golds:
        return []
    sim = np.array([[_similarity(spec, p, g) for g in golds] for p in preds])
    rows, cols = linear_sum_assignment(sim, maximize=True)
    return [(int(r), int(c), float(sim[r, c])) for r, c in zip(rows, cols, strict=True) if sim[r, c] > 0]


def _field_verdict(f: FieldScore, pred: Item, gold: Item, correct: bool) -> str:
    p_empty, g_empty = is_empty(pred.record.get(f.name)), is_empty(gold.record.get(f.name))
    if p_empty and g_empty:
        return "both_empty"
    if correct:
        # An uncertain gold field accepts its candidates on either side of empty: a
        # null period with "2019" among its `period_candidates` accepts "2019", and a
        # value with None among its candidates accepts no value.
        return "correct"
    if g_empty:
        return "spurious"
    if p_empty:
        return "missing"
    return "correct" if correct else "incorrect"


def _unmatched(
    fields: tuple[FieldScore, ...],
    item: Item,
    verdict: str,
    counts: dict[str, Counter[str]],
    gold: int | None = None,
    pred: int | None = None,
) -> Pair:
    """A record left without a partner: each of its non-empty fields is missing (a
    gold record) or spurious (a prediction)."""
    verdicts = {f.name: verdict for f in fields if not is_empty(item.record.get(f.name))}
    for name in verdicts:
        counts[name][verdict] += 1
    return Pair(gold, pred, 0.0, verdicts)


def score_article(spec: SchemaSpec, article_id: str, preds: list[Item], golds: list[Item]) -> ArticleScore:
    scoring = spec.scoring
    counts: dict[str, Counter[str]] = {f.name: Counter() for f in scoring.fields}
    pairs: list[Pair] = []
    matched_p: set[int] = set()
    matched_g: set[int] = set()
    for pi, gi, sim in match(spec, preds, golds):
        results = _compare_all(scoring.fields, preds[pi], golds[gi])
        verdicts = {
            f.name: _field_verdict(f, preds[pi], golds[gi], results[f.name][1]) for f in scoring.fields
        }
        for name, verdict in verdicts.items():
            if verdict != "both_empty":
                counts[name][verdict] += 1
        lenient = all(results[k][1] for k in scoring.key_fields)
        strict = all(v in ("correct", "both_empty") for v in verdicts.values())
        pairs.append(Pair(gi, pi, sim, verdicts, lenient, strict))
        matched_p.add(pi)
        matched_g.add(gi)
    for gi, gold in enumerate(golds):
        if gi not in matched_g:
            pairs.append(_unmatched(scoring.fields, gold, "missing", counts, gold=gi))
    for pi, pred in enumerate(preds):
        if pi not in matched_p:
            pairs.append(_unmatched(scoring.fields, pred, "spurious", counts, pred=pi))
    sets = {
        name: ({p.record.get(name) for p in preds}, {g.record.get(name) for g in golds})
        for name in scoring.set_fields
    }
    return ArticleScore(article_id, len(golds), len(preds), pairs, counts, sets)


def _record_scores(articles: list[ArticleScore]) -> RecordScores:
    levels: dict[str, LevelScores] = {}
    for level in ("lenient", "strict"):
        tp = [a.lenient_tp if level == "lenient" else a.strict_tp for a in articles]
        per_article = [prf(t, a.n_pred, a.n_gold) for t, a in zip(tp, articles, strict=True)]
        n = max(1, len(articles))
        levels[level] = LevelScores(
            macro=PRF(**{k: sum(m[k] for m in per_article) / n for k in ("precision", "recall", "f1")}),
            micro=PRF(**prf(sum(tp), sum(a.n_pred for a in articles), sum(a.n_gold for a in articles))),
        )
    return RecordScores(**levels)


def _set_f1(articles: list[ArticleScore], name: str) -> float:
    scores = []
    for a in articles:
        pred, gold = a.sets[name]
        scores.append(prf(len(pred & gold), len(pred), len(gold))["f1"])
    return sum(scores) / max(1, len(scores))


def _intervals(articles: list[ArticleScore], seed: int = BOOTSTRAP_SEED) -> Intervals:
    """95% percentile intervals of macro and micro F1, resampling articles."""
    n_pred = np.array([a.n_pred for a in articles], dtype=float)
    n_gold = np.array([a.n_gold for a in articles], dtype=float)
    out: dict[str, LevelIntervals] = {}
    for level in ("lenient", "strict"):
        tp = np.array([a.lenient_tp if level == "lenient" else a.strict_tp for a in articles], dtype=float)
        f1 = np.array([prf(t, p, g)["f1"] for t, p, g in zip(tp, n_pred, n_gold, strict=True)], dtype=float)
        out[level] = LevelIntervals(
            macro_f1=article_interval([f1], mean, seed),
            micro_f1=article_interval([tp, n_pred, n_gold], micro_f1, seed),
        )
    return Intervals(**out)


def _muc(articles: list[ArticleScore]) -> Muc:
    pairs = [p for a in articles for p in a.pairs]
    cor = sum(p.lenient for p in pairs)
    inc = sum(p.gold is not None and p.pred is not None and not p.lenient for p in pairs)
    mis = sum(p.pred is None for p in pairs)
    spu = sum(p.gold is None for p in pairs)
    possible, actual = cor + inc + mis, cor + inc + spu
    return Muc(
        correct=cor,
        incorrect=inc,
        missing=mis,
        spurious=spu,
        undergeneration=mis / possible if possible else 0.0,
        overgeneration=spu / actual if actual else 0.0,
        substitution=inc / (cor + inc) if cor + inc else 0.0,
    )


def _field_table(spec: SchemaSpec, articles: list[ArticleScore]) -> dict[str, FieldScores]:
    table: dict[str, FieldScores] = {}
    for f in spec.scoring.fields:
        c: Counter[str] = Counter()
        for a in articles:
            c.update(a.field_counts[f.name])
        cor, inc, mis, spu = (c[k] for k in COUNTS)
        p = cor / (cor + inc + spu) if cor + inc + spu else 0.0
        r = cor / (cor + inc + mis) if cor + inc + mis else 0.0
        table[f.name] = FieldScores(
            correct=cor,
            incorrect=inc,
            missing=mis,
            spurious=spu,
            precision=p,
            recall=r,
            f1=2 * p * r / (p + r) if p + r else 0.0,
        )
    return table


def summarise(spec: SchemaSpec, articles: list[ArticleScore]) -> ScoreSummary:
    return ScoreSummary(
        records=_record_scores(articles),
        intervals_95=_intervals(articles),
        fields=_field_table(spec, articles),
        muc=_muc(articles),
        n_articles=len(articles),
        n_gold=sum(a.n_gold for a in articles),
        n_pred=sum(a.n_pred for a in articles),
        set_f1={name: _set_f1(articles, name) for name in spec.scoring.set_fields},
    )
