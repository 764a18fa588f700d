"""Renders a schema's prompt template (a file under prompts/) into chat messages.

The template gets the schema's field table built from the Pydantic model's own
descriptions, so a description is written once. Schema templates extend one base
template (prompts/base.v1.md: the shared role, field list and user message) and
fill its blocks. A rendered template holds a system part and a user part separated
by a line ``=== user ===``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from pipeline.spec import SchemaSpec

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
    """Templates of ``folder`` (a schema prompt's own folder), so that ``{% extends %}``
    finds the base template beside it."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def shared_templates_sha256() -> str:
    """The hash of the templates in prompts/ that schema prompts extend or that a
    strategy renders (a schema prompt's own hash does not cover them)."""
    digest = hashlib.sha256()
    folder = resources.files("prompts")
    for name in sorted(p.name for p in folder.iterdir() if p.name.endswith(".md")):
        digest.update(name.encode() + folder.joinpath(name).read_bytes())
    return digest.hexdigest()[:16]


def render(
    spec: SchemaSpec,
    text: str,
    article_id: str,
    part: int = 1,
    parts: int = 1,
    extra: dict[str, Any] | None = None,
) -> list[dict[str, str]]:
    template = _environment(spec.prompt.parent).get_template(spec.prompt.name)
    rendered = template.render(
        schema_name=spec.name,
        schema_description=" ".join((spec.model.__doc__ or spec.description).split()),
        fields=field_docs(spec),
        examples=[
            {"text": e.text, "json": json.dumps({"records": list(e.records)}, ensure_ascii=False, indent=1)}
            for e in spec.examples
        ],
        article_id=article_id,
        text=text,
        part=part,
        parts=parts,
        hidden_choices=(),
        **(spec.prompt_context() if spec.prompt_context else {}),
        **(extra or {}),
    )
    if USER_MARKER not in rendered:
        return [{"role": "user", "content": rendered.strip()}]
    system, user = rendered.split(USER_MARKER, 1)
    return [{"role": "system", "content": system.strip()}, {"role": "user", "content": user.strip()}]
