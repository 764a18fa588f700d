"""Fitting a schema's model from gold: align gold records to candidates, fit the
classifiers, and fit the keep threshold, then the calibrator on the out-of-fold records it keeps
(folds group whole articles, so no article informs its own confidence).
Deterministic given the seed; needs scikit-learn."""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from polex.pipeline.defaults import TRAIN_JOBS
from polex.pipeline.grounding import locate
from polex.pipeline.learning.candidates import Candidate
from polex.pipeline.learning.extract import (
    candidate_kind,
    choose_labels,
    featurize,
    find_candidates,
    label_fields,
    label_probabilities,
    pair_inputs,
    rule_confidence,
    rule_records,
)
from polex.pipeline.learning.features import FEATURE_VERSION
from polex.pipeline.learning.label_sets import choose_threshold
from polex.pipeline.learning.linear import (
    Features,
    LinearClassifier,
    PairClassifier,
    PairDesign,
    Vocabulary,
    build_vocabulary,
    fit_calibrator,
    fit_classifier,
    fit_pair,
    pair_design,
)
from polex.pipeline.learning.model import LearnedModel
from polex.pipeline.records import Article, ArticleContext
from polex.pipeline.spec import SchemaSpec

C_GRID = (0.3, 1.0, 3.0, 10.0)
FOLDS = 5
THRESHOLD_TOLERANCE = 0.01  # out-of-fold F1 within this of the best counts as the best
RESAMPLES = 1000
# the classifiers replace the rules only when they do better in this share of the
# resamples of the compared articles (not by the luck of a few articles)
BEATS_RULES = 0.9
# a sentence candidate gives a further record for each other label value at least
# this probable, when the gold has sentences that hold several records
MORE_LABELS_AT = 0.3


@dataclass(frozen=True)
class GoldArticle:
    article: Article
    records: list[dict[str, Any]]
    # the schema's rules were written on this article (the seeds): its out-of-fold
    # predictions are optimistic, so the calibrator does not learn from them
    rules_tuned_on: bool = False


@dataclass
class Example:
    group: int
    features: dict[str, float]
    keep: bool
    labels: dict[str, str]
    shared: dict[str, list[Features]] = field(default_factory=dict)  # lexicon field -> per value
    # the record made here would carry the gold value (the engine's first reading of
    # an artefact may not be the one the gold chose)
    value_right: bool = True
    # the labels of further gold records on the same sentence (sentence candidates:
    # "conduct skills training ... and organize job fairs" holds two measures)
    more_labels: list[dict[str, str]] = field(default_factory=list)


@dataclass
class TrainingReport:
    articles: int
    candidates: int
    positives: int
    gold_records: int
    unaligned: int  # gold records no candidate carries (engine misses, evidence not found)
    c: float
    threshold: float
    out_of_fold: dict[str, float] = field(default_factory=dict)
    # "learned", or "rules" when the schema's rules were better out of fold
    engine: str = "learned"


def _readings_match(value: Any, record: dict[str, Any], candidate: Candidate, quantity_field: str) -> bool:
    assert candidate.mention is not None
    wanted = [value, *record.get(f"{quantity_field}_candidates", [])]
    return any(
        isinstance(w, int | float) and abs(abs(w) - abs(x)) <= 1e-6 * max(1.0, abs(x))
        for w in wanted
        for x in candidate.mention.readings
    )


def engine_value_is_gold(spec: SchemaSpec, record: dict[str, Any] | None, candidate: Candidate) -> bool:
    """Whether the value a record made at ``candidate`` would carry (the engine's
    reading) is the gold record's value or one of its candidates."""
    if record is None or candidate.mention is None or not spec.quantity_field:
        return True
    wanted = [record.get(spec.quantity_field), *record.get(f"{spec.quantity_field}_candidates", [])]
    value = candidate.mention.value
    return any(
        isinstance(w, int | float) and abs(abs(w) - abs(value)) <= 1e-6 * max(1.0, abs(value)) for w in wanted
    )


