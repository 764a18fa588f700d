"""Renders a schema's prompt template (a file under prompts/) into chat messages.

The template gets the schema's field table built from the Pydantic model's own
descriptions, so a description is written once. A template holds a system part and
a user part separated by a line ``=== user ===``."""

from __future__ import annotations

import json
from dataclasses import dataclass
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


def _environment() -> jinja2.Environment:
    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


def render(
    spec: SchemaSpec,
    text: str,
    article_id: str,
    part: int = 1,
    parts: int = 1,
    extra: dict[str, Any] | None = None,
) -> list[dict[str, str]]:
    template = _environment().from_string(spec.prompt_text())
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
        **(spec.prompt_context() if spec.prompt_context else {}),
        **(extra or {}),
    )
    if USER_MARKER not in rendered:
        return [{"role": "user", "content": rendered.strip()}]
    system, user = rendered.split(USER_MARKER, 1)
    return [{"role": "system", "content": system.strip()}, {"role": "user", "content": user.strip()}]
