"""One declaration of each shared vocabulary: the schemas import the core's
Comparator instead of spelling out their own."""

from __future__ import annotations

import ast
from pathlib import Path

from polex.pipeline.quantities import Comparator
from polex.schemas.funding_allocation import FundingAllocation
from polex.schemas.quantitative_target.model import QuantitativeTarget
from tests.conftest import ROOT

COMPARATOR_VALUES = ["eq", "approx", "at_least", "at_most"]


def _literals_of_the_comparator_values(path: Path) -> int:
    """How many `Literal[...]` subscripts in this file list exactly the comparator values."""
    found = 0
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id == "Literal"
        ):
            items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            if [getattr(item, "value", None) for item in items] == COMPARATOR_VALUES:
                found += 1
    return found


def test_the_comparator_values_are_declared_once_in_the_core() -> None:
    declared = {
        str(path.relative_to(ROOT)): count
        for package in ("pipeline", "schemas", "evals")
        for path in sorted((ROOT / package).rglob("*.py"))
        if (count := _literals_of_the_comparator_values(path))
    }
    assert declared == {"pipeline/quantities.py": 1}


def test_every_comparator_field_is_typed_with_the_core_comparator() -> None:
    for model in (QuantitativeTarget, FundingAllocation):
        assert model.model_fields["comparator"].annotation == Comparator, model.__name__