def align(
    spec: SchemaSpec, text: str, records: list[dict[str, Any]], candidates: Sequence[Candidate]
) -> tuple[dict[int, dict[str, Any]], int]:
    """Which candidate carries each gold record: for numbers, the candidate inside
    (or in the sentence of) the evidence whose readings hold the gold value; for
    sentences, the sentence the evidence overlaps most. Returns candidate index ->
    gold record, and the number of gold records left without a candidate."""
    taken: dict[int, dict[str, Any]] = {}
    missing = 0
    for record in records:
        located = locate(str(record.get("evidence", "")), text)
        if located is None:
            missing += 1
            continue
        start, end = located[0], located[1]
        best: int | None = None
        if spec.quantity_field:
            value = record.get(spec.quantity_field)
            inside = [i for i, c in enumerate(candidates) if start <= c.start < end and i not in taken]
            near = [
                i
                for i, c in enumerate(candidates)
                if c.sentence.start < end and start < c.sentence.end and i not in taken and i not in inside
            ]
            for i in inside + near:
                if _readings_match(value, record, candidates[i], spec.quantity_field):
                    best = i
                    break
        else:
            overlaps = [
                (min(end, c.end) - max(start, c.start), i)
                for i, c in enumerate(candidates)
                if c.start < end and start < c.end and i not in taken
            ]
            if overlaps:
                best = max(overlaps)[1]
        if best is None:
            missing += 1
        else:
            taken[best] = record
    return taken, missing


def further_records(
    text: str,
    records: list[dict[str, Any]],
    candidates: Sequence[Candidate],
    aligned: dict[int, dict[str, Any]],
) -> tuple[dict[int, list[dict[str, Any]]], int]:
    """The gold records ``align`` left without a sentence because the sentence their
    evidence overlaps most already carries another record: sentence candidate index ->
    those records, and how many records that leaves without a candidate."""
    placed = {id(r) for r in aligned.values()}
    more: dict[int, list[dict[str, Any]]] = {}
    missing = 0
    for record in records:
        if id(record) in placed:
            continue
        located = locate(str(record.get("evidence", "")), text)
        overlaps = (
            [
                (min(located[1], c.end) - max(located[0], c.start), i)
                for i, c in enumerate(candidates)
                if c.start < located[1] and located[0] < c.end
            ]
            if located is not None
            else []
        )
        best = max(overlaps)[1] if overlaps else None
        if best is None or best not in aligned:
            missing += 1
        else:
            more.setdefault(best, []).append(record)
    return more, missing


def examples_of(spec: SchemaSpec, gold: Sequence[GoldArticle]) -> tuple[list[Example], int, int]:
    fields = label_fields(spec)
    examples: list[Example] = []
    unaligned = total = 0
    for group, item in enumerate(gold):
        ctx = ArticleContext(item.article)
        candidates = find_candidates(spec, ctx)
        rules = rule_records(spec, ctx, candidates)
        aligned, missing = align(spec, ctx.text, item.records, candidates)
        more: dict[int, list[dict[str, Any]]] = {}
        if not spec.quantity_field:
            more, missing = further_records(ctx.text, item.records, candidates, aligned)
        unaligned += missing
        total += len(item.records)
        shared = pair_inputs(spec, ctx, candidates, rules)
        for i, (candidate, rule) in enumerate(zip(candidates, rules, strict=True)):
            record = aligned.get(i)
            labels = {name: str(record.get(name)) for name in fields} if record is not None else {}
            examples.append(
                Example(
                    group,
                    featurize(spec, ctx, candidate, rule),
                    record is not None,
                    labels,
                    {name: per_candidate[i] for name, per_candidate in shared.items()},
                    engine_value_is_gold(spec, record, candidate),
                    [{name: str(r.get(name)) for name in fields} for r in more.get(i, [])],
                )
            )
    return examples, unaligned, total


@dataclass
class _Fitted:
    keep: LinearClassifier
    labels: dict[str, LinearClassifier | PairClassifier]


