"""Fitting a schema's model from gold: align gold records to candidates, fit the
classifiers, and fit the keep threshold, then the calibrator on the out-of-fold records it keeps
(folds group whole articles, so no article informs its own confidence).
Deterministic given the seed; needs scikit-learn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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
    rule_records,
)
from polex.pipeline.learning.features import FEATURE_VERSION
from polex.pipeline.learning.linear import (
    Features,
    LinearClassifier,
    PairClassifier,
    Vocabulary,
    build_vocabulary,
    fit_calibrator,
    fit_classifier,
    fit_pair_classifier,
)
from polex.pipeline.learning.model import LearnedModel
from polex.pipeline.records import Article, ArticleContext
from polex.pipeline.spec import SchemaSpec

C_GRID = (0.3, 1.0, 3.0, 10.0)
# a sentence candidate also makes a record for each other value of a key label
# field at least this probable (a sentence with two measures; on dev cross-validation)
OTHER_LABEL_MIN = 0.3
FOLDS = 5


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
    # a sentence candidate that carries more gold records than one: the label values
    # of the others, where they differ from ``labels`` (sentence candidates only)
    other_labels: list[dict[str, str]] = field(default_factory=list)


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


def align_others(
    text: str,
    records: list[dict[str, Any]],
    candidates: Sequence[Candidate],
    taken: dict[int, dict[str, Any]],
) -> dict[int, list[dict[str, Any]]]:
    """For sentence candidates: the gold records ``align`` left without a candidate
    because the sentence they overlap most already carries one (a sentence with two
    measures), by that sentence's index."""
    carried = {id(record) for record in taken.values()}
    others: dict[int, list[dict[str, Any]]] = {}
    for record in records:
        located = locate(str(record.get("evidence", "")), text)
        if id(record) in carried or located is None:
            continue
        start, end = located[0], located[1]
        overlaps = [
            (min(end, c.end) - max(start, c.start), i)
            for i, c in enumerate(candidates)
            if c.start < end and start < c.end
        ]
        if overlaps and max(overlaps)[1] in taken:
            others.setdefault(max(overlaps)[1], []).append(record)
    return others


def examples_of(spec: SchemaSpec, gold: Sequence[GoldArticle]) -> tuple[list[Example], int, int]:
    fields = label_fields(spec)
    examples: list[Example] = []
    unaligned = total = 0
    for group, item in enumerate(gold):
        ctx = ArticleContext(item.article)
        candidates = find_candidates(spec, ctx)
        rules = rule_records(spec, ctx, candidates)
        aligned, missing = align(spec, ctx.text, item.records, candidates)
        others = {} if spec.quantity_field else align_others(ctx.text, item.records, candidates, aligned)
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
                    _distinct_labels(labels, others.get(i, []), fields),
                )
            )
    return examples, unaligned, total


def _distinct_labels(
    labels: dict[str, str], records: list[dict[str, Any]], fields: Sequence[str]
) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    for record in records:
        other = {name: str(record.get(name)) for name in fields}
        if other != labels and other not in found:
            found.append(other)
    return found


@dataclass
class _Fitted:
    keep: LinearClassifier
    labels: dict[str, LinearClassifier | PairClassifier]


def _fit(
    spec: SchemaSpec,
    vocabulary: Vocabulary,
    examples: Sequence[Example],
    fields: Sequence[str],
    c: float,
    seed: int,
) -> _Fitted:
    matrix = vocabulary.matrix([e.features for e in examples])
    keep = fit_classifier(matrix, ["1" if e.keep else "0" for e in examples], c, seed)
    positives = [i for i, e in enumerate(examples) if e.keep]
    # a sentence with two measures teaches each of their labels (one row per label)
    labelled = [(i, examples[i].labels) for i in positives] + [
        (i, other) for i in positives for other in examples[i].other_labels
    ]
    rows = [i for i, _ in labelled]
    lexicons = spec.label_lexicon() if spec.label_lexicon is not None else {}
    labels: dict[str, LinearClassifier | PairClassifier] = {}
    for name in fields:
        targets = [labels_of[name] for _, labels_of in labelled]
        if name in lexicons:
            labels[name] = fit_pair_classifier(
                vocabulary,
                [examples[i].features for i in rows],
                [examples[i].shared[name] for i in rows],
                targets,
                lexicons[name].values,
                c,
                seed,
            )
        else:
            labels[name] = fit_classifier(matrix[rows], targets, c, seed)  # type: ignore[index]
    return _Fitted(keep, labels)


def _scores(
    fitted: _Fitted, vocabulary: Vocabulary, examples: Sequence[Example], key_fields: set[str]
) -> list[tuple[float, float, bool]]:
    """(p_keep, raw confidence, record right) per example: right when the gold keeps
    it, the engine's value is the gold's and every key label is the gold's."""
    encoded = vocabulary.encode([e.features for e in examples])
    keep = fitted.keep.probabilities(encoded)
    column = fitted.keep.classes.index("1") if "1" in fitted.keep.classes else None
    shared = {
        n: [e.shared[n] for e in examples] for n, c in fitted.labels.items() if isinstance(c, PairClassifier)
    }
    probabilities = label_probabilities(fitted.labels, encoded, shared)
    out = []
    for i, example in enumerate(examples):
        p_keep = float(keep[i, column]) if column is not None else 0.0
        labels, raw = choose_labels(fitted.labels, probabilities, i, key_fields, p_keep)
        right = (
            example.keep
            and example.value_right
            and any(
                all(labels[n] == gold_labels.get(n) for n in labels if n in key_fields)
                for gold_labels in [example.labels, *example.other_labels]
            )
        )
        out.append((p_keep, raw, right))
    return out


