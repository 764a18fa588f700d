"""Renders a schema's prompt template (a file under prompts/) into chat messages.

The template gets the schema's field table built from the Pydantic model's own
descriptions, so a description is written once. Schema templates extend one base
template (prompts/base.v1.md: the shared role, field list and user message) and
fill its blocks. A rendered template holds a system part and a user part separated
by a line ``=== user ===``."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from polex.pipeline.periods import article_year
from polex.pipeline.places import article_region
from polex.pipeline.records import ArticleContext
from polex.pipeline.spec import SchemaSpec

USER_MARKER = "=== user ==="


@dataclass(frozen=True)
class FieldDoc:
    name: str
    type: str
    required: bool
    description: str
    choices: tuple[str, ...]


def _type_of(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " | ".join(_type_of(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list of {_type_of(schema.get('items', {}))}"
    return str(schema.get("type", "any"))


def field_docs(spec: SchemaSpec) -> list[FieldDoc]:
    schema = spec.model.model_json_schema()
    required = set(schema.get("required", []))
    docs: list[FieldDoc] = []
    for name, prop in schema.get("properties", {}).items():
        choices = prop.get("enum") or prop.get("items", {}).get("enum") or []
        for option in prop.get("anyOf", []):
            choices = choices or option.get("enum", [])
        docs.append(
            FieldDoc(name, _type_of(prop), name in required, prop.get("description", ""), tuple(choices))
        )
    return docs


def _environment(folder: Path) -> jinja2.Environment:
    """Templates of ``folder`` (a schema prompt's own folder), then of prompts/, so
    that ``{% extends "base.v1.md" %}`` works for schemas kept elsewhere too."""
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader(folder), jinja2.FileSystemLoader(str(resources.files("polex.prompts")))]
        ),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def shared_templates_sha256() -> str:
    """The hash of the templates in prompts/ that schema prompts extend or that a
    strategy renders (a schema prompt's own hash does not cover them)."""
    digest = hashlib.sha256()
    folder = resources.files("polex.prompts")
    for name in sorted(p.name for p in folder.iterdir() if p.name.endswith(".md")):
        digest.update(name.encode() + folder.joinpath(name).read_bytes())
    return digest.hexdigest()[:16]


_DATE = re.compile(
    r"\b(?:(?:January|February|March|April|May|June|July|August|September|October|November|December)"
    r"\s+\d{1,2},?\s+(?:19|20)\d{2}|(?:19|20)\d{2}-\d{2}-\d{2})\b"
)
OPENING_CHARS = 600


def article_context(ctx: ArticleContext) -> str:
    """What every chunk is told about its article: the title (a short first line),
    the date (metadata, else a date in the opening lines, else the one year the
    article names) and the region it reports on."""
    lines = [line.strip() for line in ctx.text.splitlines() if line.strip()]
    title = lines[0] if lines and len(lines[0]) <= 150 and not lines[0].endswith(".") else None
    date = next(
        (str(ctx.article.metadata[k]) for k in ("published", "date") if ctx.article.metadata.get(k)), None
    )
    if date is None:
        found = _DATE.search(ctx.text[:OPENING_CHARS])
        year = article_year(ctx.text, ctx.article.metadata)
        date = found.group(0) if found else (str(year) if year else None)
    parts = [
        f'title "{title}"' if title else None,
        f"date {date}" if date else None,
        f"region {region}" if (region := article_region(ctx.text)) else None,
    ]
    return "; ".join(p for p in parts if p)


def render(
    spec: SchemaSpec,
    text: str,
    article_id: str,
    part: int = 1,
    parts: int = 1,
    extra: dict[str, Any] | None = None,
    template: str | None = None,
) -> list[dict[str, str]]:
    """Chat messages from the schema's prompt (or from ``template``, a file of
    prompts/ such as the mention-first one). ``extra`` adds or overrides variables:
    ``context`` (the article's), ``examples`` (few-shot, as from ``example``)."""
    environment = _environment(spec.prompt.parent)
    chosen = environment.get_template(template or spec.prompt.name)
    variables: dict[str, Any] = {
        "schema_name": spec.name,
        "schema_description": " ".join((spec.model.__doc__ or spec.description).split()),
        "fields": field_docs(spec),
        "examples": [example(e.text, e.records) for e in spec.examples],
        "article_id": article_id,
        "text": text,
        "part": part,
        "parts": parts,
        "context": "",
        "quantity_field": spec.quantity_field,
        "hidden_choices": (),
        **(spec.prompt_context() if spec.prompt_context else {}),
        **(extra or {}),
    }
    rendered = chosen.render(**variables)
    if USER_MARKER not in rendered:
        return [{"role": "user", "content": rendered.strip()}]
    system, user = rendered.split(USER_MARKER, 1)
    return [{"role": "system", "content": system.strip()}, {"role": "user", "content": user.strip()}]


def example(text: str, records: Any) -> dict[str, str]:
    """A few-shot example as the templates show it: the passage and its answer on one line."""
    return {"text": text, "json": json.dumps({"records": list(records)}, ensure_ascii=False)}
