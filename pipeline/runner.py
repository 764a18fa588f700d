"""Runs a batch: reads inputs, extracts every schema from every article with one
backend under bounded concurrency, grounds and checks the records, and writes the
run directory. Finished articles are skipped on a re-run with the same settings,
so a killed run resumes with the same command."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import logging
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from polex.pipeline import __version__, defaults
from polex.pipeline.artifacts import (
    ArticleEntry,
    ManifestHead,
    OutputsStamp,
    Part,
    RunManifest,
    SchemaFingerprint,
    Totals,
)
from polex.pipeline.backends import Backend
from polex.pipeline.grounding import apply_article_checks, deduplicate, ground
from polex.pipeline.inputs import InputProblem
from polex.pipeline.learning.model import file_sha256
from polex.pipeline.ledger import Ledger
from polex.pipeline.quantities import Mention
from polex.pipeline.records import Article, ArticleContext, GroundedRecord
from polex.pipeline.runstore import RunDirError, RunStore, UntrustedPart
from polex.pipeline.silence import is_silent, silence_report
from polex.pipeline.spec import SchemaSpec
from polex.pipeline.usage import Usage, current_usage
from polex.pipeline.workers import WorkerDied, WorkerPool, WorkerSetup

PART_FORMAT = 1
log = logging.getLogger("polex.runner")


@dataclass
class RunResult:
    run_dir: Path
    totals: Totals
    outputs: dict[str, Path]
    interrupted: bool = False
    input_errors: list[InputProblem] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return self.totals.articles_failed

    @cached_property
    def manifest(self) -> RunManifest:
        """The manifest as written, read from the run directory when asked for (a
        run does not hold its articles' entries in memory)."""
        return RunManifest.model_validate_json((self.run_dir / "manifest.json").read_bytes())


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=5, cwd=Path(__file__).resolve().parent
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit() -> str | None:
    """The commit of the code that ran, with "+dirty" when files were changed."""
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return None
    return commit + ("+dirty" if _git("status", "--porcelain", "--untracked-files=no") else "")


def learned_model_sha256(spec: SchemaSpec) -> str | None:
    path = spec.learned_model_path
    return file_sha256(path) if path.is_file() else None


def schema_fingerprints(specs: list[SchemaSpec]) -> dict[str, dict[str, Any]]:
    return {
        s.name: {
            "registry_name": s.registry_name,
            "prompt": s.prompt.name,
            "prompt_sha256": s.prompt_hash(),
            "schema_sha256": s.schema_hash(),
            "learned_model_sha256": learned_model_sha256(s),
        }
        for s in specs
    }


def settings_key(
    backend: Backend, specs: list[SchemaSpec], fingerprints: dict[str, dict[str, Any]] | None = None
) -> str:
    """What a finished article's records depend on: a part made under another key
    is redone, never reused. ``fingerprints``: ``schema_fingerprints(specs)`` when
    the caller has them already (they hash every schema's JSON schema and model)."""
    described = backend.describe()
    params = {
        k: v
        for k, v in described.get("parameters", {}).items()
        if k not in ("requests_per_minute", "tokens_per_minute", "timeout")
    }
    schemas = copy.deepcopy(fingerprints) if fingerprints is not None else schema_fingerprints(specs)
    if described.get("backend") != "offline" or str(described.get("model", "")).startswith("rules"):
        for fingerprint in schemas.values():  # only the learned offline path reads the model
            fingerprint.pop("learned_model_sha256", None)
    payload = {
        "backend": described.get("backend"),
        "model": described.get("model"),
        "parameters": params,
        "schemas": schemas,
        "part_format": PART_FORMAT,
        "version": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def unclaimed_mentions(
    ctx: ArticleContext, records: dict[str, list[GroundedRecord]], specs: list[SchemaSpec]
) -> list[dict[str, Any]]:
    """Numbers of interest that no record claims: a record claims a number when its
    evidence covers it and its quantity field equals one of its readings."""
    claimers = [
        (r, spec.quantity_field) for spec in specs if spec.quantity_field for r in records.get(spec.name, [])
    ]

    def claimed(m: Mention) -> bool:
        for record, field_name in claimers:
            value = record.record.get(field_name)
            covered = any(start <= m.start and m.end <= end for start, end in record.spans)
            if (
                covered
                and isinstance(value, int | float)
                and any(abs(abs(value) - abs(x)) <= 1e-6 * max(1.0, abs(x)) for x in m.readings)
            ):
                return True
        return False

    if not any(spec.quantity_field for spec in specs):
        return []  # no schema here claims numbers; with one, no record at all leaves every number unclaimed
    return [
        {"text": m.text, "char_start": m.start, "char_end": m.end, "value": m.value, "unit": m.unit}
        for m in ctx.mentions
        if m.of_interest and not claimed(m)
    ]


def numbers_of_interest(ctx: ArticleContext, specs: list[SchemaSpec]) -> int:
    """How many numbers records could claim (none when no schema claims numbers)."""
    return sum(m.of_interest for m in ctx.mentions) if any(s.quantity_field for s in specs) else 0


async def process_article(article: Article, specs: list[SchemaSpec], backend: Backend) -> Part:
    """Every schema of one article. An exception fails that schema of this article
    only: the other schemas' records are kept, and the batch goes on."""
    usage = Usage()
    token = current_usage.set(usage)
    started = now()
    ctx = ArticleContext(article)
    kept: dict[str, list[GroundedRecord]] = {}
    rejected: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    try:
        for spec in specs:
            try:
                kept[spec.name], bad = await _extract_schema(ctx, spec, backend)
                rejected.extend(bad)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one failure never stops the batch
                errors[spec.name] = f"{type(exc).__name__}: {exc}"
    finally:
        current_usage.reset(token)
    return _part(
        article,
        error="; ".join(f"{name}: {message}" for name, message in errors.items()) or None,
        schema_errors=errors,
        records={name: [r.as_dict() for r in rs] for name, rs in kept.items()},
        rejected=rejected,
        unclaimed=unclaimed_mentions(ctx, kept, specs) if not errors else [],
        usage=usage,
        started=started,
        numbers=numbers_of_interest(ctx, specs),
    )


def _part(
    article: Article,
    error: str | None,
    schema_errors: dict[str, str] | None = None,
    records: dict[str, list[dict[str, Any]]] | None = None,
    rejected: list[dict[str, Any]] | None = None,
    unclaimed: list[dict[str, Any]] | None = None,
    usage: Usage | None = None,
    started: str | None = None,
    numbers: int = 0,
) -> Part:
    """The part of one article: failed when ``error`` says why."""
    return Part.model_validate(
        {
            "article_id": article.id,
            "source": article.source,
            "text_sha256": article.sha256,
            "encoding": article.encoding,
            "status": "failed" if error else "ok",
            "error": error,
            "schema_errors": schema_errors or {},
            "records": records or {},
            "rejected": rejected or [],
            "unclaimed": unclaimed or [],
            "usage": usage or Usage(),
            "started": started,
            "finished": now(),
            "numbers_of_interest": numbers,
        }
    )


async def _process(article: Article, plan: RunPlan) -> Part:
    """One article; a backend that computes without awaiting (offline) runs in a
    daemon thread, so that the article's time limit can give up on it."""
    work = process_article(article, plan.specs, plan.backend)
    if not getattr(plan.backend, "blocks_event_loop", False):
        return await work
    return await _in_daemon_thread(lambda: asyncio.run(work))


async def _in_daemon_thread(function: Callable[[], Part]) -> Part:
    """``function()`` in a daemon thread: unlike ``asyncio.to_thread``, a thread given
    up on at the time limit never keeps the process from exiting."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Part] = loop.create_future()

    def settle(result: Part | None, error: BaseException | None) -> None:
        if future.done():
            return
        if result is not None:
            future.set_result(result)
        else:
            future.set_exception(error or RuntimeError("the article's thread ended without a result"))

    def work() -> None:
        try:
            result, error = function(), None
        except BaseException as exc:  # handed to the awaiting task, which re-raises it
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the run has ended meanwhile
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, daemon=True, name="polex-article").start()
    return await future


def _timed_out(article: Article, seconds: float | None) -> Part:
    return _part(article, error=f"timed out after {seconds:g} s (--article-timeout); the batch went on")


async def _extract_schema(
    ctx: ArticleContext, spec: SchemaSpec, backend: Backend
) -> tuple[list[GroundedRecord], list[dict[str, Any]]]:
    candidates = await backend.extract(ctx, spec)
    records: list[GroundedRecord] = []
    rejected: list[dict[str, Any]] = []
    confidences = candidates.confidences or [None] * len(candidates.records)
    flags = candidates.flags or [[] for _ in candidates.records]
    for (record, hint), confidence, known in zip(candidates.records, confidences, flags, strict=True):
        good, bad = ground([record], spec, ctx, hint, confidence)
        for kept in good:
            kept.flags[:0] = known
        records.extend(good)
        rejected.extend(r.as_dict() for r in bad)
    rejected.extend(r.as_dict() for r in candidates.rejected)
    records = deduplicate(records, spec)
    apply_article_checks(records, spec, ctx)
    return records, rejected


def _prices() -> dict[str, dict[str, float]]:
    raw = tomllib.loads(resources.files("polex.pipeline").joinpath("data/prices.toml").read_text("utf-8"))
    models: dict[str, dict[str, float]] = raw.get("models", {})
    return models


def estimate_cost(model: str | None, usage: Usage) -> float | None:
    price = _prices().get(model or "")
    if price is None:
        return None
    return round((usage.prompt_tokens * price["input"] + usage.completion_tokens * price["output"]) / 1e6, 6)


@dataclass
class RunPlan:
    # the articles in input order: a list, or ``inputs.Inputs``, read one article at
    # a time (then the problems of unreadable inputs come in place, among them)
    articles: Iterable[Article | InputProblem]
    input_errors: list[InputProblem]  # problems known before the run
    specs: list[SchemaSpec]
    backend: Backend
    out: Path
    backend_reason: str = ""
    concurrency: int = defaults.CONCURRENCY
    command: list[str] = field(default_factory=lambda: list(sys.argv))
    force: bool = False  # replace a run with other settings held in ``out``
    article_timeout: float | None = defaults.ARTICLE_TIMEOUT  # seconds; None: no limit
    workers: WorkerSetup | None = None  # articles in several processes; None: in this one


ProgressHook = Callable[[Part], None]
# Bump when the outputs rebuilt from the same parts would differ (their format changed).
OUTPUTS_FORMAT = 1


async def execute(plan: RunPlan, on_article: ProgressHook | None = None) -> RunResult:
    started = time.monotonic()
    store = RunStore(plan.out)
    store.prepare()
    with store.lock():
        return await _execute(plan, store, on_article, started)


@dataclass
class _Run:
    """What the manifest says of the run itself, fixed at its start."""

    plan: RunPlan
    key: str
    started_at: str
    commit: str | None
    fingerprints: dict[str, dict[str, Any]]  # schema_fingerprints(plan.specs)


async def _execute(
    plan: RunPlan, store: RunStore, on_article: ProgressHook | None, started: float
) -> RunResult:
    fingerprints = schema_fingerprints(plan.specs)  # once per run: hashing the schemas costs
    key = settings_key(plan.backend, plan.specs, fingerprints)
    previous = store.previous_manifest()
    if previous and previous.settings_key != key:
        if not plan.force:
            described = store.previous_settings_description(previous)
            raise RunDirError(
                f"{plan.out} holds a run with other settings ({described}); "
                "resume it with its own settings, choose another --out, or add --force to replace it"
            )
        store.clear()
        previous = None
    run = _Run(plan, key, now(), git_commit(), fingerprints)
    store.write_manifest(_manifest(run, "running", Totals.model_validate(_EMPTY_TOTALS)), [])
    input_errors = list(plan.input_errors)
    with Ledger(plan.out) as ledger:
        interrupted = await _extract_all(plan, store, key, ledger, input_errors, on_article)
        totals = _totals(plan, ledger, input_errors)
        stamp, outputs = _export(plan, store, ledger, input_errors, previous)
        manifest = _manifest(run, "interrupted" if interrupted else "complete", totals, stamp)
        manifest.totals.seconds = round(time.monotonic() - started, 3)
        store.write_manifest(manifest, _entries(ledger, input_errors))
    return RunResult(plan.out, manifest.totals, outputs, interrupted, input_errors)


# A backend that computes in this process's threads (offline) holds the GIL: more
# articles at once than this gain nothing, and each thread computing at once costs a
# malloc arena and a working set of its own (the memory that grew with the articles).
IN_PROCESS_ARTICLES_AT_ONCE = 2


def articles_at_once(plan: RunPlan) -> int:
    """How many articles are in flight. With workers: one each, and one more waiting
    for the first to be free (a worker never idles while this process is busy; the
    waiting article's time limit runs from when it is handed over). A backend that
    computes in a thread of this process: two, one computing while the part of the
    one before is written (``--concurrency`` lower still holds). Otherwise (requests
    to a server): ``--concurrency``."""
    if plan.workers and plan.workers.count > 1:
        return plan.workers.count + 1
    if getattr(plan.backend, "blocks_event_loop", False):
        return max(1, min(IN_PROCESS_ARTICLES_AT_ONCE, plan.concurrency))
    return max(1, plan.concurrency)


async def _extract_all(
    plan: RunPlan,
    store: RunStore,
    key: str,
    ledger: Ledger,
    input_errors: list[InputProblem],
    on_article: ProgressHook | None,
) -> bool:
    """Every article of the plan, read one at a time: a trusted part of an earlier
    run is taken as it is, the others are extracted, a bounded number at once.
    Returns whether the run was interrupted (then the articles not finished are
    entered as pending)."""
    workers = plan.workers if plan.workers and plan.workers.count > 1 else None
    pool: WorkerPool | None = None  # started for the first article to extract (none on a cached re-run)
    semaphore = asyncio.Semaphore(articles_at_once(plan))
    in_flight: dict[asyncio.Task[None], tuple[int, Article]] = {}
    failures: list[BaseException] = []

    async def one(position: int, article: Article, redone_because: str | None) -> None:
        try:
            work = pool.process(article) if pool else _process(article, plan)
            part = await asyncio.wait_for(work, plan.article_timeout)
        except TimeoutError:
            part = _timed_out(article, plan.article_timeout)
        except WorkerDied as exc:
            part = _part(article, error=f"{exc}; the batch went on")
        part.settings_key = key
        digest = store.write_part(part)
        ledger.settle(position, _entry(article, part, resumed=False, redone_because=redone_because), digest)
        if on_article:
            on_article(part)

    def finished(task: asyncio.Task[None]) -> None:
        in_flight.pop(task, None)
        semaphore.release()
        if not task.cancelled() and task.exception() is not None:
            failures.append(task.exception())  # type: ignore[arg-type]

    # In-process threads: the first article to extract runs alone. It builds what
    # every article shares once per process (models, label lexicons, the gazetteer,
    # the cue patterns): two threads starting together would both build it.
    alone_first = workers is None and getattr(plan.backend, "blocks_event_loop", False)
    items = iter(plan.articles)
    try:
        for item in items:
            if isinstance(item, InputProblem):
                input_errors.append(item)
                continue
            position = ledger.reserve()
            found, problem = _resumable_part(store, item, key)
            if found is not None:
                part, digest = found
                ledger.settle(position, _entry(item, part, resumed=True), digest)
                if on_article:
                    on_article(part)
                continue
            if problem:
                log.warning("%s: its part is not trusted (%s); the article is redone", item.id, problem)
            if workers and pool is None:
                pool = WorkerPool(workers)
            await semaphore.acquire()
            if failures:  # a part could not be written (a full disk): stop here
                raise failures[0]
            task = asyncio.create_task(one(position, item, problem))
            in_flight[task] = (position, item)
            task.add_done_callback(finished)
            if alone_first:
                alone_first = False
                await asyncio.wait({task})
        await asyncio.gather(*in_flight)
    except (asyncio.CancelledError, KeyboardInterrupt):
        _enter_pending(items, in_flight, ledger, input_errors)
        return True
    finally:
        for task in in_flight:
            task.cancel()
        if pool:
            pool.close()
        await plan.backend.aclose()
    return False


def _enter_pending(
    rest: Iterator[Article | InputProblem],
    in_flight: dict[asyncio.Task[None], tuple[int, Article]],
    ledger: Ledger,
    input_errors: list[InputProblem],
) -> None:
    """An interrupted run: the articles it was working on and those it had not read
    yet are entered as pending (the same command resumes them)."""
    for position, article in list(in_flight.values()):
        if not ledger.is_settled(position):
            ledger.settle(position, _pending(article), None)
    for item in rest:
        if isinstance(item, InputProblem):
            input_errors.append(item)
        else:
            ledger.settle(ledger.reserve(), _pending(item), None)


def _pending(article: Article) -> ArticleEntry:
    return ArticleEntry(
        id=article.id,
        source=article.source,
        sha256=article.sha256,
        encoding=article.encoding,
        status="pending",
    )


def _resumable_part(
    store: RunStore, article: Article, key: str
) -> tuple[tuple[Part, str] | None, str | None]:
    """The finished part of ``article`` with its file's sha256 when it can be
    trusted; otherwise None and, when a part was there but is not trusted, why."""
    try:
        found = store.read_part(article.id)
    except UntrustedPart as exc:
        return None, str(exc)
    if found is None or found[0].status != "ok":
        return None, None  # not done yet, or failed: (re)tried, nothing to report
    part = found[0]
    if part.settings_key != key:
        return None, f"made with other settings (key {part.settings_key}, this run {key})"
    if part.text_sha256 != article.sha256:
        return None, "the article's text changed since its part was made"
    return found, None


def _export(
    plan: RunPlan,
    store: RunStore,
    ledger: Ledger,
    input_errors: list[InputProblem],
    previous: ManifestHead | None,
) -> tuple[OutputsStamp, dict[str, Path]]:
    """Rebuild the outputs from the parts, streamed in article order; left as they
    are when they were made from the very same parts and are intact."""
    errors = [e.as_dict() for e in input_errors]
    outputs_key = _outputs_key(plan, errors, ledger)
    if (
        previous is not None
        and previous.outputs is not None
        and store.outputs_intact(previous.outputs, outputs_key)
    ):
        return previous.outputs, store.output_paths(plan.specs)
    parts = (store.trusted_part(s.entry.id or "") for s in ledger.in_order() if s.digest is not None)
    files = store.write_outputs(parts, plan.specs, errors)
    return OutputsStamp(key=outputs_key, files=files.digests), files.paths


def _outputs_key(plan: RunPlan, input_errors: list[dict[str, Any]], ledger: Ledger) -> str:
    """What the outputs are made from: their format, the schemas' fields, the input
    errors and every part (article id and the sha256 of its file), in input order."""
    head = {
        "format": OUTPUTS_FORMAT,
        "version": __version__,
        "schemas": {s.name: list(s.model.model_fields) for s in plan.specs},
        "input_errors": input_errors,
    }
    digest = hashlib.sha256(json.dumps(head, sort_keys=True).encode())
    for settled in ledger.in_order():
        if settled.digest is not None:
            digest.update(json.dumps([settled.entry.id, settled.digest]).encode() + b"\n")
    return digest.hexdigest()


def _entry(article: Article, part: Part, resumed: bool, redone_because: str | None = None) -> ArticleEntry:
    entry = ArticleEntry(
        id=article.id,
        source=article.source,
        sha256=article.sha256,
        encoding=article.encoding,
        status=part.status,
        error=part.error,
        resumed=resumed,
        records={name: len(rows) for name, rows in part.records.items()},
        rejected=len(part.rejected),
        unclaimed=len(part.unclaimed),
        numbers_of_interest=part.numbers_of_interest,
        silent=is_silent(part.numbers_of_interest, len(part.unclaimed)),
        usage=part.usage,
        started=part.started,
        finished=part.finished,
    )
    if redone_because is not None:
        entry.part_redone_because = redone_because
    return entry


def _input_error_entry(error: InputProblem) -> ArticleEntry:
    return ArticleEntry(id=error.article_id, source=error.source, status="input_error", error=error.message)


def _entries(ledger: Ledger, input_errors: list[InputProblem]) -> Iterator[ArticleEntry]:
    """The manifest's article entries: the articles in input order, then the input errors."""
    for settled in ledger.in_order():
        yield settled.entry
    for error in input_errors:
        yield _input_error_entry(error)


_EMPTY_TOTALS: dict[str, Any] = {
    "articles": 0,
    "articles_ok": 0,
    "articles_failed": 0,
    "articles_resumed": 0,
    "parts_redone": 0,
    "records": {},
    "rejected": 0,
    "unclaimed": 0,
    "usage_this_run": {},
    "cost_usd_this_run": None,
}


def _totals(plan: RunPlan, ledger: Ledger, input_errors: list[InputProblem]) -> Totals:
    """The run's totals, summed over the ledger in one pass (input order)."""
    usage = Usage()
    records = dict.fromkeys((s.name for s in plan.specs), 0)
    counts = {"ok": 0, "failed": 0, "resumed": 0, "redone": 0, "rejected": 0, "unclaimed": 0}

    def summed() -> Iterator[tuple[str, int, int]]:
        for settled in ledger.in_order():
            entry = settled.entry
            counts["redone"] += entry.part_redone_because is not None
            if entry.status == "pending":
                continue
            counts["ok"] += entry.status == "ok"
            counts["failed"] += entry.status == "failed"
            counts["resumed"] += entry.resumed
            counts["rejected"] += entry.rejected
            counts["unclaimed"] += entry.unclaimed
            for name in records:
                records[name] += entry.records.get(name, 0)
            if not entry.resumed and entry.usage is not None:
                usage.add(entry.usage)
            if entry.status == "ok":
                yield entry.id or "", entry.numbers_of_interest, entry.unclaimed

    silence = silence_report(summed())  # silence: (id, numbers, unclaimed) of each ok article
    model = plan.backend.describe().get("model")
    return Totals(
        articles=len(ledger) + len(input_errors),
        articles_ok=counts["ok"],
        articles_failed=counts["failed"] + len(input_errors),
        articles_resumed=counts["resumed"],
        parts_redone=counts["redone"],
        records=records,
        rejected=counts["rejected"],
        unclaimed=counts["unclaimed"],
        silence=silence,
        # notes stay with their article; the totals would only repeat them
        usage_this_run=usage.model_dump(exclude={"notes"}),
        cost_usd_this_run=estimate_cost(model, usage),
    )


def _manifest(
    run: _Run,
    status: Literal["running", "interrupted", "complete"],
    totals: Totals,
    outputs: OutputsStamp | None = None,
) -> RunManifest:
    """The manifest without its article entries (``RunStore.write_manifest`` streams them in)."""
    plan = run.plan
    described = plan.backend.describe()
    return RunManifest(
        tool="polex",
        version=__version__,
        git_commit=run.commit,
        command=plan.command,
        status=status,
        started_at=run.started_at,
        finished_at=now() if status != "running" else None,
        backend={**described, "chosen_because": plan.backend_reason},
        settings_key=run.key,
        schemas={name: SchemaFingerprint(**f) for name, f in run.fingerprints.items()},
        totals=totals,
        articles=[],
        **({"outputs": outputs} if outputs is not None else {}),
    )


def run_sync(plan: RunPlan, on_article: ProgressHook | None = None) -> RunResult:
    return asyncio.run(execute(plan, on_article))
