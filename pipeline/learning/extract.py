"""Learned offline extraction: candidates, features, classifiers, records.

Fields are filled in this order: the schema's own rules for the same candidate
(when it has rules and they produced a record there); else conventions from the
core (the clause as evidence, the engine's number, unit, comparator and range,
the article's region, the period of the clause, sentence or passage, the clause text
for any other required text field); then the classifiers set every label field.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, TypeAlias

from pydantic import BaseModel, ValidationError

from polex.pipeline.grounding import locate
from polex.pipeline.learning.candidates import Candidate, mention_candidates, sentence_candidates, unwrapped
from polex.pipeline.learning.features import mention_features, sentence_features
from polex.pipeline.learning.label_sets import article_values
from polex.pipeline.learning.lexicon import hits, shared_features
from polex.pipeline.learning.predictor import Features, LinearScorer, Matrix, PairScorer, Predictor
from polex.pipeline.periods import (
    article_year,
    in_headline,
    lead_year,
    metadata_year,
    period_of_figure,
    relative_year,
)
from polex.pipeline.places import article_region, figure_region
from polex.pipeline.records import ArticleContext
from polex.pipeline.spec import SchemaSpec

if TYPE_CHECKING:  # training's classifiers and arrays (numpy); prediction reads lists
    import numpy as np
    from numpy.typing import NDArray

    from polex.pipeline.learning.linear import Encoded, LinearClassifier, PairClassifier
    from polex.pipeline.learning.model import LearnedModel

    # (candidates, values) probabilities: numpy in training, lists in prediction
    Probabilities: TypeAlias = NDArray[np.float64] | Matrix
    Classifier: TypeAlias = LinearClassifier | PairClassifier | LinearScorer | PairScorer


@cache
def choices(model: type[BaseModel], name: str) -> tuple[str, ...] | None:
    """The values a single-choice field may take (a Literal, or an enum in its JSON
    schema), or None for any other field. (Read once per model and field: every
    candidate asks.)"""
    info = model.model_fields[name]
    extra = info.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("enum"), list):
        return tuple(str(v) for v in extra["enum"])  # type: ignore[union-attr]
    if typing.get_origin(info.annotation) is typing.Literal:
        return tuple(str(v) for v in typing.get_args(info.annotation))
    return None


def label_fields(spec: SchemaSpec) -> tuple[str, ...]:
    """The fields classifiers choose: the spec's ``learn``, or every required
    single-choice field of the model."""
    if spec.learn is not None:
        return spec.learn
    return tuple(
        name
        for name, info in spec.model.model_fields.items()
        if info.is_required() and choices(spec.model, name) is not None
    )


def candidate_kind(spec: SchemaSpec) -> str:
    return "mentions" if spec.quantity_field else "sentences"


def find_candidates(spec: SchemaSpec, ctx: ArticleContext) -> list[Candidate]:
    return mention_candidates(ctx) if spec.quantity_field else sentence_candidates(ctx)


def _matches(spec: SchemaSpec, record: dict[str, Any], span: tuple[int, int], candidate: Candidate) -> bool:
    if candidate.mention is None:
        return span[0] < candidate.sentence.end and candidate.sentence.start < span[1]
    value = record.get(spec.quantity_field or "")
    if not isinstance(value, int | float) or not span[0] <= candidate.mention.start < span[1]:
        return False
    return any(abs(abs(value) - abs(x)) <= 1e-6 * max(1.0, abs(x)) for x in candidate.mention.readings)


def rule_records(
    spec: SchemaSpec, ctx: ArticleContext, candidates: Sequence[Candidate]
) -> list[dict[str, Any] | None]:
    """The record the schema's rules made at each candidate, if any."""
    found: list[dict[str, Any] | None] = [None] * len(candidates)
    if spec.offline is None:
        return found
    for item in spec.offline(ctx):
        model, hint = item if isinstance(item, tuple) else (item, 0)
        record = model.model_dump(mode="json")
        located = locate(str(record.get("evidence", "")), ctx.text, hint)
        if located is None:
            continue
        for i, candidate in enumerate(candidates):
            if found[i] is None and _matches(spec, record, (located[0], located[1]), candidate):
                found[i] = record
                break
    return found


def featurize(
    spec: SchemaSpec, ctx: ArticleContext, candidate: Candidate, rule: dict[str, Any] | None
) -> dict[str, float]:
    if candidate.mention is not None:
        # a number's own features do not depend on the schema: computed once per
        # article and candidate, for every schema that shares the article's mention
        # candidates; a copy, as the features below are added to it
        features = dict(
            ctx.shared(("mention_features", candidate), lambda: mention_features(ctx.text, candidate))
        )
    else:
        features = sentence_features(ctx.text, candidate)
    if rule is not None:
        features["rule:kept"] = 1.0
        for name in label_fields(spec):
            features[f"rule:{name}={rule.get(name)}"] = 1.0
    if spec.learning_features is not None:
        features.update(spec.learning_features(ctx, candidate))
    return features


