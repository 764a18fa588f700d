"""What the HTML run report shows of one schema, derived from its SchemaSpec alone,
so that every schema (QuantitativeTarget, FundingAllocation, or one defined in a
test) gets the same views with no code change:

- its table columns: the fields of its record model, in order;
- its facets: the fields whose values the model restricts to a closed set (a
  Literal, an enum), which the page offers as filters and counts per value;
- its colour field: the key field compared exactly (the schema's Scoring) with the
  fewest allowed values (QuantitativeTarget: kind; FundingAllocation: action;
  PolicyMeasure: category), whose values underline the highlighted evidence;
- with a ``quantity_field``, a chart of the largest figure per value of the colour
  field, for each group of records that agree on the region (the field scored as a
  region) and on the other facets of the schema's identity (QuantitativeTarget:
  indicator and unit)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from pydantic import BaseModel

from polex.pipeline.spec import SchemaSpec

SCHEMA_COLOURS = ("#2563eb", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be123c")
VALUE_COLOURS = (
    "#f59e0b",
    "#10b981",
    "#6366f1",
    "#ef4444",
    "#0ea5e9",
    "#a855f7",
    "#84cc16",
    "#f43f5e",
    "#14b8a6",
    "#eab308",
)


class Facet(BaseModel):
    """A field with a closed set of values (``many``: a list of them)."""

    field: str
    allowed: list[str]
    many: bool = False
    present: list[str] = []  # the values records of this run hold, sorted


class QuantityBar(BaseModel):
    value_of: str  # the colour field's value ("all" without a colour field)
    largest: float
    records: int


class QuantityGroup(BaseModel):
    label: str
    bars: list[QuantityBar]


class QuantityChart(BaseModel):
    title: str
    groups: list[QuantityGroup]


class SchemaView(BaseModel):
    name: str
    colour: str
    columns: list[str]
    facets: list[Facet]
    colour_field: str | None
    value_colours: dict[str, str]
    # records per value of each facet that is a key field of the scoring
    counts: dict[str, dict[str, int]]
    chart: QuantityChart | None


def _closed_values(prop: dict[str, Any], defs: dict[str, Any]) -> tuple[list[str], bool] | None:
    """The values a JSON-schema property allows, and whether it is a list of them."""
    if "$ref" in prop:
        return _closed_values(defs.get(prop["$ref"].rsplit("/", 1)[-1], {}), defs)
    if "enum" in prop:
        return [str(v) for v in prop["enum"]], False
    if "const" in prop:
        return [str(prop["const"])], False
    if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
        inner = _closed_values(prop["items"], defs)
        return (inner[0], True) if inner else None
    options = [o for o in prop.get("anyOf", []) if o.get("type") != "null"]
    if len(options) == 1:
        return _closed_values(options[0], defs)
    return None


def facets_of(spec: SchemaSpec) -> list[Facet]:
    schema = spec.model.model_json_schema()
    defs = schema.get("$defs", {})
    facets = []
    for name, prop in schema.get("properties", {}).items():
        closed = _closed_values(prop, defs)
        if closed is not None:
            facets.append(Facet(field=name, allowed=closed[0], many=closed[1]))
    return facets


def colour_field_of(spec: SchemaSpec, facets: list[Facet]) -> str | None:
    allowed = {f.field: len(f.allowed) for f in facets if not f.many}
    keys = [f.name for f in spec.scoring.fields if f.key and f.match == "exact" and f.name in allowed]
    candidates = keys or list(allowed)
    return min(candidates, key=lambda name: allowed[name]) if candidates else None


def _value_text(value: Any) -> str:
    return "–" if value is None else str(value)


def _values(record: dict[str, Any], field: str) -> list[str]:
    """A record's value of a field as text: each item of a list, or the one value."""
    value = record.get(field)
    return [str(v) for v in value] if isinstance(value, list) else [_value_text(value)]


def _chart(
    spec: SchemaSpec, facets: list[Facet], colour_field: str | None, records: list[dict[str, Any]]
) -> QuantityChart | None:
    quantity = spec.quantity_field
    if quantity is None:
        return None
    region = next((f.name for f in spec.scoring.fields if f.match == "region"), None)
    facet_names = {f.field for f in facets if not f.many}
    grouping = [region] if region else []
    grouping += [n for n in spec.identity_fields if n in facet_names and n != colour_field]
    values: dict[tuple[str, ...], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        number = record.get(quantity)
        if not isinstance(number, int | float):
            continue
        key = tuple(_value_text(record.get(name)) for name in grouping)
        values[key][_value_text(record.get(colour_field)) if colour_field else "all"].append(float(number))
    groups = [
        QuantityGroup(
            label=" · ".join(key) or spec.name,
            bars=[
                QuantityBar(value_of=v, largest=max(xs), records=len(xs))
                for v, xs in sorted(by_value.items())
            ],
        )
        for key, by_value in sorted(values.items())
    ]
    by = f" by {colour_field}" if colour_field else ""
    title = f"{spec.name}: largest {quantity} per {' · '.join(grouping) or 'run'}{by}"
    return QuantityChart(title=title, groups=groups)


def build_view(spec: SchemaSpec, position: int, records: list[dict[str, Any]]) -> SchemaView:
    """The view of one schema (``position``: its place in the run, for its colour),
    given every record of it the report shows."""
    facets = facets_of(spec)
    for facet in facets:
        facet.present = sorted({v for record in records for v in _values(record, facet.field)})
    colour_field = colour_field_of(spec, facets)
    allowed = next((f.allowed for f in facets if f.field == colour_field), [])
    key_fields = set(spec.scoring.key_fields)
    counts = {
        facet.field: dict(Counter(v for r in records for v in _values(r, facet.field)).most_common())
        for facet in facets
        if facet.field in key_fields
    }
    return SchemaView(
        name=spec.name,
        colour=SCHEMA_COLOURS[position % len(SCHEMA_COLOURS)],
        columns=list(spec.model.model_fields),
        facets=facets,
        colour_field=colour_field,
        value_colours={v: VALUE_COLOURS[i % len(VALUE_COLOURS)] for i, v in enumerate(allowed)},
        counts=counts,
        chart=_chart(spec, facets, colour_field, records),
    )


def mark_style(view: SchemaView, record: dict[str, Any]) -> str:
    """The highlight of a record's evidence: the schema's colour, underlined in the
    colour of its value of the colour field."""
    value = _value_text(record.get(view.colour_field)) if view.colour_field else ""
    underline = view.value_colours.get(value, view.colour)
    return f"background:{view.colour}22;border-bottom:3px solid {underline}"
