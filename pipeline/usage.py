"""Per-article accounting of what the LLM path spent: requests sent, cache hits,
tokens of every attempt (reasks included), transport retries, reasks, splits and
the deterministic repairs made to the model's records, per kind.
The transports write into the ledger of the article being processed, found through
a context variable, so concurrent articles never mix their counts."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Usage:
    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    transport_retries: int = 0
    reasks: int = 0
    splits: int = 0
    repairs: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> None:
        for name in (
            "requests",
            "cache_hits",
            "prompt_tokens",
            "completion_tokens",
            "transport_retries",
            "reasks",
            "splits",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.count_repairs(other.repairs)
        self.notes.extend(other.notes)

    def count_repairs(self, kinds: dict[str, int]) -> None:
        for kind, count in kinds.items():
            self.repairs[kind] = self.repairs.get(kind, 0) + count

    def count_tokens(self, body: dict[str, Any]) -> None:
        usage = body.get("usage") or {}
        self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        self.completion_tokens += int(usage.get("completion_tokens") or 0)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["total_tokens"] = self.total_tokens
        return out


current_usage: ContextVar[Usage | None] = ContextVar("current_usage", default=None)


def ledger() -> Usage:
    """The ledger of the article being processed (a throwaway one outside a run)."""
    usage = current_usage.get()
    return usage if usage is not None else Usage()