@dataclass(frozen=True)
class _LabelTargets:
    matrix: object  # scipy CSR: the kept candidates' rows, once per gold record they carry
    targets: list[str]


@dataclass(frozen=True)
class _Problem:
    """One training set made ready to fit at any C: the keep classifier's matrix and
    targets, and each label field's (a pair design for a lexicon field). Building it
    is most of a fit's work, so a C grid builds it once."""

    matrix: object  # scipy CSR
    keep: list[str]
    labels: dict[str, _LabelTargets | PairDesign]


def _problem(
    spec: SchemaSpec, vocabulary: Vocabulary, examples: Sequence[Example], fields: Sequence[str]
) -> _Problem:
    matrix = vocabulary.matrix([e.features for e in examples])
    # a kept candidate teaches the label classifiers each of its gold records' labels
    positives = [
        (i, labels) for i, e in enumerate(examples) if e.keep for labels in (e.labels, *e.more_labels)
    ]
    rows = [i for i, _ in positives]
    lexicons = spec.label_lexicon() if spec.label_lexicon is not None else {}
    labels: dict[str, _LabelTargets | PairDesign] = {}
    for name in fields:
        targets = [wanted[name] for _, wanted in positives]
        if name in lexicons:
            labels[name] = pair_design(
                vocabulary,
                [examples[i].features for i in rows],
                [examples[i].shared[name] for i in rows],
                targets,
                lexicons[name].values,
            )
        else:
            labels[name] = _LabelTargets(matrix[rows], targets)  # type: ignore[index]
    return _Problem(matrix, ["1" if e.keep else "0" for e in examples], labels)


def _fit(problem: _Problem, c: float, seed: int) -> _Fitted:
    keep = fit_classifier(problem.matrix, problem.keep, c, seed)
    labels: dict[str, LinearClassifier | PairClassifier] = {
        name: fit_pair(task, c, seed)
        if isinstance(task, PairDesign)
        else fit_classifier(task.matrix, task.targets, c, seed)
        for name, task in problem.labels.items()
    }
    return _Fitted(keep, labels)


def labels_right(labels: dict[str, str], example: Example, key_fields: set[str]) -> bool:
    """Whether ``labels`` are the key labels of one of the gold records the example's
    candidate carries (a sentence may carry several)."""
    return any(
        all(labels.get(n) == wanted.get(n) for n in wanted if n in key_fields)
        for wanted in (example.labels, *example.more_labels)
    )


def _scores(
    fitted: _Fitted, vocabulary: Vocabulary, examples: Sequence[Example], key_fields: set[str]
) -> tuple[list[tuple[float, float, bool]], list[float]]:
    """(p_keep, raw confidence, record right) per example: right when the gold keeps
    it, the engine's value is the gold's and every key label is the gold's; and per
    example the raw confidence of the rules' record there (``rule_confidence``)."""
    encoded = vocabulary.encode([e.features for e in examples])
    keep = fitted.keep.probabilities(encoded)
    column = fitted.keep.classes.index("1") if "1" in fitted.keep.classes else None
    shared = {
        n: [e.shared[n] for e in examples] for n, c in fitted.labels.items() if isinstance(c, PairClassifier)
    }
    probabilities = label_probabilities(fitted.labels, encoded, shared)
    out = []
    rule_raw = []
    for i, example in enumerate(examples):
        p_keep = float(keep[i, column]) if column is not None else 0.0
        labels, raw = choose_labels(fitted.labels, probabilities, i, key_fields, p_keep)
        right = example.keep and example.value_right and labels_right(labels, example, key_fields)
        out.append((p_keep, raw, right))
        _, rule_labels = rule_decision(example, tuple(fitted.labels))
        rule_raw.append(rule_confidence(fitted.labels, probabilities, i, rule_labels, key_fields, p_keep))
    return out, rule_raw


@dataclass(frozen=True)
class _FoldFit:
    """One fold of whole articles: the examples it holds out and the model fitted on
    the other folds."""

    test_index: list[int]
    vocabulary: Vocabulary
    fitted: _Fitted


