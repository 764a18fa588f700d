"""Runs a batch: reads inputs, extracts every schema from every article with one
backend under bounded concurrency, grounds and checks the records, and writes the
run directory. Finished articles are skipped on a re-run with the same settings,
so a killed run resumes with the same command."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
from polex.pipeline.quantities import Mention
from polex.pipeline.records import Article, ArticleContext, GroundedRecord
from polex.pipeline.runstore import RunDirError, RunStore, UntrustedPart, atomic_write
from polex.pipeline.silence import is_silent, silence_report
from polex.pipeline.spec import SchemaSpec
from polex.pipeline.usage import Usage, current_usage
from polex.pipeline.workers import WorkerDied, WorkerPool, WorkerSetup

PART_FORMAT = 1
log = logging.getLogger("polex.runner")


@dataclass
class RunResult:
    run_dir: Path
    manifest: RunManifest
    outputs: dict[str, Path]
    interrupted: bool = False

    @property
    def failed(self) -> int:
        return self.manifest.totals.articles_failed


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


def settings_key(backend: Backend, specs: list[SchemaSpec]) -> str:
    """What a finished article's records depend on: a part made under another key
    is redone, never reused."""
    described = backend.describe()
    params = {
        k: v
        for k, v in described.get("parameters", {}).items()
        if k not in ("requests_per_minute", "tokens_per_minute", "timeout")
    }
    schemas = schema_fingerprints(specs)
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
    articles: list[Article]
    input_errors: list[InputProblem]
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


@dataclass
class _Done:
    """What the run keeps in memory of a finished article: its manifest entry and
    the sha256 of its part file (the records stay on disk until the export)."""

    entry: ArticleEntry
    digest: str


async def execute(plan: RunPlan, on_article: ProgressHook | None = None) -> RunResult:
    started = time.monotonic()
    store = RunStore(plan.out)
    store.prepare()
    with store.lock():
        return await _execute(plan, store, on_article, started)


async def _execute(
    plan: RunPlan, store: RunStore, on_article: ProgressHook | None, started: float
) -> RunResult:
    key = settings_key(plan.backend, plan.specs)
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
    started_at = now()
    done: dict[str, _Done] = {}
    redone: dict[str, str] = {}  # article id -> why its part was not trusted
    todo: list[Article] = []
    for article in plan.articles:
        found, problem = _resumable_part(store, article, key)
        if found is not None:
            part, digest = found
            done[article.id] = _Done(_entry(article, part, resumed=True), digest)
            if on_article:
                on_article(part)
            continue
        if problem:
            log.warning("%s: its part is not trusted (%s); the article is redone", article.id, problem)
            redone[article.id] = problem
        todo.append(article)

    manifest = _manifest(plan, key, started_at, done, redone, status="running")
    atomic_write(plan.out / "manifest.json", manifest.to_json_text())
    pool = WorkerPool(plan.workers) if plan.workers and plan.workers.count > 1 and todo else None
    # with workers: one article each, and one more waiting for the first to be free
    # (a worker never idles while this process is busy); the waiting article's time
    # limit runs from when it is handed over
    semaphore = asyncio.Semaphore(pool.setup.count + 1 if pool else max(1, plan.concurrency))

    async def one(article: Article) -> None:
        async with semaphore:
            try:
                work = pool.process(article) if pool else _process(article, plan)
                part = await asyncio.wait_for(work, plan.article_timeout)
            except TimeoutError:
                part = _timed_out(article, plan.article_timeout)
            except WorkerDied as exc:
                part = _part(article, error=f"{exc}; the batch went on")
        part.settings_key = key
        digest = store.write_part(part)
        done[article.id] = _Done(_entry(article, part, resumed=False), digest)
        if on_article:
            on_article(part)

    interrupted = False
    try:
        await asyncio.gather(*(one(a) for a in todo))
    except (asyncio.CancelledError, KeyboardInterrupt):
        interrupted = True
    finally:
        if pool:
            pool.close()
        await plan.backend.aclose()
    stamp, outputs = _export(plan, store, key, done, previous)
    manifest = _manifest(
        plan, key, started_at, done, redone, "interrupted" if interrupted else "complete", stamp
    )
    manifest.totals.seconds = round(time.monotonic() - started, 3)
    atomic_write(plan.out / "manifest.json", manifest.to_json_text())
    return RunResult(plan.out, manifest, outputs, interrupted)


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
    plan: RunPlan, store: RunStore, key: str, done: dict[str, _Done], previous: ManifestHead | None
) -> tuple[OutputsStamp, dict[str, Path]]:
    """Rebuild the outputs from the parts, streamed in article order; left as they
    are when they were made from the very same parts and are intact."""
    finished = [a.id for a in plan.articles if a.id in done]
    input_errors = [e.as_dict() for e in plan.input_errors]
    content = {
        "format": OUTPUTS_FORMAT,
        "version": __version__,
        "schemas": {s.name: list(s.model.model_fields) for s in plan.specs},
        "input_errors": input_errors,
        "parts": [[article_id, done[article_id].digest] for article_id in finished],
    }
    outputs_key = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    if (
        previous is not None
        and previous.outputs is not None
        and store.outputs_intact(previous.outputs, outputs_key)
    ):
        return previous.outputs, store.output_paths(plan.specs)
    files = store.write_outputs((store.trusted_part(i) for i in finished), plan.specs, input_errors)
    return OutputsStamp(key=outputs_key, files=files.digests), files.paths


def _entry(article: Article, part: Part, resumed: bool) -> ArticleEntry:
    return ArticleEntry(
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


def _manifest(
    plan: RunPlan,
    key: str,
    started_at: str,
    done: dict[str, _Done],
    redone: dict[str, str],
    status: Literal["running", "interrupted", "complete"],
    outputs: OutputsStamp | None = None,
) -> RunManifest:
    total = Usage()
    articles: list[ArticleEntry] = []
    for article in plan.articles:
        finished = done.get(article.id)
        if finished is None:
            entry = ArticleEntry(
                id=article.id,
                source=article.source,
                sha256=article.sha256,
                encoding=article.encoding,
                status="pending",
            )
        else:
            entry = finished.entry
            if not entry.resumed and entry.usage is not None:
                total.add(entry.usage)
        if article.id in redone:
            entry = entry.model_copy(update={"part_redone_because": redone[article.id]})
        articles.append(entry)
    for error in plan.input_errors:
        articles.append(
            ArticleEntry(id=error.article_id, source=error.source, status="input_error", error=error.message)
        )
    entries = [d.entry for d in done.values()]
    described = plan.backend.describe()
    return RunManifest(
        tool="polex",
        version=__version__,
        git_commit=git_commit(),
        command=plan.command,
        status=status,
        started_at=started_at,
        finished_at=now() if status != "running" else None,
        backend={**described, "chosen_because": plan.backend_reason},
        settings_key=key,
        schemas={name: SchemaFingerprint(**f) for name, f in schema_fingerprints(plan.specs).items()},
        totals=Totals(
            articles=len(plan.articles) + len(plan.input_errors),
            articles_ok=sum(1 for e in entries if e.status == "ok"),
            articles_failed=sum(1 for e in entries if e.status == "failed") + len(plan.input_errors),
            articles_resumed=sum(1 for e in entries if e.resumed),
            parts_redone=len(redone),
            records={s.name: sum(e.records.get(s.name, 0) for e in entries) for s in plan.specs},
            rejected=sum(e.rejected for e in entries),
            unclaimed=sum(e.unclaimed for e in entries),
            silence=silence_report(
                (e.id or "", e.numbers_of_interest, e.unclaimed) for e in entries if e.status == "ok"
            ),
            # notes stay with their article; the totals would only repeat them
            usage_this_run=total.model_dump(exclude={"notes"}),
            cost_usd_this_run=estimate_cost(described.get("model"), total),
        ),
        articles=articles,
        **({"outputs": outputs} if outputs is not None else {}),
    )


def run_sync(plan: RunPlan, on_article: ProgressHook | None = None) -> RunResult:
    return asyncio.run(execute(plan, on_article))
