"""Per-article accounting of what the LLM path spent: requests sent, cache hits,
tokens of every attempt (reasks included), transport retries, reasks, splits and
the deterministic repairs made to the model's records, per kind.
The transports write into the ledger of the article being processed, found through
a context variable, so concurrent articles never mix their counts."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator


class Usage(BaseModel):
    """What one article (or a whole run) cost. The same model is the ledger the
    transports count into and the `usage` block of a part and of the manifest;
    ``total_tokens`` is written for readers and derived again when read."""

    model_config = ConfigDict(extra="forbid")

    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    transport_retries: int = 0
    reasks: int = 0
    splits: int = 0
    repairs: dict[str, int] = Field(default_factory=dict)  # deterministic repairs of LLM records, per kind
    notes: list[str] = Field(default_factory=list)

    def model_post_init(self, context: Any, /) -> None:
        # Every count is written, even a zero one: parts and manifests are dumped
        # with exclude_unset, and a reader should never find a count missing.
        self.__pydantic_fields_set__.update(type(self).model_fields)

    @model_validator(mode="before")
    @classmethod
    def _derived_total(cls, data: Any) -> Any:
        if isinstance(data, dict) and "total_tokens" in data:
            data = dict(data)
            if data.pop("total_tokens") != data.get("prompt_tokens", 0) + data.get("completion_tokens", 0):
                raise ValueError("total_tokens is not prompt_tokens + completion_tokens")
        return data

    @computed_field  # type: ignore[prop-decorator]
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


current_usage: ContextVar[Usage | None] = ContextVar("current_usage", default=None)


def ledger() -> Usage:
    """The ledger of the article being processed (a throwaway one outside a run)."""
    usage = current_usage.get()
    return usage if usage is not None else Usage()
