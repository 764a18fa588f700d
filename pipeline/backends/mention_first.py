"""The mention-first strategy (``--strategy mentions``): instead of asking the model
to find and copy figures, list the quantity engine's numbers of interest with ids
(the number, its clause, and the offline rules' labels as hints) and ask for labels
per id (keep or drop, and the schema's other fields). The model may add a figure the
engine missed, with its evidence. A kept label becomes a record whose evidence is
the clause and whose value is the engine's reading, so grounding holds by
construction, and the answer is a fraction of the tokens of a free extraction.

Only schemas with a quantity field (the number a record claims) have mentions to
list; the others are extracted with the free strategy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, create_model, model_validator

from polex.pipeline.backends.feedback import without_urls
from polex.pipeline.chunking import Chunk
from polex.pipeline.grounding import locate
from polex.pipeline.quantities import Mention
from polex.pipeline.records import ArticleContext
from polex.pipeline.repair import field_choices
from polex.pipeline.spec import SchemaSpec
from polex.pipeline.text import containing, sentences


@dataclass(frozen=True)
class Candidate:
    """One number of interest shown to the model."""

    id: str
    mention: Mention
    clause_start: int
    clause_end: int
    clause: str
    hints: dict[str, Any]

    def as_prompt(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.mention.text,
            "value": f"{self.mention.value:g}",
            "clause": self.clause,
            "hints": ", ".join(f"{k}={v}" for k, v in self.hints.items() if v not in (None, "", [])),
        }


def label_fields(spec: SchemaSpec) -> list[str]:
    """The fields the model labels: every field but the evidence and the quantity."""
    return [n for n in spec.model.model_fields if n not in ("evidence", spec.quantity_field)]


def _offline_hints(ctx: ArticleContext, spec: SchemaSpec) -> list[tuple[int, int, dict[str, Any]]]:
    """The offline rules' records as (evidence start, end, labels)."""
    if spec.offline is None:
        return []
    hints: list[tuple[int, int, dict[str, Any]]] = []
    for found in spec.offline(ctx):
        record, offset = found if isinstance(found, tuple) else (found, 0)
        data = record.model_dump(mode="json")
        span = locate(str(data.get("evidence", "")), ctx.text, offset)
        if span is not None:
            hints.append((span[0], span[1], data))
    return hints


def candidates(ctx: ArticleContext, spec: SchemaSpec, piece: Chunk) -> list[Candidate]:
    """The numbers of interest inside ``piece``, with their clause and hints."""
    quantity = spec.quantity_field
    if quantity is None:
        return []
    offline = _offline_hints(ctx, spec)
    spans = sentences(ctx.text)
    out: list[Candidate] = []
    for mention in ctx.mentions:
        if not mention.of_interest or mention.start < piece.start or mention.end > piece.end:
            continue
        sentence = containing(spans, mention.start)
        start, end = (sentence.start, sentence.end) if sentence else (mention.start, mention.end)
        hint: dict[str, Any] = {}
        for h_start, h_end, data in offline:
            value = data.get(quantity)
            covered = h_start <= mention.start and mention.end <= h_end
            if covered and isinstance(value, int | float) and _reads_as(mention, float(value)):
                hint = {k: data.get(k) for k in label_fields(spec)}
                break
        out.append(Candidate(f"m{len(out) + 1}", mention, start, end, ctx.text[start:end], hint))
    return out


def _reads_as(mention: Mention, value: float) -> bool:
    return any(abs(abs(value) - abs(r)) <= 1e-6 * max(1.0, abs(r)) for r in mention.readings)


_ANSWER_MODELS: dict[str, type[BaseModel]] = {}


def answer_model(spec: SchemaSpec) -> type[BaseModel]:
    """{"labels": [{"id", "keep", <label fields>}], "added": [<records>]}: lenient
    about the label fields (repairs and grounding judge them later), strict about
    the ids (an unknown id goes back to the model)."""
    if spec.registry_name not in _ANSWER_MODELS:
        _ANSWER_MODELS[spec.registry_name] = _answer_model(spec)
    return _ANSWER_MODELS[spec.registry_name]


def _answer_model(spec: SchemaSpec) -> type[BaseModel]:
    choices = field_choices(spec.model)
    fields: dict[str, Any] = {
        "id": (str, ...),
        "keep": (bool, ...),
    }
    for name in label_fields(spec):
        info = spec.model.model_fields[name]
        annotation: Any
        if name in choices:  # any text: repairs map it onto the choices
            annotation = list[str] | None if _is_list(info.annotation) else str | None
        else:
            annotation = info.annotation | None  # type: ignore[operator]
        # no descriptions nor choices: the prompt documents the fields, and instructor
        # repeats this schema in the prompt
        fields[name] = (annotation, Field(default=None))
    label = create_model(f"{spec.name}Label", __config__=ConfigDict(extra="ignore"), **fields)

    def known_ids(self: Any, info: ValidationInfo) -> Any:
        ids = (info.context or {}).get("candidate_ids")
        if ids is None:
            return self
        unknown = [item.id for item in self.labels if item.id not in ids]
        if unknown:
            raise ValueError(f"labels name ids that are not listed: {unknown}; use only {sorted(ids)}")
        return self

    return create_model(
        f"{spec.name}Labels",
        labels=(list[label], ...),  # type: ignore[valid-type]
        # full records, repaired and grounded like any record; loose here so that the
        # schema in the prompt stays short
        added=(list[dict[str, Any]], Field(default_factory=list)),
        __validators__={
            "known_ids": model_validator(mode="after")(known_ids),  # type: ignore[dict-item]
            "without_urls": model_validator(mode="wrap")(without_urls),  # type: ignore[dict-item]
        },
    )


def _is_list(annotation: Any) -> bool:
    return getattr(annotation, "__origin__", None) is list


def records_from_labels(
    labels: list[dict[str, Any]], listed: list[Candidate], spec: SchemaSpec
) -> list[tuple[dict[str, Any], int]]:
    """A record (and the offset of its clause) per kept label: the clause as evidence,
    the engine's reading as the quantity, the model's labels over the offline hints."""
    by_id = {c.id: c for c in listed}
    out: list[tuple[dict[str, Any], int]] = []
    seen: set[str] = set()
    for label in labels:
        candidate = by_id.get(str(label.get("id")))
        if candidate is None or candidate.id in seen or not label.get("keep"):
            continue
        seen.add(candidate.id)
        record: dict[str, Any] = {k: v for k, v in candidate.hints.items() if v is not None}
        record.update({k: v for k, v in label.items() if k in label_fields(spec) and v is not None})
        record["evidence"] = candidate.clause
        record[str(spec.quantity_field)] = candidate.mention.value
        out.append((record, candidate.clause_start))
    return out
