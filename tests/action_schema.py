"""A researcher's sentence schema with no rules, written to a folder by the tests that
train on it: what a sentence announces, scored per record and, if asked, as a set of
topics per article."""

from __future__ import annotations

from pathlib import Path

from polex.pipeline.registry import select
from polex.pipeline.spec import SchemaSpec

ACTIONS_SCHEMA = '''"""Action: one announced action per record, with its topic (no rules)."""
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from polex.pipeline.spec import FieldScore, SchemaSpec, Scoring


class Action(BaseModel):
    evidence: str = Field(description="The sentence, verbatim.")
    topic: Literal["training", "fairs"] = Field(description="What the action is.")


SPEC = SchemaSpec(
    name="Action",
    version=1,
    model=Action,
    prompt=Path(__file__).with_name("action.v1.md"),
    scoring=Scoring(
        fields=(FieldScore("topic", "exact", key=True), FieldScore("evidence", "span", key=True)),
        anchors=("evidence",),
        set_fields=SET_FIELDS,
    ),
)
'''

TOWNS = ("Anhe", "Baiyun", "Chengxi", "Dongpu", "Ermen", "Fushan", "Gaotai", "Hexi", "Jiangbei", "Kaiyuan")


def actions_spec(folder: Path, set_fields: tuple[str, ...] = ()) -> SchemaSpec:
    """The Action schema written to ``folder`` and discovered there, its ``set_fields``
    as given."""
    (folder / "action.py").write_text(ACTIONS_SCHEMA.replace("SET_FIELDS", repr(set_fields)))
    (folder / "action.v1.md").write_text("{{ text }}")
    [spec] = select(["Action"], [folder])
    return spec
