"""`polex report RUN_DIR [--gold DIR]`: one self-contained HTML file (no network at
view time) to look at a run. Every schema of the run gets the same views, derived
from its SchemaSpec (evals/schema_view.py): its evidence spans highlighted in the
schema's colour and underlined by its colour field, a click showing a record's
fields and flags; a table of its records; filters by schema, verdict and each of
its closed-set fields; records per value of its key fields; and, for a schema with
a quantity field, a chart of its figures. Unclaimed numbers are marked, and with
gold, correct / incorrect / missing / spurious records are marked and the article
list is sortable by F1. A summary page gives the scores with intervals and the
per-field table. Parquet files of every schema are written beside it."""

from __future__ import annotations

import html
import itertools
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from polex.evals.harness import Evaluation, evaluate
from polex.evals.loading import gold_span, load_articles, load_gold, load_run
from polex.evals.schema_view import build_view, mark_style
from polex.pipeline.runstore import atomic_write, read_jsonl
from polex.pipeline.spec import SchemaSpec

DEFAULT_MAX_ARTICLES = 500
STATUS_COLOURS = {
    "correct": "#16a34a",
    "incorrect": "#f59e0b",
    "spurious": "#dc2626",
    "missing": "#7c3aed",
    "unscored": "#6b7280",
}
UNCLAIMED = "unclaimed number"


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


def _drawable(mark: dict[str, Any], text: str) -> bool:
    start, end = mark.get("start"), mark.get("end")
    return isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)


def _segments(text: str, marks: list[dict[str, Any]]) -> str:
    """The article as HTML: the text cut at every boundary of a mark with a span in
    it, each piece carrying the indices (in ``marks``) of the marks that cover it."""
    drawn = [i for i, m in enumerate(marks) if _drawable(m, text)]
    cuts = {0, len(text)}
    for i in drawn:
        cuts.update((marks[i]["start"], marks[i]["end"]))
    bounds = sorted(cuts)
    pieces: list[str] = []
    for start, end in itertools.pairwise(bounds):
        covering = [i for i in drawn if marks[i]["start"] <= start and end <= marks[i]["end"]]
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
    all_ids = [a["id"] for a in run.manifest.get("articles", []) if a.get("id")]
    article_ids = all_ids[:max_articles]
    texts = load_articles(article_ids, articles_dir, run)
    statuses = _status_of_pairs(evaluation)
    missing = _missing(evaluation, gold, texts)
    views = {
        spec.name: build_view(
            spec,
            position,
            [row["record"] for a in article_ids for row in run.records.get(spec.name, {}).get(a, [])],
        )
        for position, spec in enumerate(specs)
    }
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
                        "style": mark_style(views[spec.name], row["record"]),
                    }
                )
        for gone in missing.get(article_id, []):
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
                    "schema": UNCLAIMED,
                    "fields": {"text": number["text"], "value": number["value"], "unit": number["unit"]},
                    "flags": [],
                    "start": number["char_start"],
                    "end": number["char_end"],
                    "status": "unclaimed",
                    "css": "unclaimed",
                    "style": "",
                }
            )
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
        "schemas": [view.model_dump() for view in views.values()],
        "status_colours": STATUS_COLOURS,
        "articles": articles,
        "evaluation": _evaluation_summary(evaluation),
        "truncated": len(article_ids) < len(all_ids),
    }


def _evaluation_summary(evaluation: Evaluation | None) -> dict[str, Any] | None:
    if evaluation is None:
        return None
    shown = {"records", "intervals_95", "fields", "muc", "n_gold", "n_pred"}
    return {name: s.model_dump(include=shown) for name, s in evaluation.report.schemas.items()}


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
