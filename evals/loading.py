"""Reads what the harness scores: a run directory, a gold directory, the articles."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polex.pipeline.errors import PolexError
from polex.pipeline.grounding import locate
from polex.pipeline.inputs import decode
from polex.pipeline.runstore import read_jsonl
from polex.pipeline.spec import SchemaSpec


class EvalInputError(PolexError):
    """A run, gold or article input the harness cannot read; the message names it."""


@dataclass
class Run:
    path: Path
    manifest: dict[str, Any]
    records: dict[str, dict[str, list[dict[str, Any]]]]  # schema -> article -> rows
    rejected: dict[str, dict[str, int]]  # schema -> article -> count
    statuses: dict[str, str]


def load_run(path: Path, specs: list[SchemaSpec]) -> Run:
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise EvalInputError(f"{path} is not a run directory (no manifest.json)")
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise EvalInputError(f"{manifest_path}: not readable JSON ({exc})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("articles"), list):
        raise EvalInputError(f"{manifest_path}: not a polex run manifest (no article list)")
    records: dict[str, dict[str, list[dict[str, Any]]]] = {}
    extracted = manifest.get("schemas") or {}
    for spec in specs:
        output = path / f"{spec.name}.jsonl"
        if spec.name not in extracted and not output.is_file():
            records[spec.name] = {}  # not extracted by this run: the harness does not score it
            continue
        if not output.is_file():
            raise EvalInputError(
                f"{output} is missing although the run's manifest lists {spec.name}: "
                "the run directory is incomplete (run the same command again to rebuild it)"
            )
        by_article: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in _rows(output):
            by_article[row["article_id"]].append(row)
        records[spec.name] = dict(by_article)
    rejected: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in _rows(path / "rejected.jsonl"):
        rejected[row["schema"]][row["article_id"]] += 1
    statuses = {a["id"]: a["status"] for a in manifest.get("articles", []) if a.get("id")}
    return Run(path, manifest, records, {k: dict(v) for k, v in rejected.items()}, statuses)


def _rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a run's JSONL; a torn or foreign line is an error naming file and line."""
    try:
        rows = read_jsonl(path)
    except (OSError, ValueError) as exc:
        raise EvalInputError(f"{path}: not a readable JSONL file ({exc})") from exc
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or "article_id" not in row:
            raise EvalInputError(f"{path}: row {number} is not a polex record (no article_id)")
    return rows


def load_gold(directory: Path) -> dict[str, dict[str, Any]]:
    if not directory.is_dir():
        raise EvalInputError(f"gold directory {directory} does not exist")
    gold: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text("utf-8"))
        except json.JSONDecodeError as exc:
            raise EvalInputError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
        if not isinstance(data, dict):
            raise EvalInputError(f"{path}: a gold file is a JSON object with a list of records per schema")
        article_id = data.get("article_id") or path.stem
        gold[article_id] = {**data, "_file": str(path)}
    if not gold:
        raise EvalInputError(f"gold directory {directory} has no .json files")
    return gold


def load_articles(article_ids: list[str], articles_dir: Path | None, run: Run | None) -> dict[str, str]:
    """Article texts: from --articles DIR (<id>.txt or .md), else from the sources
    the run's manifest names. An article that cannot be found is simply absent, and
    evidence is then compared as text rather than as character spans."""
    texts: dict[str, str] = {}
    sources = {a["id"]: a.get("source") for a in (run.manifest.get("articles", []) if run else [])}
    for article_id in article_ids:
        candidates: list[Path] = []
        if articles_dir is not None:
            candidates += [articles_dir / f"{article_id}.txt", articles_dir / f"{article_id}.md"]
        source = sources.get(article_id)
        if source and ":" not in Path(source).name:
            candidates.append(Path(source))
        for candidate in candidates:
            if candidate.is_file():
                texts[article_id] = decode(candidate.read_bytes())[0]
                break
    return texts


def gold_span(record: dict[str, Any], text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    found = locate(str(record.get("evidence", "")), text)
    return (found[0], found[1]) if found else None