def pair_inputs(
    spec: SchemaSpec,
    ctx: ArticleContext,
    candidates: Sequence[Candidate],
    rules: Sequence[dict[str, Any] | None],
) -> dict[str, list[list[Features]]]:
    """Per lexicon field, per candidate, per value: the pair's shared features."""
    if spec.label_lexicon is None:
        return {}
    out: dict[str, list[list[Features]]] = {}
    for name, lexicon in spec.label_lexicon().items():
        found = hits(lexicon, ctx.text)
        out[name] = [
            shared_features(lexicon, ctx.text, c, found, (r or {}).get(name))
            for c, r in zip(candidates, rules, strict=True)
        ]
    return out


def default_record(
    spec: SchemaSpec, ctx: ArticleContext, candidate: Candidate, year: int | None, region: str | None
) -> dict[str, Any]:
    fields = spec.model.model_fields
    text = ctx.text
    segment = text[candidate.segment.start : candidate.segment.end]
    out: dict[str, Any] = {}
    if "evidence" in fields:
        out["evidence"] = segment
    mention = candidate.mention
    if mention is not None:
        if spec.quantity_field:
            out[spec.quantity_field] = mention.value
        if "value_high" in fields:
            out["value_high"] = mention.high
        allowed_units = choices(spec.model, "unit") if "unit" in fields else None
        if allowed_units and mention.unit in allowed_units:
            out["unit"] = mention.unit
        if "comparator" in fields:
            out["comparator"] = mention.comparator
    if "region" in fields:
        out["region"] = candidate_region(ctx, candidate, region)
    if "period" in fields:
        out["period"] = figure_period(ctx, candidate, year)
    for name, info in fields.items():
        if name not in out and info.is_required() and info.annotation is str:
            out[name] = segment
    return out


def figure_period(ctx: ArticleContext, candidate: Candidate, year: int | None) -> str | None:
    """The period of a candidate's record from its clause, sentence, the sentence
    before and its paragraph (pipeline/periods.py); when they name no time, a figure
    below the title takes the one year the article's lead names ("Guanshanhu ... to
    ensure more employment in 2021", then "Throughout the year, the district arranged
    for 453 people ...": 2021; rule 20 and the article's context as the fallback)."""
    text = unwrapped(ctx.text)
    spans = [candidate.segment, candidate.sentence, *([candidate.previous] if candidate.previous else [])]
    months_year = article_year(text) if year is None else None
    found = period_of_figure(text, [(s.start, s.end) for s in spans], year, months_year)
    if found is not None or in_headline(text, candidate.start):
        return found
    lead = lead_year(text)
    return str(lead) if lead is not None else None


def candidate_region(ctx: ArticleContext, candidate: Candidate, article: str | None) -> str | None:
    """The region of a candidate's record: the place its clause or sentence names,
    else the article's (pipeline/places.py)."""
    spans = (
        (candidate.segment.start, candidate.segment.end),
        (candidate.sentence.start, candidate.sentence.end),
    )
    return figure_region(ctx.text, spans, article)


def label_probabilities(
    classifiers: Mapping[str, LinearClassifier | PairClassifier],
    encoded: Encoded,
    shared: Mapping[str, Sequence[Sequence[Features]]],
) -> dict[str, NDArray[np.float64]]:
    """Per label field, (candidates, values) probabilities of training's classifiers."""
    from polex.pipeline.learning.linear import PairClassifier

    return {
        name: clf.probabilities(encoded, shared[name])
        if isinstance(clf, PairClassifier)
        else clf.probabilities(encoded)
        for name, clf in classifiers.items()
    }


def argmax(row: Sequence[float] | NDArray[np.float64]) -> int:
    """The column of the largest value (the first of equal ones, as numpy's argmax)."""
    return max(range(len(row)), key=row.__getitem__)


def choose_labels(
    classifiers: Mapping[str, Classifier],
    probabilities: Mapping[str, Probabilities],
    row: int,
    key_fields: set[str],
    p_keep: float,
) -> tuple[dict[str, str], float]:
    """The most probable value of each label field for one candidate, and the raw
    confidence: the keep probability times the key fields' probabilities."""
    labels: dict[str, str] = {}
    product = p_keep
    for name, p in probabilities.items():
        best = argmax(p[row])
        labels[name] = classifiers[name].classes[best]
        if name in key_fields:
            product *= float(p[row][best])
    return labels, product


