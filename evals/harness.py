"""`polex eval`: score a run against gold, write eval.json and eval.md, apply gates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.loading import Run, gold_span, load_articles, load_gold, load_run
from evals.scoring import ArticleScore, Item, prf, score_article, summarise
from pipeline.spec import SchemaSpec

SCORER_VERSION = 1


@dataclass
class Evaluation:
    report: dict[str, Any]
    scores: dict[str, list[ArticleScore]]


def gold_schemas(specs: list[SchemaSpec], gold: dict[str, dict[str, Any]]) -> list[SchemaSpec]:
    """The registered schemas the gold labels (a schema absent from every gold file
    is not scored rather than scored as all-missing)."""
    return [s for s in specs if any(s.name in g for g in gold.values())]


def evaluate(
    run_dir: Path,
    gold_dir: Path,
    specs: list[SchemaSpec],
    articles_dir: Path | None = None,
    bootstrap: bool = True,
) -> Evaluation:
    gold = load_gold(gold_dir)
    run = load_run(run_dir, specs)
    extracted = set(run.manifest.get("schemas", {})) or {s.name for s in specs}
    # a schema the run never extracted is not scored (rather than scored as all-missing)
    scored = [s for s in gold_schemas(specs, gold) if s.name in extracted]
    article_ids = sorted(gold)
    texts = load_articles(article_ids, articles_dir, run)
    report: dict[str, Any] = {
        "run": str(run_dir),
        "gold": str(gold_dir),
        "scorer_version": SCORER_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "backend": run.manifest.get("backend", {}),
        "articles_scored": article_ids,
        "articles_missing_from_run": [a for a in article_ids if a not in run.statuses],
        "articles_without_gold": sorted(set(run.statuses) - set(article_ids)),
        "evidence_compared_as": "character spans"
        if len(texts) == len(article_ids)
        else "text (articles missing)",
        "headline": {},
        "schemas": {},
        "pairs": {},
    }
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
        summary = summarise(spec, per_article) if bootstrap else {}
        summary["articles"] = [_article_row(a, run) for a in per_article]
        summary["grounding"] = _grounding(spec, run, article_ids)
        report["schemas"][spec.name] = summary
        report["pairs"][spec.name] = _pairs(per_article, run, spec, gold)
        if bootstrap:
            for level in ("lenient", "strict"):
                for key, value in summary["records"][level]["macro"].items():
                    report["headline"][f"{spec.name}.{level}_{key}"] = round(value, 4)
                report["headline"][f"{spec.name}.{level}_micro_f1"] = round(
                    summary["records"][level]["micro"]["f1"], 4
                )
            for name in spec.scoring.set_fields:
                report["headline"][f"{spec.name}.{name}_set_f1"] = round(summary[f"{name}_set_f1"], 4)
    return Evaluation(report, scores)


def _article_row(a: ArticleScore, run: Run) -> dict[str, Any]:
    return {
        "article_id": a.article_id,
        "status": run.statuses.get(a.article_id, "missing"),
        "n_gold": a.n_gold,
        "n_pred": a.n_pred,
        "lenient": prf(a.lenient_tp, a.n_pred, a.n_gold),
        "strict": prf(a.strict_tp, a.n_pred, a.n_gold),
    }


def _grounding(spec: SchemaSpec, run: Run, article_ids: list[str]) -> dict[str, Any]:
    rows = [r for a in article_ids for r in run.records.get(spec.name, {}).get(a, [])]
    rejected = sum(run.rejected.get(spec.name, {}).get(a, 0) for a in article_ids)
    proposed = len(rows) + rejected
    return {
        "kept": len(rows),
        "rejected": rejected,
        "grounding_rate": len(rows) / proposed if proposed else 1.0,
        "exact_alignment": sum(r.get("alignment") == "exact" for r in rows),
        "normalised_alignment": sum(r.get("alignment") == "normalised" for r in rows),
        "flagged": sum(bool(r.get("flags")) for r in rows),
    }


def _pairs(
    articles: list[ArticleScore], run: Run, spec: SchemaSpec, gold: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for a in articles:
        rows = run.records.get(spec.name, {}).get(a.article_id, [])
        golds = gold[a.article_id].get(spec.name, [])
        for p in a.pairs:
            out.append(
                {
                    "article_id": a.article_id,
                    "gold_index": p.gold,
                    "pred_index": p.pred,
                    "similarity": round(p.similarity, 4),
                    "lenient": p.lenient,
                    "strict": p.strict,
                    "fields": p.fields,
                    "gold": golds[p.gold] if p.gold is not None else None,
                    "pred": rows[p.pred]["record"] if p.pred is not None else None,
                }
            )
    return out


class GateFailure(Exception):
    pass


def check_gates(
    headline: dict[str, float], fail_under: list[str], baseline: dict[str, Any] | None, max_drop: float
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
        for metric, before in baseline.get("headline", {}).items():
            now = headline.get(metric)
            if now is None:
                raise GateFailure(f"baseline metric {metric} is missing from this evaluation")
            if now < before - max_drop:
                raise GateFailure(f"{metric} dropped from {before:.4f} to {now:.4f} (more than {max_drop:g})")
