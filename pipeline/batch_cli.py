"""`polex batch`: the Batch API route (submit, status, collect). The pipeline and the
openai client are imported inside the commands, so other commands start no slower."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from polex.pipeline import defaults
from polex.pipeline.cli_options import (
    ChunkChars,
    Force,
    InputPaths,
    MaxBytes,
    MaxReasks,
    MaxTokens,
    Mode,
    NoCache,
    SchemaDirs,
    Schemas,
    Seed,
    Strategy,
    Temperature,
)
from polex.pipeline.inputs import DEFAULT_MAX_BYTES
from polex.pipeline.redact import redact
from polex.pipeline.terminal import Stream

if TYPE_CHECKING:
    from polex.pipeline.batch import BatchRun, Outcome

batch_app = typer.Typer(
    no_args_is_help=True,
    help="Run the LLM path through a provider's Batch API (half price) or `vllm run-batch`.",
)
console = Stream(stderr=True)  # rich is imported only when a batch command prints
out = Stream()

# Exit codes of submit and collect, for scripts that poll.
EXIT_COMPLETE = 0
EXIT_BATCH_FAILED = 1
EXIT_WAITING = 3


def _fail(message: str, code: int = 2) -> None:
    console.print("[bold red]error:[/] ", end="")
    console.print(redact(message), markup=False, highlight=False)  # a provider's message may echo a key
    raise typer.Exit(code)


def _say(message: str) -> None:
    console.print(redact(message), markup=False, highlight=False)


def _batch_run(run_dir: Path) -> BatchRun:
    from polex.pipeline.batch import BatchRun

    return BatchRun(run_dir, _say)


def _exit(outcome: Outcome) -> None:
    for failure in outcome.failed_batches:
        console.print("[bold red]error:[/] ", end="")
        _say(f"{failure}; its requests are sent again in the next round")
    if outcome.failed_batches:
        raise typer.Exit(EXIT_BATCH_FAILED)
    raise typer.Exit(EXIT_COMPLETE if outcome.complete else EXIT_WAITING)


@batch_app.command()
def submit(
    inputs: InputPaths,
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory (the same command resumes it).")],
    schema: Schemas = None,
    model: Annotated[str | None, typer.Option(help="Model name (env OPENAI_MODEL).")] = None,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible endpoint with a Batch API (env OPENAI_BASE_URL).")
    ] = None,
    mode: Mode = None,
    strategy: Strategy = None,
    temperature: Temperature = defaults.TEMPERATURE,
    seed: Seed = defaults.SEED,
    max_tokens: MaxTokens = defaults.MAX_TOKENS,
    max_reasks: MaxReasks = defaults.MAX_REASKS,
    retries: Annotated[
        int, typer.Option(min=1, help="Tries per call to the Files and Batches API.")
    ] = defaults.RETRY_ATTEMPTS,
    timeout: Annotated[
        float, typer.Option(min=0.001, help="Seconds per call (uploads included).")
    ] = defaults.BATCH_CALL_TIMEOUT,
    chunk_chars: ChunkChars = defaults.CHUNK_CHARS,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Response cache the answers also go to (default: polex run's).")
    ] = None,
    no_cache: NoCache = False,
    max_bytes: MaxBytes = DEFAULT_MAX_BYTES,
    schema_dir: SchemaDirs = None,
    no_upload: Annotated[
        bool,
        typer.Option(
            "--no-upload",
            help="Only write the request files (for `vllm run-batch`, or to see the cost first).",
        ),
    ] = False,
    max_requests_per_file: Annotated[
        int, typer.Option(min=1, help="Requests per request file.")
    ] = defaults.BATCH_MAX_REQUESTS_PER_FILE,
    max_bytes_per_file: Annotated[
        int, typer.Option(min=1, help="Bytes per request file.")
    ] = defaults.BATCH_MAX_BYTES_PER_FILE,
    force: Force = False,
) -> None:
    """Write the requests an online run would send as Batch API files, print their
    count and estimated cost, upload them and create the batches."""
    from polex.pipeline.backends import MODES
    from polex.pipeline.backends.openai_compat import STRATEGIES
    from polex.pipeline.batch_state import BatchError, BatchOptions, ShardLimits

    mode = mode or defaults.MODE
    if mode not in MODES:
        _fail(f"unknown structured-output mode '{mode}'; choose from {sorted(MODES)}")
    strategy = strategy or defaults.STRATEGY
    if strategy not in STRATEGIES:
        _fail(f"unknown strategy '{strategy}' (--strategy); choose from {', '.join(STRATEGIES)}")
    options = BatchOptions(
        inputs=[str(p.resolve()) for p in inputs],
        schemas=schema or [],
        schema_dirs=[str(p.resolve()) for p in schema_dir or []],
        max_bytes=max_bytes,
        model=model or os.environ.get("OPENAI_MODEL", defaults.MODEL),
        base_url=base_url or os.environ.get("OPENAI_BASE_URL"),
        mode=mode,
        strategy=strategy,
        temperature=temperature,
        seed=seed,
        max_tokens=max_tokens,
        max_reasks=max_reasks,
        chunk_chars=chunk_chars,
        cache_dir=None if no_cache else str((cache_dir or defaults.CACHE_DIR).resolve()),
        timeout=timeout,
        retries=retries,
    )
    limits = ShardLimits(max_requests=max_requests_per_file, max_bytes=max_bytes_per_file)
    try:
        outcome = _batch_run(out_dir).submit(options, upload=not no_upload, limits=limits, force=force)
    except BatchError as exc:
        _fail(str(exc))
        raise
    _exit(outcome)


@batch_app.command()
def status(run_dir: Annotated[Path, typer.Argument(help="Run directory of `polex batch submit`.")]) -> None:
    """Show each round's batches (looked up at the provider) and the articles finished."""
    import json

    from polex.pipeline.batch_state import BatchError

    run = _batch_run(run_dir)
    try:
        state = run.status()
    except BatchError as exc:
        _fail(str(exc))
        raise
    out.print(f"batch run {run_dir} ({'uploaded' if state.upload else 'local request files'})", markup=False)
    for r in state.rounds:
        collected = (
            f"collected, {r.answered} answered, {r.unanswered} asked again"
            if r.collected
            else "not collected"
        )
        for shard in r.shards:
            seen = shard.status or ("not sent" if state.upload else "written")
            out.print(
                f"round {r.number} file {shard.index} ({shard.requests} requests, {shard.path}): "
                f"batch {shard.batch_id or '-'} {seen}, {shard.completed} done / {shard.failed} failed; "
                + collected,
                markup=False,
                highlight=False,
            )
    manifest_path = run_dir / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text("utf-8"))
        totals, batch = manifest["totals"], manifest.get("batch")
        out.print(f"articles finished: {totals['articles_ok']} of {totals['articles']}")
        if batch:
            cost = batch["cost_usd_estimate"]
            out.print(
                f"answers collected: {batch['requests_answered']} ({batch['prompt_tokens']} "
                f"prompt + {batch['completion_tokens']} completion tokens; estimated cost "
                + ("unknown" if cost is None else f"${cost:.4f}")
                + ")"
            )
    if state.complete:
        out.print("complete")
    elif state.upload:
        out.print(f"not complete: `polex batch collect {run_dir}` when the batches have ended")
    else:
        out.print(f"not complete: run the request files, then `polex batch collect {run_dir} --results FILE`")


@batch_app.command()
def collect(
    run_dir: Annotated[Path, typer.Argument(help="Run directory of `polex batch submit`.")],
    results: Annotated[
        list[Path] | None,
        typer.Option(
            "--results", help="A result file of `vllm run-batch` instead of downloading (repeat for several)."
        ),
    ] = None,
    max_reasks: Annotated[
        int | None,
        typer.Option(min=0, help="Change the validation reasks per request (default: as submitted)."),
    ] = None,
) -> None:
    """Download the results of the finished round, run grounding and checks as
    online, and send what still needs an answer (reasks, expired requests) as the
    next round. Exit 0: complete; 3: waiting for a round; 1: a batch failed."""
    from polex.pipeline.batch_state import BatchError

    for path in results or []:
        if not path.is_file():
            _fail(f"result file {path} does not exist")
    try:
        outcome = _batch_run(run_dir).collect(results or [], max_reasks)
    except BatchError as exc:
        _fail(str(exc))
        raise
    if outcome.complete:
        out.print(f"run directory complete: {run_dir} (manifest: {run_dir / 'manifest.json'})")
    _exit(outcome)
