"""The `polex` command line (also `python -m polex.pipeline`)."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from polex.pipeline import __version__, defaults
from polex.pipeline.artifacts import Part
from polex.pipeline.backends import BUILTIN, BackendError, BackendOptions, create, resolve_name
from polex.pipeline.batch_cli import batch_app
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
from polex.pipeline.errors import PolexError
from polex.pipeline.inputs import DEFAULT_MAX_BYTES, Inputs
from polex.pipeline.logs import configure as configure_logging
from polex.pipeline.registry import discover, select
from polex.pipeline.runner import RunPlan, RunResult, run_sync
from polex.pipeline.terminal import Stream
from polex.pipeline.workers import WorkerSetup, WorkersRefused


class _Commands(TyperGroup):
    """Runs the commands; an error polex explains itself (a PolexError, whatever
    the command) ends as its message and exit code 2, never as a traceback."""

    def invoke(self, ctx: Any) -> Any:  # a click Context (typer vendors its own click)
        try:
            return super().invoke(ctx)
        except PolexError as exc:
            console.say(str(exc), "error:", "bold red")
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_Commands,
    add_completion=False,
    no_args_is_help=True,
    help="Extract quantitative targets and policy measures from employment-policy news.",
)
console = Stream(stderr=True)  # plain text when not a terminal: a run does not import rich
out = Stream()


def _show_version(value: bool) -> None:
    if value:
        out.say(f"polex {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Extract quantitative targets and policy measures from employment-policy news."""


def fail(message: str, code: int = 2) -> None:
    console.say(message, "error:", "bold red")
    raise typer.Exit(code)


@app.command()
def run(
    inputs: InputPaths,
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory to write (resumed if it exists).")],
    backend: Annotated[str, typer.Option(help="auto, offline, openai or llamacpp.")] = "auto",
    schema: Schemas = None,
    model: Annotated[
        str | None,
        typer.Option(
            help=f"Model name (env OPENAI_MODEL; else {defaults.MODEL}, or the GGUF's name for llamacpp)."
        ),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible endpoint (env OPENAI_BASE_URL).")
    ] = None,
    mode: Mode = None,
    temperature: Temperature = defaults.TEMPERATURE,
    seed: Seed = defaults.SEED,
    max_tokens: MaxTokens = defaults.MAX_TOKENS,
    max_reasks: MaxReasks = defaults.MAX_REASKS,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Articles processed at once.")
    ] = defaults.CONCURRENCY,
    rpm: Annotated[float | None, typer.Option(min=0.001, help="Requests-per-minute limit.")] = None,
    tpm: Annotated[float | None, typer.Option(min=0.001, help="Tokens-per-minute limit.")] = None,
    retries: Annotated[
        int, typer.Option(min=1, help="Transport tries per request (429/5xx/timeouts).")
    ] = defaults.RETRY_ATTEMPTS,
    timeout: Annotated[
        float, typer.Option(min=0.001, help="Seconds per request.")
    ] = defaults.REQUEST_TIMEOUT,
    chunk_chars: ChunkChars = defaults.CHUNK_CHARS,
    cache_dir: Annotated[
        Path, typer.Option(help="Response cache (also a recording; env POLEX_CACHE_DIR).")
    ] = defaults.CACHE_DIR,
    no_cache: NoCache = False,
    replay: Annotated[
        Path | None, typer.Option(help="Replay a recording: no request leaves the machine.")
    ] = None,
    model_path: Annotated[Path | None, typer.Option(help="GGUF file for the llamacpp backend.")] = None,
    rules_only: Annotated[
        bool, typer.Option("--rules-only", help="Offline: the hand-written rules, not the trained models.")
    ] = False,
    max_bytes: MaxBytes = DEFAULT_MAX_BYTES,
    schema_dir: SchemaDirs = None,
    force: Force = False,
    article_timeout: Annotated[
        float,
        typer.Option(min=0.001, help="Seconds one article may take; then it fails and the batch goes on."),
    ] = defaults.ARTICLE_TIMEOUT,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes that extract articles at once (offline and llamacpp backends; "
            "the openai backend overlaps requests with --concurrency instead).",
        ),
    ] = defaults.WORKERS,
    strategy: Strategy = None,
    fail_on_silence: Annotated[
        bool,
        typer.Option(
            "--fail-on-silence",
            help="Exit 3 when most numbers of interest of an article or of the run go unclaimed.",
        ),
    ] = False,
) -> None:
    """Extract records from articles into a run directory."""
    specs = select(schema or [], schema_dir or [])
    articles = Inputs(inputs, max_bytes, exclude=out_dir)  # read one at a time by the run
    name, reason = resolve_name(backend)
    _refuse_ignored_options(
        name,
        reason,
        {
            "--model": model is not None,
            "--mode": mode is not None,
            "--base-url": base_url is not None,
            "--model-path": model_path is not None,
            "--rules-only": rules_only,
            "--strategy": strategy is not None,
        },
    )
    llm = None
    if name != "offline":  # the offline path never imports the LLM client (openai, instructor)
        from polex.pipeline.backends.openai_compat import LLMSettings
        from polex.pipeline.transport import RetryPolicy

        llm = LLMSettings(
            model=model or os.environ.get("OPENAI_MODEL"),
            base_url=base_url or os.environ.get("OPENAI_BASE_URL"),
            mode=mode,
            temperature=temperature,
            seed=seed,
            max_tokens=max_tokens,
            max_reasks=max_reasks,
            timeout=timeout,
            chunk_chars=chunk_chars,
            cache_dir=None if no_cache and replay is None else (replay or cache_dir),
            replay=replay is not None,
            retry=RetryPolicy(attempts=retries),
            requests_per_minute=rpm,
            tokens_per_minute=tpm,
            strategy=strategy or defaults.STRATEGY,
        )
    options = BackendOptions(llm=llm, model_path=model_path, rules_only=rules_only)
    try:  # the workers build their backend from the options as given (create may adjust them)
        worker_setup = WorkerSetup(
            workers, name, copy.deepcopy(options), tuple(schema or []), tuple(schema_dir or [])
        )
    except WorkersRefused as exc:
        fail(str(exc))
    try:
        chosen = create(name, options)
    except BackendError as exc:
        fail(f"backend {name}: {exc}")
    expected = articles.count()  # files, and lines of JSONL files: the progress bar's total
    console.say(
        f"backend {name} ({reason}); {expected} input(s) to read, schemas: {', '.join(s.name for s in specs)}"
    )
    plan = RunPlan(
        articles,
        [],
        specs,
        chosen,
        out_dir,
        reason,
        concurrency,
        force=force,
        article_timeout=article_timeout,
        workers=worker_setup if workers > 1 else None,
    )
    result = _run_with_progress(plan, expected)
    for problem in result.input_errors:
        console.say(problem.message, "input error:", "yellow")
    _summary(result)
    if result.interrupted:
        console.say("finished articles are saved; run the same command to resume.", "interrupted:", "yellow")
        raise typer.Exit(130)
    if result.failed:
        raise typer.Exit(1)
    if fail_on_silence and result.totals.silence and result.totals.silence.warning:
        console.say("failing the run (--fail-on-silence)", "silence:", "bold red")
        raise typer.Exit(3)
    raise typer.Exit(0)


