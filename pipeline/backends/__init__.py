"""Backends by name. Built-ins are listed here; an installed package adds one
through the ``polex.backends`` entry point group (a factory taking BackendOptions)."""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polex.pipeline.backends.base import Backend, BackendError, Candidates

if TYPE_CHECKING:
    from polex.pipeline.backends.openai_compat import LLMSettings

ENTRY_POINT_GROUP = "polex.backends"

# The structured-output modes of the LLM backends (the keys of openai_compat.MODES),
# named here so that the command line lists them without importing openai and
# instructor: an offline run never loads them.
MODE_NAMES = ("tools", "json_schema", "json_object_schema", "json", "md_json")


@dataclass
class BackendOptions:
    llm: LLMSettings | None = None  # the LLM backends' settings; None: their defaults
    model_path: Path | None = None
    rules_only: bool = False  # offline: the hand-written rules even where a trained model ships

    def llm_settings(self) -> LLMSettings:
        if self.llm is None:
            from polex.pipeline.backends.openai_compat import LLMSettings

            self.llm = LLMSettings()
        return self.llm


def _offline(options: BackendOptions) -> Backend:
    from polex.pipeline.backends.offline import OfflineBackend

    return OfflineBackend(rules_only=options.rules_only)


def _openai(options: BackendOptions) -> Backend:
    from polex.pipeline.backends.openai_compat import OpenAICompatBackend

    return OpenAICompatBackend(options.llm_settings())


def _llamacpp(options: BackendOptions) -> Backend:
    from polex.pipeline.backends.llamacpp import LlamaCppBackend

    return LlamaCppBackend(options.llm_settings(), options.model_path)


BUILTIN: dict[str, Callable[[BackendOptions], Backend]] = {
    "offline": _offline,
    "openai": _openai,
    "llamacpp": _llamacpp,
}


def available() -> dict[str, Callable[[BackendOptions], Backend]]:
    found = dict(BUILTIN)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.load())
    return found


def resolve_name(name: str) -> tuple[str, str]:
    """'auto' means openai when an endpoint is configured, else offline."""
    if name != "auto":
        return name, "chosen with --backend"
    if os.environ.get("OPENAI_BASE_URL"):
        return "openai", "OPENAI_BASE_URL is set"
    if os.environ.get("OPENAI_API_KEY"):
        return "openai", "OPENAI_API_KEY is set"
    return "offline", "no endpoint configured (set OPENAI_BASE_URL or OPENAI_API_KEY for an LLM)"


def create(name: str, options: BackendOptions) -> Backend:
    factories = available()
    if name not in factories:
        raise BackendError(f"unknown backend '{name}'; available: {', '.join(sorted(factories))}")
    return factories[name](options)


def __getattr__(name: str) -> Any:
    """``MODES`` and ``LLMSettings`` are still importable from here, loaded (with
    openai and instructor) only when asked for."""
    if name in ("MODES", "LLMSettings"):
        from polex.pipeline.backends import openai_compat

        return getattr(openai_compat, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MODES",
    "MODE_NAMES",
    "Backend",
    "BackendError",
    "BackendOptions",
    "Candidates",
    "LLMSettings",
    "create",
    "resolve_name",
]