@dataclass(frozen=True)
class _GridFit:
    """The models of one training set (all articles but ``held``), one per C of
    ``C_GRID`` in its order."""

    test_index: list[int]  # the examples of the held-out articles
    vocabulary: Vocabulary
    by_c: list[_Fitted]

    def at(self, k: int) -> _FoldFit:
        return _FoldFit(self.test_index, self.vocabulary, self.by_c[k])


def held_out_folds(examples: Sequence[Example]) -> list[frozenset[int]]:
    """The article groups each fold holds out (folds group whole articles)."""
    groups = sorted({e.group for e in examples})
    folds = min(FOLDS, len(groups))
    return [frozenset(g for k, g in enumerate(groups) if k % folds == fold) for fold in range(folds)]


def _fit_grid(
    spec: SchemaSpec, examples: Sequence[Example], fields: Sequence[str], held: frozenset[int], seed: int
) -> _GridFit:
    """The models at every C of the grid on the examples of the articles not in ``held``."""
    train_rows = [e for e in examples if e.group not in held]
    vocabulary = build_vocabulary([e.features for e in train_rows])
    problem = _problem(spec, vocabulary, train_rows, fields)
    return _GridFit(
        [i for i, e in enumerate(examples) if e.group in held],
        vocabulary,
        [_fit(problem, c, seed) for c in C_GRID],
    )


# What every grid fit of one training run shares: set in each worker process when
# the pool starts (forked, so the examples are not copied per task).
_SharedInputs = tuple[SchemaSpec, Sequence[Example], Sequence[str], int]
_shared: _SharedInputs | None = None


def _share(inputs: _SharedInputs) -> None:
    global _shared
    _shared = inputs


def _fit_grid_shared(held: frozenset[int]) -> _GridFit:
    assert _shared is not None, "a worker's inputs are set when its pool starts"
    spec, examples, fields, seed = _shared
    return _fit_grid(spec, examples, fields, held, seed)


def _fit_grids(
    spec: SchemaSpec,
    examples: Sequence[Example],
    fields: Sequence[str],
    training_sets: Sequence[frozenset[int]],
    seed: int,
    jobs: int,
) -> list[_GridFit]:
    """``_fit_grid`` of each training set (given by the groups it holds out), in
    their order. With ``jobs`` > 1 (and where processes can fork), up to that many
    worker processes fit them; the fits are independent and deterministic, so the
    models are the same for any ``jobs``."""
    workers = min(jobs, len(training_sets))
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [_fit_grid(spec, examples, fields, held, seed) for held in training_sets]
    with ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_share,
        initargs=((spec, examples, fields, seed),),
    ) as pool:
        return list(pool.map(_fit_grid_shared, training_sets))


def _out_of_fold(
    examples: Sequence[Example], fits: Sequence[_FoldFit], key_fields: set[str]
) -> tuple[list[tuple[float, float, bool]], list[float]]:
    """``_scores`` of every example by the model of the fold that held it out."""
    scores: list[tuple[float, float, bool]] = [(0.0, 0.0, False)] * len(examples)
    rule_raw = [0.0] * len(examples)
    for fit in fits:
        fold_scores, fold_rule_raw = _scores(
            fit.fitted, fit.vocabulary, [examples[i] for i in fit.test_index], key_fields
        )
        for i, score, raw in zip(fit.test_index, fold_scores, fold_rule_raw, strict=True):
            scores[i] = score
            rule_raw[i] = raw
    return scores, rule_raw


def _best_threshold(scores: Sequence[tuple[float, float, bool]], gold_total: int) -> tuple[float, float]:
    """The keep threshold for the out-of-fold F1 of fully right records: of the
    thresholds within ``THRESHOLD_TOLERANCE`` of the best F1, the one nearest 0.5. The
    F1 curve is flat near its top, so its bare maximum jumped between 0.55 and 0.8
    from one near-identical training to the next, and a record the model was fairly
    sure of came and went with it."""
    curve = [
        (round(float(t), 2), fully_right_f1(scores, float(t), gold_total)) for t in np.arange(0.2, 0.81, 0.05)
    ]
    top = max(f1 for _, f1 in curve)
    near_top = [(t, f1) for t, f1 in curve if f1 >= top - THRESHOLD_TOLERANCE]
    return min(near_top, key=lambda point: (abs(point[0] - 0.5), point[0]))