# Which built-in backends read each option; given to another, it would be ignored.
_OPTION_READERS = {
    "--model": ("openai", "llamacpp"),
    "--mode": ("openai", "llamacpp"),
    "--base-url": ("openai",),
    "--model-path": ("llamacpp",),
    "--rules-only": ("offline",),
    "--strategy": ("openai", "llamacpp"),
}


def _refuse_ignored_options(name: str, reason: str, given: dict[str, bool]) -> None:
    """An option typed for another backend than the one chosen is refused, naming
    it, instead of being silently dropped (a plugin backend reads what it likes)."""
    if name not in BUILTIN:
        return
    for option, readers in _OPTION_READERS.items():
        if given[option] and name not in readers:
            fail(
                f"{option} does not apply to the {name} backend ({reason}); it is read by "
                f"--backend {' or '.join(readers)}: choose one of those or leave {option} out"
            )


def _run_with_progress(plan: RunPlan, expected: int) -> RunResult:
    """The run, with a progress bar on a terminal; without one (output redirected,
    a batch job) no bar is drawn, so none is built: its module and refresh thread
    cost start-up and CPU for nothing."""
    try:
        if not console.is_terminal:
            return run_sync(plan)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console.rich,
            transient=True,
        )
        with progress:
            task = progress.add_task("articles", total=expected)

            def advance(_part: Part) -> None:
                progress.advance(task)

            return run_sync(plan, advance)
    except KeyboardInterrupt:
        console.say(
            f"finished articles are saved in {plan.out}; run the same command to resume.",
            "interrupted:",
            "yellow",
        )
        raise typer.Exit(130) from None


