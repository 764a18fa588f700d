"""The deterministic backend, no model server, no network. For each schema: its
learned classifiers when a trained model ships with it (`polex train`), else its
hand-written rules; ``rules_only`` forces the rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polex.pipeline import __version__
from polex.pipeline.backends.base import BackendError, Candidates
from polex.pipeline.learning.extract import predict
from polex.pipeline.learning.model import load_model
from polex.pipeline.records import ArticleContext
from polex.pipeline.spec import SchemaSpec


class OfflineBackend:
    name = "offline"

    # computes without awaiting: the runner runs it in a thread, so a time limit holds
    blocks_event_loop = True

    def __init__(self, rules_only: bool = False) -> None:
        self.rules_only = rules_only
        # where each schema's trained model lives, resolved once (not for every
        # article); the model itself is reread only when its file changes (``load_model``)
        self._model_paths: dict[str, Path] = {}

    def describe(self) -> dict[str, Any]:
        engine = "rules" if self.rules_only else "learned"
        return {"backend": self.name, "model": f"{engine}-{__version__}", "parameters": {}}

    async def extract(self, ctx: ArticleContext, spec: SchemaSpec) -> Candidates:
        model = None if self.rules_only else load_model(self._model_path(spec))
        if model is not None:
            predictions = predict(spec, model, ctx)
            return Candidates(
                records=[(p.record, p.offset) for p in predictions],
                confidences=[p.confidence for p in predictions],
            )
        if spec.offline is None:
            raise BackendError(
                f"schema {spec.name} has no offline rules and no trained model (`polex train`); "
                "use an LLM backend for it"
            )
        found = spec.offline(ctx)
        return Candidates(records=[item if isinstance(item, tuple) else (item, 0) for item in found])

    def _model_path(self, spec: SchemaSpec) -> Path:
        path = self._model_paths.get(spec.name)
        if path is None:
            path = self._model_paths[spec.name] = spec.learned_model_path
        return path

    async def aclose(self) -> None:
        return None