def calibration_points(
    scores: Sequence[tuple[float, float, bool]], threshold: float, unseen: Sequence[bool] | None = None
) -> list[tuple[float, bool]]:
    """What the calibrator learns from: the out-of-fold candidates that become
    records (kept at ``threshold``), as (raw confidence, record right). The
    confidence is read on records only, so the candidates the keep classifier drops
    must not pull it down; and on articles the rules were not written on (``unseen``
    per candidate), when there are any, since the rules' votes are features."""
    kept = [(i, raw, right) for i, (p_keep, raw, right) in enumerate(scores) if p_keep >= threshold]
    if unseen is not None and any(unseen[i] for i, _, _ in kept):
        kept = [(i, raw, right) for i, raw, right in kept if unseen[i]]
    return [(raw, right) for _, raw, right in kept]


def rule_decision(example: Example, fields: Sequence[str]) -> tuple[bool, dict[str, str]]:
    """Whether the schema's rules made a record at the example's candidate, and its
    labels, read back from the ``rule:`` features ``featurize`` gave it."""
    labels: dict[str, str] = {}
    for name in fields:
        prefix = f"rule:{name}="
        for feature in example.features:
            if feature.startswith(prefix):
                labels[name] = feature[len(prefix) :]
    return "rule:kept" in example.features, labels


def rules_scores(
    examples: Sequence[Example], fields: Sequence[str], key_fields: set[str], rule_raw: Sequence[float]
) -> list[tuple[float, float, bool]]:
    """The rules-only extractor in the shape of ``_scores``: (1 where the rules made
    a record else 0, the out-of-fold ``rule_confidence`` of its record as the raw
    confidence, record right)."""
    out = []
    for example, raw in zip(examples, rule_raw, strict=True):
        kept, labels = rule_decision(example, fields)
        right = kept and example.keep and example.value_right and labels_right(labels, example, key_fields)
        out.append((1.0 if kept else 0.0, raw, right))
    return out


def fully_right_f1(scores: Sequence[tuple[float, float, bool]], threshold: float, gold_total: int) -> float:
    """Out-of-fold F1 of fully right records among the candidates kept at ``threshold``."""
    kept = [s for s in scores if s[0] >= threshold]
    right = sum(1 for s in kept if s[2])
    precision = right / len(kept) if kept else 0.0
    recall = right / gold_total if gold_total else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def share_learned_beats_rules(
    learned: Sequence[tuple[float, float, bool]],
    rules: Sequence[tuple[float, float, bool]],
    threshold: float,
    groups: Sequence[int],
    gold_per_group: dict[int, int],
    seed: int,
) -> float:
    """The share of bootstrap resamples of the articles (paired: the same articles
    for both) in which the classifiers' F1 of fully right records, kept at
    ``threshold``, beats the rules'."""
    order = sorted(gold_per_group)
    position = {g: k for k, g in enumerate(order)}
    counts = np.zeros((len(order), 5))  # kept, right (learned), kept, right (rules), gold
    for (p_learned, _, right_learned), (p_rules, _, right_rules), group in zip(
        learned, rules, groups, strict=True
    ):
        row = counts[position[group]]
        row[0] += p_learned >= threshold
        row[1] += p_learned >= threshold and right_learned
        row[2] += p_rules >= 1.0
        row[3] += p_rules >= 1.0 and right_rules
    for g, k in position.items():
        counts[k, 4] = gold_per_group[g]
    picks = np.random.default_rng(seed).integers(0, len(order), size=(RESAMPLES, len(order)))
    sums = counts[picks].sum(axis=1)

    def f1(kept: NDArray[np.float64], right: NDArray[np.float64]) -> NDArray[np.float64]:
        result: NDArray[np.float64] = np.where(
            kept + sums[:, 4] > 0, 2 * right / np.maximum(kept + sums[:, 4], 1), 0.0
        )
        return result

    return float(np.mean(f1(sums[:, 0], sums[:, 1]) > f1(sums[:, 2], sums[:, 3])))