def rule_confidence(
    classifiers: Mapping[str, Classifier],
    probabilities: Mapping[str, Probabilities],
    row: int,
    rule_labels: Mapping[str, str],
    key_fields: set[str],
    p_keep: float,
) -> float:
    """The raw confidence of the record the schema's rules made at one candidate: the
    keep probability times the probabilities the classifiers give the *rules'* values
    of the key label fields (0 for a value no classifier has seen). A rules' record
    whose label the classifiers doubt is less likely right, which the keep
    probability alone cannot say."""
    product = p_keep
    for name, p in probabilities.items():
        if name not in key_fields:
            continue
        classes = classifiers[name].classes
        value = rule_labels.get(name)
        product *= float(p[row][classes.index(value)]) if value in classes else 0.0
    return product


@dataclass(frozen=True)
class Prediction:
    record: BaseModel
    offset: int
    confidence: float


def scores(
    model: Predictor | LearnedModel,
    rows: Sequence[Features],
    shared: Mapping[str, Sequence[Sequence[Features]]],
) -> tuple[Probabilities, dict[str, Probabilities]]:
    """The keep and the label fields' probabilities of ``rows``: a saved model's
    (``load_model``) as lists, a model training just fitted as numpy arrays."""
    if isinstance(model, Predictor):
        encoded = model.vocabulary.encode(rows)
        return model.keep.probabilities(encoded), dict(model.label_probabilities(encoded, shared))
    arrays = model.vocabulary.encode(rows)
    return model.keep.probabilities(arrays), dict(label_probabilities(model.labels, arrays, shared))


def predict(spec: SchemaSpec, model: Predictor | LearnedModel, ctx: ArticleContext) -> list[Prediction]:
    candidates = find_candidates(spec, ctx)
    if not candidates:
        return []
    rules = rule_records(spec, ctx, candidates)
    keep, probabilities = scores(
        model,
        [featurize(spec, ctx, c, r) for c, r in zip(candidates, rules, strict=True)],
        pair_inputs(spec, ctx, candidates, rules),
    )
    keep_column = model.keep.classes.index("1") if "1" in model.keep.classes else None
    if model.info.get("engine") == "rules":
        return rules_predictions(
            spec,
            model,
            ctx,
            candidates,
            rules,
            [float(row[keep_column]) for row in keep] if keep_column is not None else None,
            probabilities,
        )
    key_fields = set(spec.scoring.key_fields)
    out: list[Prediction] = []
    for i, candidate in enumerate(candidates):
        p_keep = float(keep[i][keep_column]) if keep_column is not None else 0.0
        if p_keep < model.threshold:
            continue
        labels, raw = choose_labels(model.labels, probabilities, i, key_fields, p_keep)
        record = learned_record(spec, ctx, candidate, rules[i], labels)
        try:
            validated = spec.model.model_validate(record)
        except ValidationError:
            continue
        out.append(Prediction(validated, candidate.sentence.start, model.calibrator(raw)))
        if candidate.mention is None and model.more_labels_at is not None:
            for name, value, probability in further_labels(
                model.labels, probabilities, i, labels, model.more_labels_at
            ):
                further = spec.model.model_validate({**record, name: value})
                further_raw = (
                    raw / max(float(max(probabilities[name][i])), 1e-9) * probability
                    if name in key_fields
                    else raw
                )
                out.append(Prediction(further, candidate.sentence.start, model.calibrator(further_raw)))
    if candidate_kind(spec) == "sentences":
        keep_probabilities = (
            [float(row[keep_column]) for row in keep] if keep_column is not None else [0.0] * len(candidates)
        )
        for name in model.labels:
            at = model.label_set_at(name)
            if at is not None:
                out = follow_label_set(
                    spec, model, ctx, candidates, rules, keep_probabilities, probabilities, out, name, at
                )
    return out


def learned_record(
    spec: SchemaSpec,
    ctx: ArticleContext,
    candidate: Candidate,
    rule: dict[str, Any] | None,
    labels: Mapping[str, str],
) -> dict[str, Any]:
    """The record a learned model makes at a candidate with ``labels``: the rules'
    record there (its period and region read by the core) or the conventions'
    record, with the labels set."""
    if rule is not None:
        record = with_shared_readings(ctx, candidate, rule)
    else:
        # the article's year and region are read once per text (cached)
        year = relative_year(ctx.text, metadata_year(ctx.article.metadata))
        record = default_record(spec, ctx, candidate, year, article_region(ctx.text))
    record.update(labels)
    mention = candidate.mention
    if mention is not None and "unit" in labels and mention.unit_explicit:
        allowed = choices(spec.model, "unit") or ()
        if mention.unit in allowed:
            record["unit"] = mention.unit  # an explicit unit is read, not guessed
    return record