def _out_of_fold(
    spec: SchemaSpec,
    examples: Sequence[Example],
    fields: Sequence[str],
    key_fields: set[str],
    c: float,
    seed: int,
) -> list[tuple[float, float, bool]]:
    groups = sorted({e.group for e in examples})
    folds = min(FOLDS, len(groups))
    scores: list[tuple[float, float, bool]] = [(0.0, 0.0, False)] * len(examples)
    for fold in range(folds):
        held = {g for k, g in enumerate(groups) if k % folds == fold}
        train = [e for e in examples if e.group not in held]
        test_index = [i for i, e in enumerate(examples) if e.group in held]
        vocabulary = build_vocabulary([e.features for e in train])
        fitted = _fit(spec, vocabulary, train, fields, c, seed)
        for i, score in zip(
            test_index,
            _scores(fitted, vocabulary, [examples[i] for i in test_index], key_fields),
            strict=True,
        ):
            scores[i] = score
    return scores


def _best_threshold(
    scores: Sequence[tuple[float, float, bool]], examples: Sequence[Example], gold_total: int
) -> tuple[float, float]:
    """The keep threshold with the best out-of-fold F1 of fully right records."""
    best = (0.5, -1.0)
    for threshold in np.arange(0.2, 0.81, 0.05):
        kept = [(s, e) for s, e in zip(scores, examples, strict=True) if s[0] >= threshold]
        right = sum(1 for s, _ in kept if s[2])
        precision = right / len(kept) if kept else 0.0
        recall = right / gold_total if gold_total else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if f1 > best[1] + 1e-9:
            best = (round(float(threshold), 2), f1)
    return best


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
    examples: Sequence[Example], fields: Sequence[str], key_fields: set[str], p_keep: Sequence[float]
) -> list[tuple[float, float, bool]]:
    """The rules-only extractor in the shape of ``_scores``: (1 where the rules made
    a record else 0, the learned out-of-fold keep probability as the raw confidence,
    record right)."""
    out = []
    for example, probability in zip(examples, p_keep, strict=True):
        kept, labels = rule_decision(example, fields)
        right = (
            kept
            and example.keep
            and example.value_right
            and all(labels.get(n) == example.labels.get(n) for n in fields if n in key_fields)
        )
        out.append((1.0 if kept else 0.0, probability, right))
    return out


def fully_right_f1(scores: Sequence[tuple[float, float, bool]], threshold: float, gold_total: int) -> float:
    """Out-of-fold F1 of fully right records among the candidates kept at ``threshold``."""
    kept = [s for s in scores if s[0] >= threshold]
    right = sum(1 for s in kept if s[2])
    precision = right / len(kept) if kept else 0.0
    recall = right / gold_total if gold_total else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def train(
    spec: SchemaSpec, gold: Sequence[GoldArticle], seed: int = 0, info: dict[str, Any] | None = None
) -> tuple[LearnedModel, TrainingReport]:
    fields = label_fields(spec)
    key_fields = set(spec.scoring.key_fields)
    examples, unaligned, total = examples_of(spec, gold)
    if not any(e.keep for e in examples):
        raise ValueError(f"no gold record of {spec.name} could be aligned to a candidate: nothing to learn")
    best: tuple[float, float, float, list[tuple[float, float, bool]]] | None = None
    for c in C_GRID:
        scores = _out_of_fold(spec, examples, fields, key_fields, c, seed)
        threshold, f1 = _best_threshold(scores, examples, total)
        if best is None or f1 > best[1] + 1e-9:
            best = (c, f1, threshold, scores)
    assert best is not None
    c, f1, threshold, scores = best
    unseen = [not gold[e.group].rules_tuned_on for e in examples]
    # the rules-only extractor, scored on the same out-of-fold candidates of the
    # articles its rules were not written on: unless the classifiers beat it, the model
    # keeps the rules' records and only scores their confidence
    engine, engine_f1 = "learned", {}
    records_scored, records_threshold = scores, threshold
    if spec.offline is not None:
        by_rules = rules_scores(examples, fields, key_fields, [s[0] for s in scores])
        fresh = any(unseen)  # else every article was a rules article: compare on all
        compared = [i for i, u in enumerate(unseen) if u or not fresh]
        compared_gold = sum(len(g.records) for g in gold if not g.rules_tuned_on or not fresh)
        for name, engine_scores, engine_threshold in (
            ("learned", scores, threshold),
            ("rules", by_rules, 1.0),
        ):
            chosen = [engine_scores[i] for i in compared]
            engine_f1[name] = round(fully_right_f1(chosen, engine_threshold, compared_gold), 4)
        if engine_f1["rules"] >= engine_f1["learned"]:  # on a tie, the simpler rules
            engine, records_scored, records_threshold = "rules", by_rules, 1.0
    calibration = calibration_points(records_scored, records_threshold, unseen)
    calibrator = fit_calibrator([r for r, _ in calibration], [ok for _, ok in calibration])
    vocabulary = build_vocabulary([e.features for e in examples])
    fitted = _fit(spec, vocabulary, examples, fields, c, seed)
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
            **{f"f1_fully_right_{k}": v for k, v in engine_f1.items()},
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
            **({"other_label_min": OTHER_LABEL_MIN} if not spec.quantity_field else {}),
            "label_fields": list(fields),
            "training": {k: v for k, v in report.__dict__.items()},
        },
    )
    return model, report