def _summary(result: RunResult) -> None:
    totals = result.totals
    usage = totals.usage_this_run
    rows = [
        (
            "articles ok / failed",
            f"{totals.articles_ok} / {totals.articles_failed}"
            + (f" ({totals.articles_resumed} resumed)" if totals.articles_resumed else ""),
        )
    ]
    if totals.parts_redone:
        rows.append(("untrusted parts redone", f"{totals.parts_redone} (see the log or manifest.json)"))
    rows += [(f"{name} records", str(count)) for name, count in totals.records.items()]
    rows += [("rejected records", str(totals.rejected)), ("unclaimed numbers", str(totals.unclaimed))]
    if totals.silence and totals.silence.warning:
        rows.append(("silence warning", totals.silence.warning))
    rows.append(("requests / cache hits", f"{usage['requests']} / {usage['cache_hits']}"))
    rows.append(
        (
            "tokens (all attempts)",
            f"{usage['total_tokens']} ({usage['reasks']} reasks, "
            f"{usage['transport_retries']} transport retries, {usage['splits']} splits)",
        )
    )
    cost = totals.cost_usd_this_run
    rows.append(("cost", "unknown for this model" if cost is None else f"${cost:.4f}"))
    console.table(f"run {result.run_dir}", rows)
    for name, path in result.outputs.items():
        out.say(f"{name}: {path}")
    out.say(f"manifest: {result.run_dir / 'manifest.json'}")


@app.command()
def schemas(schema_dir: SchemaDirs = None) -> None:
    """List the registered schemas, their fields and prompt files."""
    from rich.table import Table

    registry = discover(schema_dir or [])
    for spec in registry.values():
        table = Table(title=f"{spec.registry_name} - {spec.description}", title_justify="left")
        table.add_column("field")
        table.add_column("type")
        table.add_column("description")
        for name, info in spec.model.model_fields.items():
            table.add_row(name, str(info.annotation).replace("typing.", ""), info.description or "")
        out.print(table)
        out.print(
            f"prompt: {spec.prompt}  (sha256 {spec.prompt_hash()})  offline rules: "
            f"{'yes' if spec.offline else 'no'}\n"
        )


gold_app = typer.Typer(no_args_is_help=True, help="Check and draft gold labels.")
app.add_typer(gold_app, name="gold")
app.add_typer(batch_app, name="batch")
DEFAULT_GOLD = Path("evals/gold")
DEFAULT_ARTICLES = Path("seeds")


@gold_app.command("check")
def gold_check(
    gold: Annotated[Path, typer.Option(help="Gold directory.")] = DEFAULT_GOLD,
    articles: Annotated[Path, typer.Option(help="Folder of the articles (<id>.txt).")] = DEFAULT_ARTICLES,
    schema_dir: SchemaDirs = None,
    article: Annotated[
        list[str] | None,
        typer.Option(
            help="List disagreements only for this article id (repeatable), e.g. the articles you are "
            "labelling, so that the labels of test articles stay out of view. Every file is still checked."
        ),
    ] = None,
) -> None:
    """Validate every gold record: schema, evidence in its article, value readable.
    Where a person's label disagrees with the extractor's cue heuristics (unit,
    comparator, kind), the disagreement is listed; it does not fail the check."""
    from polex.evals.gold import check_gold

    problems, checked = check_gold(gold, articles, list(discover(schema_dir or []).values()))
    errors = [p for p in problems if p.severity == "error"]
    disagreements = [p for p in problems if p.severity != "error"]
    shown = [p for p in disagreements if not article or Path(p.file).stem in article]
    for problem in shown:
        out.print(f"disagreement: {problem}", markup=False, highlight=False)
    if len(shown) < len(disagreements):
        out.print(f"({len(disagreements) - len(shown)} disagreement(s) in other articles not listed)")
    for problem in errors:
        out.print(str(problem), markup=False, highlight=False)
    if errors:
        fail(f"{len(errors)} problem(s) in {checked} gold record(s)", 1)
    out.print(
        f"gold ok: {checked} records in {gold} ({len(disagreements)} label(s) disagree with the "
        "extractor's cue heuristics; listed above, not errors)"
    )


@gold_app.command("agree")
def gold_agree(
    gold_a: Annotated[Path, typer.Argument(help="Reference labelling (a gold folder).")],
    gold_b: Annotated[Path, typer.Argument(help="Second labelling of some of the same articles.")],
    articles: Annotated[Path, typer.Option(help="Folder of the articles (<id>.txt).")] = DEFAULT_ARTICLES,
    schema_dir: SchemaDirs = None,
) -> None:
    """Inter-annotator agreement: labelling B scored against A by the run scorer."""
    import json

    from polex.evals.agreement import agreement

    result = agreement(gold_a, gold_b, articles, list(discover(schema_dir or []).values()))
    if not result["articles"]:
        fail(f"{gold_a} and {gold_b} share no article")
    out.print(json.dumps(result, indent=1), markup=False, highlight=False)