def follow_label_set(
    spec: SchemaSpec,
    model: Predictor | LearnedModel,
    ctx: ArticleContext,
    candidates: Sequence[Candidate],
    rules: Sequence[dict[str, Any] | None],
    keep: Sequence[float],
    probabilities: Mapping[str, Probabilities],
    predictions: list[Prediction],
    name: str,
    at: float,
) -> list[Prediction]:
    """The records made to follow the article's set of values of the label field
    ``name`` (``label_sets.article_values`` at ``at``): a record whose value is not in
    the set is dropped; a value of the set that no record carries gets one record at
    the candidate where keep x value is most probable, with that as its raw score."""
    classes = model.labels[name].classes
    wanted = article_values(classes, keep, probabilities[name], at)
    kept = [p for p in predictions if str(getattr(p.record, name)) in wanted]
    carried = {str(getattr(p.record, name)) for p in kept}
    key_fields = set(spec.scoring.key_fields)
    for value in sorted(wanted - carried):
        column = classes.index(value)
        i = argmax([k * float(p[column]) for k, p in zip(keep, probabilities[name], strict=True)])
        labels, raw = choose_labels(model.labels, probabilities, i, key_fields, float(keep[i]))
        if name in key_fields:
            p = probabilities[name][i]
            raw = raw / max(float(max(p)), 1e-9) * float(p[column])
        record = learned_record(spec, ctx, candidates[i], rules[i], {**labels, name: value})
        try:
            validated = spec.model.model_validate(record)
        except ValidationError:
            continue
        kept.append(Prediction(validated, candidates[i].sentence.start, model.calibrator(raw)))
    return kept


def further_labels(
    classifiers: Mapping[str, Classifier],
    probabilities: Mapping[str, Probabilities],
    row: int,
    chosen: Mapping[str, str],
    at: float,
) -> list[tuple[str, str, float]]:
    """The other values of each label field whose probability is at least ``at``, as
    (field, value, probability): a sentence that holds several records of different
    labels (two measures in one sentence) gives one record per such value."""
    found: list[tuple[str, str, float]] = []
    for name, p in probabilities.items():
        for column, value in enumerate(classifiers[name].classes):
            if value != chosen[name] and p[row][column] >= at:
                found.append((name, value, float(p[row][column])))
    return found


def with_shared_readings(ctx: ArticleContext, candidate: Candidate, rule: dict[str, Any]) -> dict[str, Any]:
    """A rules' record with its ``period`` and ``region`` (when the schema has them)
    read by the core's readers of the candidate's clause, sentence and article
    (pipeline/periods.py, pipeline/places.py), as every learned record reads them."""
    record = dict(rule)
    if "period" in record:
        # the article's year and region are read once per text (cached)
        year = relative_year(ctx.text, metadata_year(ctx.article.metadata))
        record["period"] = figure_period(ctx, candidate, year)
    if "region" in record:
        record["region"] = candidate_region(ctx, candidate, article_region(ctx.text))
    return record


def rules_predictions(
    spec: SchemaSpec,
    model: Predictor | LearnedModel,
    ctx: ArticleContext,
    candidates: Sequence[Candidate],
    rules: Sequence[dict[str, Any] | None],
    p_keep: Sequence[float] | None,
    probabilities: Mapping[str, Probabilities],
) -> list[Prediction]:
    """The records of a model whose training found the schema's rules better than its
    classifiers (``engine`` "rules"): the rules' records as they made them, their
    period and region read as a learned record's are (``with_shared_readings``), with
    the confidence the calibrator gives ``rule_confidence`` (the keep probability
    times the classifiers' probabilities of the rules' key labels)."""
    key_fields = set(spec.scoring.key_fields)
    out: list[Prediction] = []
    for i, (candidate, rule) in enumerate(zip(candidates, rules, strict=True)):
        if rule is None:
            continue
        rule_labels = {name: str(rule.get(name)) for name in model.labels}
        raw = rule_confidence(
            model.labels,
            probabilities,
            i,
            rule_labels,
            key_fields,
            float(p_keep[i]) if p_keep is not None else 0.0,
        )
        record = spec.model.model_validate(with_shared_readings(ctx, candidate, rule))
        out.append(Prediction(record, candidate.sentence.start, model.calibrator(raw)))
    return out
