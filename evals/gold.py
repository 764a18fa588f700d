"""`polex gold check` and `polex gold draft`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from polex.evals.loading import load_gold
from polex.pipeline.grounding import check_record, validation_errors
from polex.pipeline.inputs import decode
from polex.pipeline.records import Article, ArticleContext
from polex.pipeline.runstore import read_jsonl, write_json
from polex.pipeline.spec import SchemaSpec

# What makes a gold record wrong: it does not validate, its evidence is not in the
# article, or its number cannot be read from its evidence. The schemas' other checks
# (unit, comparator and kind cues) are the extractor's heuristics: where a person
# decided otherwise, gold must not bend to them (it would inherit their errors), so
# they are listed as disagreements, not failures. The engine's role of a number
# (year, name, ordinal: `not_a_quantity`) is such a heuristic too: a quoted forecast
# ("another 1 to 3 million") reads as a name to the engine and is still a figure.
GROUNDING_CODES = frozenset({"evidence_not_found", "value_not_in_evidence", "quantity_not_in_unit"})
# A gold-only key: the value is right but the quantity engine cannot read it
# ("6.95 mln"); the check lists the record instead of failing, and the engine's
# gap stays visible as a recall loss.
ENGINE_GAP_KEY = "engine_gap"


@dataclass(frozen=True)
class GoldProblem:
    file: str
    schema: str
    index: int | None
    reason: str
    severity: str = "error"  # "error" fails the check; "disagreement" is listed

    def __str__(self) -> str:
        where = f"{self.schema}[{self.index}]" if self.index is not None else self.schema
        return f"{self.file}: {where}: {self.reason}"


def _article_text(article_id: str, articles_dir: Path) -> str | None:
    for suffix in (".txt", ".md"):
        path = articles_dir / f"{article_id}{suffix}"
        if path.is_file():
            return decode(path.read_bytes())[0]
    return None


def check_gold(gold_dir: Path, articles_dir: Path, specs: list[SchemaSpec]) -> tuple[list[GoldProblem], int]:
    """Every gold record validates against its schema, its evidence is found in its
    article, and the schema's checks pass (its value is readable from its
    evidence, and so on). Returns the problems and the number of records checked."""
    problems: list[GoldProblem] = []
    checked = 0
    known = {s.name: s for s in specs}
    for article_id, data in load_gold(gold_dir).items():
        file = data["_file"]
        text = _article_text(article_id, articles_dir)
        if text is None:
            problems.append(GoldProblem(file, "-", None, f"article {article_id} not found in {articles_dir}"))
            continue
        ctx = ArticleContext(Article(article_id, text))
        for key, records in data.items():
            if key.startswith("_") or key in ("article_id", "annotator", "guidelines", "notes"):
                continue
            spec = known.get(key)
            if spec is None:
                problems.append(
                    GoldProblem(file, key, None, f"unknown schema; registered: {', '.join(known)}")
                )
                continue
            for index, record in enumerate(records):
                checked += 1
                problems.extend(_check_one(file, spec, index, record, ctx))
    return problems, checked


def _check_one(
    file: str, spec: SchemaSpec, index: int, record: dict[str, Any], ctx: ArticleContext
) -> list[GoldProblem]:
    try:
        model = spec.model.model_validate(record)
    except ValidationError as exc:
        return [GoldProblem(file, spec.name, index, "; ".join(validation_errors(exc)))]
    _span, findings = check_record(model, spec, ctx)
    problems = []
    if record.get(ENGINE_GAP_KEY) and not any(f.code == "value_not_in_evidence" for f in findings):
        problems.append(
            GoldProblem(
                file, spec.name, index, "engine_gap is stale: the engine now reads this value", "disagreement"
            )
        )
    for finding in findings:
        if finding.severity != "error":
            continue
        failing = finding.code in GROUNDING_CODES and not (
            finding.code == "value_not_in_evidence" and record.get(ENGINE_GAP_KEY)
        )
        problems.append(
            GoldProblem(
                file,
                spec.name,
                index,
                f"{finding.message} [{finding.code}]",
                "error" if failing else "disagreement",
            )
        )
    return problems


def draft_gold(run_dir: Path, out_dir: Path, specs: list[SchemaSpec]) -> list[Path]:
    """Gold skeletons from a run's records, for a person to correct: one file per
    article, records without offsets or flags, marked as drafts."""
    manifest = json.loads((run_dir / "manifest.json").read_text("utf-8"))
    written: list[Path] = []
    rows_by_schema = {s.name: read_jsonl(run_dir / f"{s.name}.jsonl") for s in specs}
    for article in manifest.get("articles", []):
        if not article.get("id") or article.get("status") != "ok":
            continue
        draft: dict[str, Any] = {
            "article_id": article["id"],
            "annotator": "DRAFT from " + str(run_dir),
            "guidelines": "evals/GUIDELINES.md",
        }
        for name, rows in rows_by_schema.items():
            draft[name] = [r["record"] for r in rows if r["article_id"] == article["id"]]
        path = out_dir / f"{article['id']}.json"
        if path.exists():
            continue  # never overwrite a person's labels
        write_json(path, draft)
        written.append(path)
    return written
