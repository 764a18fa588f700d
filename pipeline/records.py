"""The small data classes every layer shares: articles, findings, grounded and
rejected records. Records themselves are Pydantic models declared by schemas; the
pipeline wraps them with what only the pipeline can know (offsets, flags)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, TypeVar

from polex.pipeline.quantities import Mention, find_mentions

Alignment = Literal["exact", "normalised"]
T = TypeVar("T")


@dataclass(frozen=True)
class Article:
    id: str
    text: str
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    encoding: str = "utf-8"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


class ArticleContext:
    """An article with the engine's mentions computed once, shared by grounding,
    checks and the offline extractor."""

    def __init__(self, article: Article) -> None:
        self.article = article
        self.text = article.text
        self._shared: dict[Hashable, Any] = {}

    @cached_property
    def mentions(self) -> list[Mention]:
        return find_mentions(self.text)

    def shared(self, key: Hashable, compute: Callable[[], T]) -> T:
        """What ``compute`` returns, computed once per article and ``key``: readings
        several schemas ask for (the mention candidates and their features). Held as
        long as the article is, so no cache outlives it. Callers must not change it."""
        if key not in self._shared:
            self._shared[key] = compute()
        found: T = self._shared[key]
        return found

    def mentions_in(self, start: int, end: int) -> list[Mention]:
        return [m for m in self.mentions if m.start >= start and m.end <= end]


@dataclass(frozen=True)
class Finding:
    """What a check says of a record: an ``error`` makes it invalid (it goes back to
    the model, or to rejected.jsonl); a ``flag`` travels with the kept record."""

    severity: Literal["error", "flag"]
    code: str
    message: str
    readings: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.readings:
            out["readings"] = list(self.readings)
        return out


def error(code: str, message: str) -> Finding:
    return Finding("error", code, message)


def flag(code: str, message: str, readings: tuple[float, ...] = ()) -> Finding:
    return Finding("flag", code, message, readings)


@dataclass
class GroundedRecord:
    """A valid record tied to the exact characters of its article."""

    article_id: str
    schema: str
    record: dict[str, Any]
    char_start: int
    char_end: int
    alignment: Alignment
    flags: list[Finding] = field(default_factory=list)
    # Other places where the same record occurs (a repeated figure is one record).
    also_at: list[tuple[int, int]] = field(default_factory=list)
    # The calibrated probability that the record is right (learned offline
    # extraction); None when the backend does not estimate it.
    confidence: float | None = None

    @property
    def spans(self) -> list[tuple[int, int]]:
        return [(self.char_start, self.char_end), *self.also_at]

    def as_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "schema": self.schema,
            "record": self.record,
            "char_start": self.char_start,
            "char_end": self.char_end,
            "alignment": self.alignment,
            "flags": [f.as_dict() for f in self.flags],
            "also_at": [list(span) for span in self.also_at],
            "confidence": None if self.confidence is None else round(self.confidence, 4),
        }


@dataclass
class RejectedRecord:
    """A record that failed validation after every reask, kept with the reasons."""

    article_id: str
    schema: str
    record: Any
    reasons: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "schema": self.schema,
            "record": self.record,
            "reasons": self.reasons,
        }