def set_thresholds(
    spec: SchemaSpec,
    gold: Sequence[GoldArticle],
    examples: Sequence[Example],
    fields: Sequence[str],
    fits: Sequence[_FoldFit],
    threshold: float,
) -> dict[str, dict[str, float | None]]:
    """For each label field the schema scores as a set per article
    (``Scoring.set_fields``) and a sentence learner: the noisy-or threshold of
    ``label_sets`` chosen out of fold (the same folds of whole articles), with the
    mean set F1 of the records' own sets and of the threshold's, on the articles the
    rules were not written on when there are any."""
    wanted = [name for name in spec.scoring.set_fields if name in fields]
    if spec.quantity_field or not wanted:
        return {}
    keep = np.zeros(len(examples))
    rows: dict[str, list[NDArray[np.float64]]] = {name: [np.zeros(0)] * len(examples) for name in wanted}
    classes: dict[str, tuple[str, ...]] = {}
    for fit in fits:
        test_index, fitted = fit.test_index, fit.fitted
        encoded = fit.vocabulary.encode([examples[i].features for i in test_index])
        p_keep = fitted.keep.probabilities(encoded)
        column = fitted.keep.classes.index("1") if "1" in fitted.keep.classes else None
        shared = {
            n: [examples[i].shared[n] for i in test_index]
            for n, clf in fitted.labels.items()
            if isinstance(clf, PairClassifier)
        }
        probabilities = label_probabilities(fitted.labels, encoded, shared)
        for name in wanted:
            # every fold's classifier must list the values in one order
            classes.setdefault(name, fitted.labels[name].classes)
            order = [
                fitted.labels[name].classes.index(v) if v in fitted.labels[name].classes else -1
                for v in classes[name]
            ]
            for row, i in enumerate(test_index):
                p = probabilities[name][row]
                rows[name][i] = np.array([p[k] if k >= 0 else 0.0 for k in order])
        for row, i in enumerate(test_index):
            keep[i] = float(p_keep[row, column]) if column is not None else 0.0
    unseen = {k for k, g in enumerate(gold) if not g.rules_tuned_on} or set(range(len(gold)))
    out: dict[str, dict[str, float | None]] = {}
    more = any(e.more_labels for e in examples)
    for name in wanted:
        articles = []
        by_records = []
        for group in sorted(unseen):
            index = [i for i, e in enumerate(examples) if e.group == group]
            p = np.array([rows[name][i] for i in index]).reshape(len(index), len(classes[name]))
            k = keep[index]
            articles.append((k, p, {str(r.get(name)) for r in gold[group].records}))
            found: set[str] = set()
            for row in range(len(index)):
                if k[row] >= threshold:
                    found.add(classes[name][int(p[row].argmax())])
                    if more:
                        found.update(
                            v for v, x in zip(classes[name], p[row], strict=True) if x >= MORE_LABELS_AT
                        )
            by_records.append(found)
        chosen, records_f1, sets_f1 = choose_threshold(articles, classes[name], by_records)
        out[name] = {"at": chosen, "f1_records": round(records_f1, 4), "f1_article_sets": round(sets_f1, 4)}
    return out


