"""The one interface every backend implements, and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from polex.pipeline.errors import PolexError
from polex.pipeline.records import ArticleContext, Finding, RejectedRecord
from polex.pipeline.spec import SchemaSpec


class BackendError(PolexError):
    """A backend cannot be created or cannot serve an article; the message says why."""


@dataclass
class Candidates:
    """Records a backend proposes for one article and schema, before grounding.
    ``hint`` is where in the article the chunk began (to place the evidence)."""

    records: list[tuple[BaseModel | dict[str, Any], int]] = field(default_factory=list)
    rejected: list[RejectedRecord] = field(default_factory=list)
    # Per record, the backend's calibrated confidence (empty when it has none).
    confidences: list[float | None] = field(default_factory=list)
    # Per record, flags the backend knows of (e.g. repairs it made); empty when none.
    flags: list[list[Finding]] = field(default_factory=list)

    def extend(self, other: Candidates) -> None:
        """Appends another chunk's proposals after these."""
        self.records.extend(other.records)
        self.rejected.extend(other.rejected)
        self.confidences.extend(other.confidences)
        self.flags.extend(other.flags)


class Backend(Protocol):
    name: str

    def describe(self) -> dict[str, Any]:
        """What the manifest records about this backend (never secrets)."""
        ...

    async def extract(self, ctx: ArticleContext, spec: SchemaSpec) -> Candidates: ...

    async def aclose(self) -> None: ...