@gold_app.command("draft")
def gold_draft(
    run_dir: Annotated[Path, typer.Argument(help="Run directory to draft from.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the skeletons.")],
    schema_dir: SchemaDirs = None,
) -> None:
    """Write gold skeletons from a run for a person to correct (never overwrites)."""
    from polex.evals.gold import draft_gold

    written = draft_gold(run_dir, out_dir, list(discover(schema_dir or []).values()))
    out.print(
        f"wrote {len(written)} draft(s) to {out_dir}; correct them by hand following evals/GUIDELINES.md"
    )


@app.command("eval")
def eval_command(
    run_dir: Annotated[Path, typer.Argument(help="Run directory to score.")],
    gold: Annotated[Path, typer.Option(help="Gold directory.")] = DEFAULT_GOLD,
    articles: Annotated[
        Path | None, typer.Option(help="Folder of the articles (default: run's sources).")
    ] = None,
    fail_under: Annotated[list[str] | None, typer.Option(help="Gate METRIC=VALUE (repeatable).")] = None,
    baseline: Annotated[Path | None, typer.Option(help="eval.json to compare against.")] = None,
    max_drop: Annotated[float, typer.Option(help="Largest drop allowed from the baseline.")] = 0.0,
    manifest: Annotated[
        Path | None,
        typer.Option(help="Corpus manifest with splits (default: manifest.jsonl beside the gold folder)."),
    ] = None,
    schema_dir: SchemaDirs = None,
) -> None:
    """Score a run against gold: RUN_DIR/eval.json and eval.md, a table here, gates."""
    from rich.table import Table

    from polex.evals.eval_report import load_baseline
    from polex.evals.eval_summary import GROUP_HEADER, group_rows, headline_rows, render_markdown
    from polex.evals.harness import GateFailure, check_gates, evaluate
    from polex.pipeline.runstore import atomic_write

    result = evaluate(run_dir, gold, list(discover(schema_dir or []).values()), articles, manifest=manifest)
    atomic_write(run_dir / "eval.json", result.report.to_json())
    atomic_write(run_dir / "eval.md", render_markdown(result.report))
    table = Table(title=f"eval {run_dir}")
    for column in ("schema", "level", "P", "R", "F1 macro", "95% CI", "F1 micro", "95% CI"):
        table.add_column(column)
    for row in headline_rows(result.report):
        table.add_row(*row)
    out.print(table)
    if result.report.groups:
        out.print("by split and origin (F1 in %; lenient/strict macro with 95% CI, the rest micro):")
        for row in group_rows(result.report):
            if not row[0].startswith("split="):
                continue
            out.print("  " + "  ".join(f"{h}={v}" for h, v in zip(GROUP_HEADER, row, strict=True) if v))
    out.print(f"report: {run_dir / 'eval.md'}  data: {run_dir / 'eval.json'}")
    base = load_baseline(baseline) if baseline else None
    try:
        check_gates(result.report.headline, fail_under or [], base, max_drop)
    except GateFailure as exc:
        fail(f"gate failed: {exc}", 1)


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="First run directory.")],
    run_b: Annotated[Path, typer.Argument(help="Second run directory.")],
    gold: Annotated[Path, typer.Option(help="Gold directory.")] = DEFAULT_GOLD,
    articles: Annotated[Path | None, typer.Option(help="Folder of the articles.")] = None,
    schema_dir: SchemaDirs = None,
) -> None:
    """Paired differences between two runs on the same gold."""
    import json

    from rich.table import Table

    from polex.evals.compare_runs import compare_runs
    from polex.evals.harness import evaluate

    specs = list(discover(schema_dir or []).values())
    a = evaluate(run_a, gold, specs, articles)
    b = evaluate(run_b, gold, specs, articles)
    result = compare_runs(a, b)
    table = Table(title=f"B = {run_b} minus A = {run_a}")
    for column in ("schema", "metric", "A", "B", "B - A", "95% CI", "only A right", "only B right"):
        table.add_column(column)
    for name, s in result["schemas"].items():
        for metric in ("lenient_macro_f1", "strict_macro_f1"):
            m = s[metric]
            table.add_row(
                name,
                metric,
                f"{m['a']:.3f}",
                f"{m['b']:.3f}",
                f"{m['b_minus_a']:+.3f}",
                f"[{m['interval_95'][0]:+.3f}, {m['interval_95'][1]:+.3f}]",
                str(len(s["only_a_right"])),
                str(len(s["only_b_right"])),
            )
    out.print(table)
    out.rich.print_json(json.dumps(result))


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run directory to show.")],
    gold: Annotated[Path | None, typer.Option(help="Gold directory: marks records right and wrong.")] = None,
    articles: Annotated[
        Path | None, typer.Option(help="Folder of the articles (default: run's sources).")
    ] = None,
    max_articles: Annotated[int, typer.Option(help="Articles shown in the page.")] = 500,
    schema_dir: SchemaDirs = None,
) -> None:
    """Write RUN_DIR/report.html (self-contained) and a Parquet file per schema."""
    from polex.evals.run_report import write_parquet, write_report

    specs = [s for s in discover(schema_dir or []).values()]
    page = write_report(run_dir, specs, gold, articles, max_articles)
    tables = write_parquet(run_dir, specs)
    out.print(f"report: {page}")
    for table in tables:
        out.print(f"parquet: {table}")


