"""`polex report RUN_DIR [--gold DIR]`: one self-contained HTML file (no network at
view time) to look at a run: every article with its evidence spans highlighted by
schema and kind, a click showing a record's fields and flags, unclaimed numbers
marked, and, with gold, correct / incorrect / missing / spurious records marked and
the article list sortable by F1. A summary page gives the scores with intervals,
the per-field table, records per category, and targets versus actuals per region
and indicator. Parquet files of every schema are written beside it."""

from __future__ import annotations

import html
import itertools
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from evals.harness import Evaluation, evaluate
from evals.loading import gold_span, load_articles, load_gold, load_run
from pipeline.runstore import atomic_write, read_jsonl
from pipeline.spec import SchemaSpec

SCHEMA_COLOURS = ("#2563eb", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be123c")
KIND_COLOURS = {"target": "#f59e0b", "actual": "#10b981", "completion_rate": "#6366f1", "change": "#ef4444"}
DEFAULT_MAX_ARTICLES = 500


def _status_of_pairs(evaluation: Evaluation | None) -> dict[tuple[str, str, int], str]:
    """(schema, article, predicted index) -> correct | incorrect | spurious."""
    out: dict[tuple[str, str, int], str] = {}
    if evaluation is None:
        return out
    for schema, articles in evaluation.scores.items():
        for article in articles:
            for pair in article.pairs:
                if pair.pred is None:
                    continue
                status = "spurious" if pair.gold is None else ("correct" if pair.lenient else "incorrect")
                out[(schema, article.article_id, pair.pred)] = status
    return out


def _missing(
    evaluation: Evaluation | None, gold: dict[str, Any], texts: dict[str, str]
) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    if evaluation is None:
        return out
    for schema, articles in evaluation.scores.items():
        for article in articles:
            records = gold[article.article_id].get(schema, [])
            for pair in article.pairs:
                if pair.pred is None and pair.gold is not None:
                    record = records[pair.gold]
                    span = gold_span(record, texts.get(article.article_id))
                    out[article.article_id].append(
                        {
                            "schema": schema,
                            "fields": record,
                            "start": span[0] if span else None,
                            "end": span[1] if span else None,
                        }
                    )
    return out


def _segments(text: str, marks: list[dict[str, Any]]) -> str:
    """The article as HTML: the text cut at every mark boundary, each piece carrying
    the indices of the marks that cover it."""
    cuts = {0, len(text)}
    for mark in marks:
        cuts.update((mark["start"], mark["end"]))
    bounds = sorted(c for c in cuts if 0 <= c <= len(text))
    pieces: list[str] = []
    for start, end in itertools.pairwise(bounds):
        covering = [i for i, m in enumerate(marks) if m["start"] <= start and end <= m["end"]]
        chunk = html.escape(text[start:end]).replace("\n", "<br>")
        if not covering:
            pieces.append(chunk)
            continue
        classes = sorted({marks[i]["css"] for i in covering})
        style = marks[covering[-1]]["style"]
        ids = ",".join(str(i) for i in covering)
        pieces.append(
            f'<span class="mark {" ".join(classes)}" style="{style}" data-marks="{ids}">{chunk}</span>'
        )
    return "".join(pieces)


def build(
    run_dir: Path,
    specs: list[SchemaSpec],
    gold_dir: Path | None = None,
    articles_dir: Path | None = None,
    max_articles: int = DEFAULT_MAX_ARTICLES,
) -> dict[str, Any]:
    """The report's data: everything the page shows, as JSON-ready structures."""
    run = load_run(run_dir, specs)
    extracted = set(run.manifest.get("schemas", {}))
    specs = [s for s in specs if not extracted or s.name in extracted]
    evaluation = evaluate(run_dir, gold_dir, specs, articles_dir) if gold_dir else None
    gold = load_gold(gold_dir) if gold_dir else {}
    article_ids = [a["id"] for a in run.manifest.get("articles", []) if a.get("id")][:max_articles]
    texts = load_articles(article_ids, articles_dir, run)
    statuses = _status_of_pairs(evaluation)
    missing = _missing(evaluation, gold, texts)
    colours = {spec.name: SCHEMA_COLOURS[i % len(SCHEMA_COLOURS)] for i, spec in enumerate(specs)}
    unclaimed: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in read_jsonl(run_dir / "unclaimed.jsonl"):
        unclaimed[row["article_id"]].append(row)
    f1: dict[str, dict[str, float]] = defaultdict(dict)
    if evaluation is not None:
        for name, summary in evaluation.report.schemas.items():
            for scored in summary.articles:
                f1[scored.article_id][name] = scored.lenient.f1
    articles = []
    for article_id in article_ids:
        text = texts.get(article_id, "")
        marks: list[dict[str, Any]] = []
        for spec in specs:
            for index, row in enumerate(run.records.get(spec.name, {}).get(article_id, [])):
                kind = row["record"].get("kind")
                status = statuses.get((spec.name, article_id, index), "unscored")
                marks.append(
                    {
                        "schema": spec.name,
                        "fields": row["record"],
                        "flags": row.get("flags", []),
                        "start": row["char_start"],
                        "end": row["char_end"],
                        "status": status,
                        "css": f"status-{status}",
                        "style": f"background:{colours[spec.name]}22;border-bottom:3px solid "
                        f"{KIND_COLOURS.get(str(kind), colours[spec.name])}",
                    }
                )
        for gone in missing.get(article_id, []):
            if gone["start"] is not None:
                marks.append(
                    {
                        **gone,
                        "flags": [],
                        "status": "missing",
                        "css": "status-missing",
                        "style": "background:#fee2e2",
                    }
                )
        for number in unclaimed.get(article_id, []):
            marks.append(
                {
                    "schema": "unclaimed number",
                    "fields": {"text": number["text"], "value": number["value"], "unit": number["unit"]},
                    "flags": [],
                    "start": number["char_start"],
                    "end": number["char_end"],
                    "status": "unclaimed",
                    "css": "unclaimed",
                    "style": "",
                }
            )
        marks = [m for m in marks if text and 0 <= m["start"] < m["end"] <= len(text)]
        scores = f1.get(article_id, {})
        articles.append(
            {
                "id": article_id,
                "status": run.statuses.get(article_id, "?"),
                "marks": marks,
                "html": _segments(text, marks) if text else "<em>article text not available</em>",
                "counts": {s.name: len(run.records.get(s.name, {}).get(article_id, [])) for s in specs},
                "f1": round(sum(scores.values()) / len(scores), 4) if scores else None,
            }
        )
    return {
        "run": str(run_dir),
        "manifest": run.manifest,
        "colours": colours,
        "kind_colours": KIND_COLOURS,
        "articles": articles,
        "evaluation": _evaluation_summary(evaluation),
        "categories": _categories(run, specs),
        "targets_vs_actuals": _targets_vs_actuals(run),
        "truncated": len(article_ids) < len([a for a in run.manifest.get("articles", []) if a.get("id")]),
    }


def _evaluation_summary(evaluation: Evaluation | None) -> dict[str, Any] | None:
    if evaluation is None:
        return None
    shown = {"records", "intervals_95", "fields", "muc", "n_gold", "n_pred"}
    return {name: s.model_dump(include=shown) for name, s in evaluation.report.schemas.items()}


def _categories(run: Any, specs: list[SchemaSpec]) -> dict[str, dict[str, int]]:
    """Records per value of each schema's first key field that is compared exactly
    (indicator, category, action...)."""
    out: dict[str, dict[str, int]] = {}
    for spec in specs:
        field = next((f.name for f in spec.scoring.fields if f.key and f.match == "exact"), None)
        if field is None:
            continue
        counts: Counter[str] = Counter()
        for rows in run.records.get(spec.name, {}).values():
            counts.update(str(r["record"].get(field)) for r in rows)
        out[f"{spec.name} by {field}"] = dict(counts.most_common())
    return out


def _targets_vs_actuals(run: Any) -> list[dict[str, Any]]:
    """Per region, indicator and unit: the targets and actuals the run found."""
    groups: dict[tuple[str, str, str], dict[str, list[float]]] = defaultdict(
        lambda: {"target": [], "actual": []}
    )
    for rows in run.records.get("QuantitativeTarget", {}).values():
        for row in rows:
            r = row["record"]
            if r.get("kind") in ("target", "actual"):
                groups[(str(r.get("region")), r["indicator"], r["unit"])][r["kind"]].append(float(r["value"]))
    return [
        {"region": k[0], "indicator": k[1], "unit": k[2], "target": v["target"], "actual": v["actual"]}
        for k, v in sorted(groups.items())
        if v["target"] or v["actual"]
    ]


def render(data: dict[str, Any]) -> str:
    # every "<" escaped: no "</script>" or "<!--" in the data can end or bend the script element
    payload = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace("\u2028", "\\u2028")
    template = (Path(__file__).with_name("run_report_template.html")).read_text("utf-8")
    return template.replace("/*DATA*/null", payload)


def write_parquet(run_dir: Path, specs: list[SchemaSpec]) -> list[Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    written: list[Path] = []
    for spec in specs:
        rows = read_jsonl(run_dir / f"{spec.name}.jsonl")
        flat = [
            {
                "article_id": r["article_id"],
                **{k: (json.dumps(v) if isinstance(v, list | dict) else v) for k, v in r["record"].items()},
                "char_start": r["char_start"],
                "char_end": r["char_end"],
                "alignment": r["alignment"],
                "flags": ";".join(f["code"] for f in r.get("flags", [])),
            }
            for r in rows
        ]
        columns = ["article_id", *spec.model.model_fields, "char_start", "char_end", "alignment", "flags"]
        table = pa.Table.from_pylist(flat, schema=None) if flat else pa.table({c: [] for c in columns})
        path = run_dir / f"{spec.name}.parquet"
        pq.write_table(table, path)
        written.append(path)
    return written


def write_report(
    run_dir: Path,
    specs: list[SchemaSpec],
    gold_dir: Path | None = None,
    articles_dir: Path | None = None,
    max_articles: int = DEFAULT_MAX_ARTICLES,
) -> Path:
    data = build(run_dir, specs, gold_dir, articles_dir, max_articles)
    path = run_dir / "report.html"
    atomic_write(path, render(data))
    return path