def train(
    spec: SchemaSpec,
    gold: Sequence[GoldArticle],
    seed: int = 0,
    info: dict[str, Any] | None = None,
    jobs: int = TRAIN_JOBS,
) -> tuple[LearnedModel, TrainingReport]:
    """The schema's model fitted on ``gold``, and a report of the fit. ``jobs``:
    worker processes for the fits of the C grid (1: all in this process); the model
    is the same for any number."""
    fields = label_fields(spec)
    key_fields = set(spec.scoring.key_fields)
    examples, unaligned, total = examples_of(spec, gold)
    if not any(e.keep for e in examples):
        raise ValueError(f"no gold record of {spec.name} could be aligned to a candidate: nothing to learn")
    # the model on every article (nothing held out) first: the largest fit starts first
    everything, *folds = _fit_grids(
        spec, examples, fields, [frozenset(), *held_out_folds(examples)], seed, jobs
    )
    best: tuple[int, float, float, list[tuple[float, float, bool]], list[float], list[_FoldFit]] | None = None
    for k in range(len(C_GRID)):
        fits = [fold.at(k) for fold in folds]
        scores, rule_raw = _out_of_fold(examples, fits, key_fields)
        threshold, f1 = _best_threshold(scores, total)
        if best is None or f1 > best[1] + 1e-9:
            best = (k, f1, threshold, scores, rule_raw, fits)
    assert best is not None
    c_index, f1, threshold, scores, rule_raw, fits = best
    c = C_GRID[c_index]
    unseen = [not gold[e.group].rules_tuned_on for e in examples]
    # the rules-only extractor, scored on the same out-of-fold candidates of the
    # articles its rules were not written on: unless the classifiers beat it in most
    # resamples of those articles, the model keeps the rules' records and only
    # scores their confidence
    engine, engine_f1 = "learned", {}
    records_scored, records_threshold = scores, threshold
    if spec.offline is not None:
        by_rules = rules_scores(examples, fields, key_fields, rule_raw)
        fresh = any(unseen)  # else every article was a rules article: compare on all
        compared = [i for i, u in enumerate(unseen) if u or not fresh]
        gold_per_group = {k: len(g.records) for k, g in enumerate(gold) if not g.rules_tuned_on or not fresh}
        compared_gold = sum(gold_per_group.values())
        for name, engine_scores, engine_threshold in (
            ("learned", scores, threshold),
            ("rules", by_rules, 1.0),
        ):
            chosen = [engine_scores[i] for i in compared]
            engine_f1[name] = round(fully_right_f1(chosen, engine_threshold, compared_gold), 4)
        share = share_learned_beats_rules(
            [scores[i] for i in compared],
            [by_rules[i] for i in compared],
            threshold,
            [examples[i].group for i in compared],
            gold_per_group,
            seed,
        )
        engine_f1["share_learned_beats_rules"] = round(share, 4)
        if share < BEATS_RULES:
            engine, records_scored, records_threshold = "rules", by_rules, 1.0
    label_sets = set_thresholds(spec, gold, examples, fields, fits, threshold) if engine == "learned" else {}
    calibration = calibration_points(records_scored, records_threshold, unseen)
    calibrator = fit_calibrator([r for r, _ in calibration], [ok for _, ok in calibration])
    vocabulary, fitted = everything.vocabulary, everything.by_c[c_index]
    report = TrainingReport(
        articles=len(gold),
        candidates=len(examples),
        positives=sum(e.keep for e in examples),
        gold_records=total,
        unaligned=unaligned,
        c=c,
        threshold=threshold,
        out_of_fold={
            "f1_fully_right": round(f1, 4),
            **{k if k.startswith("share") else f"f1_fully_right_{k}": v for k, v in engine_f1.items()},
        },
        engine=engine,
    )
    model = LearnedModel(
        schema=spec.name,
        candidates=candidate_kind(spec),
        feature_version=FEATURE_VERSION,
        vocabulary=vocabulary,
        keep=fitted.keep,
        labels=fitted.labels,
        calibrator=calibrator,
        threshold=threshold,
        info={
            **(info or {}),
            "c": c,
            "seed": seed,
            "engine": engine,
            "label_fields": list(fields),
            **({"more_labels_at": MORE_LABELS_AT} if any(e.more_labels for e in examples) else {}),
            **({"label_sets": label_sets} if label_sets else {}),
            "training": {k: v for k, v in report.__dict__.items()},
        },
    )
    return model, report