@app.command()
def train(
    schema: Annotated[
        list[str] | None, typer.Option("--schema", help="Schema to train (repeat); all by default.")
    ] = None,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Write the model here instead of the schema's folder.")
    ] = None,
    max_articles: Annotated[
        int | None, typer.Option(help="Learn from the first N trainable articles (learning curves).")
    ] = None,
    gold: Annotated[
        Path | None,
        typer.Option(help="Gold folder to learn from instead of the seeds and the corpus (with --articles)."),
    ] = None,
    articles: Annotated[Path | None, typer.Option(help="Articles of --gold (<id>.txt).")] = None,
    seed: int = 0,
    jobs: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes fitting the models (1: this process only); the models are the same for any N.",
        ),
    ] = defaults.TRAIN_JOBS,
    schema_dir: SchemaDirs = None,
) -> None:
    """Fit each schema's offline classifiers on the seeds and the corpus's dev split
    (never test), and save them as the model the offline backend loads. With --gold,
    learn from that folder instead (a manifest.jsonl beside it keeps its test split out)."""
    import warnings

    from polex.evals.corpus import MANIFEST_NAME
    from polex.evals.training import DEFAULT_SOURCES, GoldSource, training_articles
    from polex.pipeline.learning.train import train as fit

    warnings.filterwarnings("ignore", module="sklearn")
    if (gold is None) != (articles is None):
        fail("--gold and --articles go together")
    sources: tuple[GoldSource, ...] = DEFAULT_SOURCES
    if gold is not None and articles is not None:
        beside = gold.parent / MANIFEST_NAME
        sources = (GoldSource(gold, articles, beside if beside.is_file() else None),)

    specs = select(schema or [], schema_dir or [])
    if out_path is not None and len(specs) != 1:
        fail("--out needs exactly one --schema")
    for spec in specs:
        examples = training_articles(spec.name, sources, limit=max_articles)
        if not any(g.records for g in examples):
            console.say(f"{spec.name}: no gold records to learn from; skipped")
            continue
        try:
            model, report = fit(
                spec, examples, seed=seed, info={"articles": [g.article.id for g in examples]}, jobs=jobs
            )
        except ValueError as exc:
            fail(f"{spec.name}: {exc}", 1)
        target = out_path or spec.learned_model_path
        digest = model.save(target)
        out.print(
            f"{spec.name}: {report.articles} articles, {report.gold_records} gold records "
            f"({report.unaligned} without a candidate), {report.candidates} candidates; "
            f"C={report.c}, keep threshold {report.threshold}, out-of-fold F1 "
            f"{report.out_of_fold['f1_fully_right']:.3f} -> {target} (sha256 {digest[:16]})"
        )
        if report.engine != "learned":
            out.print(
                f"{spec.name}: the classifiers did not beat its rules out of fold (F1 "
                f"{report.out_of_fold['f1_fully_right_learned']:.3f} vs rules "
                f"{report.out_of_fold['f1_fully_right_rules']:.3f}, better in "
                f"{report.out_of_fold['share_learned_beats_rules']:.0%} of resamples): "
                "the model keeps the rules' records and scores their confidence"
            )


def main() -> None:
    configure_logging()
    app(prog_name="polex")


if __name__ == "__main__":
    main()
