"""The deterministic backend: each schema's offline rules, no model, no network."""

from __future__ import annotations

from typing import Any

from pipeline import __version__
from pipeline.backends.base import BackendError, Candidates
from pipeline.records import ArticleContext
from pipeline.spec import SchemaSpec


class OfflineBackend:
    name = "offline"

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": f"rules-{__version__}", "parameters": {}}

    async def extract(self, ctx: ArticleContext, spec: SchemaSpec) -> Candidates:
        if spec.offline is None:
            raise BackendError(f"schema {spec.name} has no offline rules; use an LLM backend for it")
        found = spec.offline(ctx)
        return Candidates(records=[item if isinstance(item, tuple) else (item, 0) for item in found])

    async def aclose(self) -> None:
        return None
