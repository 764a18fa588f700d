"""`polex eval`: score a run against gold, write eval.json and eval.md, apply gates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from polex.evals.corpus import MANIFEST_NAME, splits
from polex.evals.eval_report import (
    HIGH_CONFIDENCE,
    PRF,
    ArticleRow,
    Baseline,
    Calibration,
    ConfidenceBin,
    EvalReport,
    Grounding,
    GroupReport,
    GroupSchemaReport,
    PairRow,
    SchemaReport,
)
from polex.evals.loading import EvalInputError, Run, gold_span, load_articles, load_gold, load_run
from polex.evals.scoring import ArticleScore, Item, prf, score_article, summarise
from polex.pipeline.errors import PolexError
from polex.pipeline.grounding import validation_errors
from polex.pipeline.spec import SchemaSpec

SCORER_VERSION = 2
CONFIDENCE_BINS = 10


@dataclass
class Evaluation:
    report: EvalReport
    scores: dict[str, list[ArticleScore]]


def gold_schemas(specs: list[SchemaSpec], gold: dict[str, dict[str, Any]]) -> list[SchemaSpec]:
    """The registered schemas the gold labels (a schema absent from every gold file
    is not scored rather than scored as all-missing)."""
    return [s for s in specs if any(s.name in g for g in gold.values())]


def _refuse_invalid_gold(gold: dict[str, dict[str, Any]], specs: list[SchemaSpec]) -> None:
    """A gold record its schema rejects (an unknown indicator id, a missing field) is
    not scored silently: the evaluation stops and names it."""
    problems = []
    for labels in gold.values():
        for spec in specs:
            for index, record in enumerate(labels.get(spec.name) or []):
                try:
                    spec.model.model_validate(record)
                except ValidationError as exc:
                    problems.append(f"{labels['_file']}: {spec.name}[{index}].{validation_errors(exc)[0]}")
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise EvalInputError(f"gold records the schema rejects ({shown}); `polex gold check` lists them all")


def evaluate(
    run_dir: Path,
    gold_dir: Path,
    specs: list[SchemaSpec],
    articles_dir: Path | None = None,
    manifest: Path | None = None,
) -> Evaluation:
    """Scores every gold article; with a corpus manifest (given, or manifest.jsonl
    beside the gold folder) also each split, origin and split x origin group."""
    gold = load_gold(gold_dir)
    run = load_run(run_dir, specs)
    extracted = set(run.manifest.get("schemas", {})) or {s.name for s in specs}
    # a schema the run never extracted is not scored (rather than scored as all-missing)
    scored = [s for s in gold_schemas(specs, gold) if s.name in extracted]
    _refuse_invalid_gold(gold, scored)
    article_ids = sorted(gold)
    if not any(a in run.statuses for a in article_ids):
        raise EvalInputError(
            f"run {run_dir} holds none of the {len(article_ids)} gold articles in {gold_dir}: "
            "nothing to score (is it the run of these articles?)"
        )
    texts = load_articles(article_ids, articles_dir, run)
    spans_known = len(texts) == len(article_ids)
    headline: dict[str, float] = {}
    schemas: dict[str, SchemaReport] = {}
    pairs: dict[str, list[PairRow]] = {}
    scores: dict[str, list[ArticleScore]] = {}
    for spec in scored:
        per_article: list[ArticleScore] = []
        for article_id in article_ids:
            text = texts.get(article_id)
            rows = run.records.get(spec.name, {}).get(article_id, [])
            preds = [Item(r["record"], (r["char_start"], r["char_end"])) for r in rows]
            golds = [Item(g, gold_span(g, text)) for g in gold[article_id].get(spec.name, [])]
            per_article.append(score_article(spec, article_id, preds, golds))
        scores[spec.name] = per_article
        summary = summarise(spec, per_article)
        schemas[spec.name] = SchemaReport(
            **dict(summary),
            articles=[_article_row(a, run) for a in per_article],
            grounding=_grounding(spec, run, article_ids),
            calibration=calibration(per_article, run, spec),
        )
        pairs[spec.name] = _pairs(per_article, run, spec, gold)
        for level in ("lenient", "strict"):
            level_scores = summary.records.level(level)
            for key, value in level_scores.macro.model_dump().items():
                headline[f"{spec.name}.{level}_{key}"] = round(value, 4)
            headline[f"{spec.name}.{level}_micro_f1"] = round(level_scores.micro.f1, 4)
        for name, value in summary.set_f1.items():
            headline[f"{spec.name}.{name}_set_f1"] = round(value, 4)
    groups: dict[str, GroupReport] = {}
    manifest = manifest or gold_dir.parent / MANIFEST_NAME
    if manifest.is_file():
        for group, members in article_groups(article_ids, manifest).items():
            by_schema: dict[str, GroupSchemaReport] = {}
            for spec in scored:
                subset = [a for a in scores[spec.name] if a.article_id in members]
                by_schema[spec.name] = group_summary(spec, subset, run)
                for key, value in group_headline(by_schema[spec.name]).items():
                    headline[f"{group}/{spec.name}.{key}"] = value
            groups[group] = GroupReport(articles=len(members), schemas=by_schema)
    report = EvalReport(
        run=str(run_dir),
        gold=str(gold_dir),
        scorer_version=SCORER_VERSION,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        backend=run.manifest.get("backend", {}),
        articles_scored=article_ids,
        articles_missing_from_run=[a for a in article_ids if a not in run.statuses],
        articles_without_gold=sorted(set(run.statuses) - set(article_ids)),
        evidence_compared_as="character spans" if spans_known else "text (articles missing)",
        headline=headline,
        schemas=schemas,
        groups=groups,
        pairs=pairs,
    )
    return Evaluation(report, scores)


def article_groups(article_ids: list[str], manifest: Path) -> dict[str, set[str]]:
    """split=S, origin=O and split=S,origin=O groups of the gold articles."""
    entries = splits(manifest)
    groups: dict[str, set[str]] = {}
    for article_id in article_ids:
        entry = entries.get(article_id)
        if entry is None:
            continue
        for name in (
            f"split={entry.split}",
            f"origin={entry.origin}",
            f"split={entry.split},origin={entry.origin}",
        ):
            groups.setdefault(name, set()).add(article_id)
    return dict(sorted(groups.items()))


def subset_f1(articles: list[ArticleScore], fields: tuple[str, ...]) -> float:
    """Micro F1 of records whose ``fields`` are all correct (e.g. value only, or
    value and kind)."""
    tp = sum(
        all(p.fields.get(name) in ("correct", "both_empty") for name in fields)
        for a in articles
        for p in a.pairs
        if p.gold is not None and p.pred is not None
    )
    return prf(tp, sum(a.n_pred for a in articles), sum(a.n_gold for a in articles))["f1"]


def group_summary(spec: SchemaSpec, articles: list[ArticleScore], run: Run) -> GroupSchemaReport:
    full = summarise(spec, articles)
    quantity = spec.quantity_field
    key_fields = spec.scoring.key_fields
    subsets: dict[str, float] = {}
    if quantity:
        subsets[quantity] = subset_f1(articles, (quantity,))
        rest = tuple(k for k in key_fields if k not in (quantity, "indicator"))
        if rest:
            subsets["+".join((quantity, *rest))] = subset_f1(articles, (quantity, *rest))
    return GroupSchemaReport(
        n_articles=full.n_articles,
        n_gold=full.n_gold,
        n_pred=full.n_pred,
        records=full.records,
        intervals_95=full.intervals_95,
        fields_f1={name: round(f.f1, 4) for name, f in full.fields.items()},
        calibration=calibration(articles, run, spec),
        subset_f1=subsets,
        set_f1=full.set_f1,
    )


def group_headline(summary: GroupSchemaReport) -> dict[str, float]:
    out: dict[str, float] = {}
    for level in ("lenient", "strict"):
        level_scores = summary.records.level(level)
        out[f"{level}_f1"] = round(level_scores.macro.f1, 4)
        out[f"{level}_micro_f1"] = round(level_scores.micro.f1, 4)
    for fields, value in summary.subset_f1.items():
        out[f"{fields}_f1"] = round(value, 4)
    for name, value in summary.set_f1.items():
        out[f"{name}_set_f1"] = round(value, 4)
    for name in ("period", "region"):
        if name in summary.fields_f1:
            out[f"{name}_field_f1"] = summary.fields_f1[name]
    if summary.calibration.ece is not None:
        out["ece"] = summary.calibration.ece
    return out


def calibration(articles: list[ArticleScore], run: Run, spec: SchemaSpec) -> Calibration:
    """Reliability of the records' ``confidence``: per bin, how many records, their
    mean confidence and the share that is right (lenient); the expected calibration
    error; and the precision of records at or above HIGH_CONFIDENCE."""
    items: list[tuple[float, bool]] = []
    for a in articles:
        rows = run.records.get(spec.name, {}).get(a.article_id, [])
        for p in a.pairs:
            if p.pred is None:
                continue
            confidence = rows[p.pred].get("confidence")
            if isinstance(confidence, int | float):
                items.append((float(confidence), p.lenient))
    if not items:
        return Calibration(records=0)
    bins: list[ConfidenceBin] = []
    ece = 0.0
    for b in range(CONFIDENCE_BINS):
        low, high = b / CONFIDENCE_BINS, (b + 1) / CONFIDENCE_BINS
        members = [(c, ok) for c, ok in items if low <= c < high or (b == CONFIDENCE_BINS - 1 and c == 1.0)]
        if not members:
            continue
        mean = sum(c for c, _ in members) / len(members)
        right = sum(ok for _, ok in members) / len(members)
        ece += len(members) / len(items) * abs(right - mean)
        bins.append(
            ConfidenceBin(
                bin=f"{low:.1f}-{high:.1f}",
                records=len(members),
                mean_confidence=round(mean, 4),
                precision=round(right, 4),
            )
        )
    confident = [ok for c, ok in items if c >= HIGH_CONFIDENCE]
    return Calibration(
        records=len(items),
        bins=bins,
        ece=round(ece, 4),
        records_at_high=len(confident),
        precision_at_high=round(sum(confident) / len(confident), 4) if confident else None,
    )


def _article_row(a: ArticleScore, run: Run) -> ArticleRow:
    return ArticleRow(
        article_id=a.article_id,
        status=run.statuses.get(a.article_id, "missing"),
        n_gold=a.n_gold,
        n_pred=a.n_pred,
        lenient=PRF(**prf(a.lenient_tp, a.n_pred, a.n_gold)),
        strict=PRF(**prf(a.strict_tp, a.n_pred, a.n_gold)),
    )


def _grounding(spec: SchemaSpec, run: Run, article_ids: list[str]) -> Grounding:
    rows = [r for a in article_ids for r in run.records.get(spec.name, {}).get(a, [])]
    rejected = sum(run.rejected.get(spec.name, {}).get(a, 0) for a in article_ids)
    proposed = len(rows) + rejected
    return Grounding(
        kept=len(rows),
        rejected=rejected,
        grounding_rate=len(rows) / proposed if proposed else 1.0,
        exact_alignment=sum(r.get("alignment") == "exact" for r in rows),
        normalised_alignment=sum(r.get("alignment") == "normalised" for r in rows),
        flagged=sum(bool(r.get("flags")) for r in rows),
    )


def _pairs(
    articles: list[ArticleScore], run: Run, spec: SchemaSpec, gold: dict[str, dict[str, Any]]
) -> list[PairRow]:
    out: list[PairRow] = []
    for a in articles:
        rows = run.records.get(spec.name, {}).get(a.article_id, [])
        golds = gold[a.article_id].get(spec.name, [])
        for p in a.pairs:
            out.append(
                PairRow(
                    article_id=a.article_id,
                    gold_index=p.gold,
                    pred_index=p.pred,
                    similarity=round(p.similarity, 4),
                    lenient=p.lenient,
                    strict=p.strict,
                    fields=p.fields,
                    gold=golds[p.gold] if p.gold is not None else None,
                    pred=rows[p.pred]["record"] if p.pred is not None else None,
                )
            )
    return out


class GateFailure(PolexError):
    pass


def check_gates(
    headline: dict[str, float], fail_under: list[str], baseline: Baseline | None, max_drop: float
) -> None:
    """Raise GateFailure with a one-line reason when a gate is not met."""
    for gate in fail_under:
        if "=" not in gate:
            raise GateFailure(f"--fail-under expects METRIC=VALUE, got '{gate}'")
        metric, _, threshold = gate.partition("=")
        if metric not in headline:
            raise GateFailure(f"unknown metric '{metric}'; known: {', '.join(sorted(headline))}")
        if headline[metric] < float(threshold):
            raise GateFailure(f"{metric} = {headline[metric]:.4f} is under {float(threshold):.4f}")
    if baseline is not None:
        for metric, before in baseline.headline.items():
            now = headline.get(metric)
            if now is None:
                raise GateFailure(f"baseline metric {metric} is missing from this evaluation")
            if now < before - max_drop:
                raise GateFailure(f"{metric} dropped from {before:.4f} to {now:.4f} (more than {max_drop:g})")
