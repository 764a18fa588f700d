"""Command-line options that `polex run` and `polex batch submit` share, declared
once: the same flag, bounds and help in both commands. Each command still gives the
default in its signature (typer reads it there), always from `pipeline/defaults.py`
or the module that owns it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from polex.pipeline import defaults
from polex.pipeline.backends import MODE_NAMES
from polex.pipeline.chunking import MIN_CHUNK_CHARS

InputPaths = Annotated[list[Path], typer.Argument(help="Files, folders of .txt/.md/.jsonl, or JSONL files.")]
Schemas = Annotated[
    list[str] | None, typer.Option("--schema", help="Schema to extract (repeat); all by default.")
]
SchemaDirs = Annotated[
    list[Path] | None, typer.Option("--schema-dir", help="Extra folder of schema modules.")
]
Mode = Annotated[
    str | None,
    typer.Option(
        help=f"Structured-output mode: {', '.join(MODE_NAMES)} "
        f"(default {defaults.MODE}; {defaults.LLAMACPP_MODE} for llamacpp)."
    ),
]
Temperature = Annotated[float, typer.Option(min=0.0, help="Sampling temperature of every request.")]
Seed = Annotated[int, typer.Option(help="Sampling seed sent with every request.")]
MaxTokens = Annotated[int, typer.Option(min=1, help="Longest answer a request may get, in tokens.")]
MaxReasks = Annotated[
    int,
    typer.Option(min=0, help="Validation reasks per request (in a batch, each is a follow-up round)."),
]
ChunkChars = Annotated[
    int, typer.Option(min=MIN_CHUNK_CHARS, help="Longest piece of an article sent in one request.")
]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Do not read or write the response cache.")]
MaxBytes = Annotated[int, typer.Option(min=1, help="Largest article accepted, in bytes.")]
Force = Annotated[bool, typer.Option("--force", help="Replace a run with other settings already in --out.")]
Strategy = Annotated[
    str | None,
    typer.Option(
        help="LLM strategy: free (find and copy records) or mentions (label the engine's numbers; "
        f"mentions.v2/v3/v4/v5 pick a prompt version) (default {defaults.STRATEGY})."
    ),
]
