"""Runs a batch: reads inputs, extracts every schema from every article with one
backend under bounded concurrency, grounds and checks the records, and writes the
run directory. Finished articles are skipped on a re-run with the same settings,
so a killed run resumes with the same command."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
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
from typing import Any

from pipeline import __version__
from pipeline.backends import Backend
from pipeline.grounding import apply_article_checks, deduplicate, ground
from pipeline.inputs import InputError
from pipeline.learning.model import file_sha256
from pipeline.quantities import Mention
from pipeline.records import Article, ArticleContext, GroundedRecord
from pipeline.runstore import RunDirError, RunStore, write_json
from pipeline.silence import is_silent, silence_report
from pipeline.spec import SchemaSpec
from pipeline.usage import Usage, current_usage

PART_FORMAT = 1
# Generous: the offline backend takes well under a second per article; an LLM article
# that takes longer than this is stuck, not slow.
DEFAULT_ARTICLE_TIMEOUT = 1800.0


@dataclass
class RunResult:
    run_dir: Path
    manifest: dict[str, Any]
    outputs: dict[str, Path]
    interrupted: bool = False

    @property
    def failed(self) -> int:
        return int(self.manifest["totals"]["articles_failed"])


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


async def process_article(article: Article, specs: list[SchemaSpec], backend: Backend) -> dict[str, Any]:
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
    ) | {"numbers_of_interest": numbers_of_interest(ctx, specs)}


def _part(
    article: Article,
    error: str | None,
    schema_errors: dict[str, str] | None = None,
    records: dict[str, list[dict[str, Any]]] | None = None,
    rejected: list[dict[str, Any]] | None = None,
    unclaimed: list[dict[str, Any]] | None = None,
    usage: Usage | None = None,
    started: str | None = None,
) -> dict[str, Any]:
    """The part file of one article: failed when ``error`` says why."""
    return {
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
        "usage": (usage or Usage()).as_dict(),
        "started": started,
        "finished": now(),
    }


async def _process(article: Article, plan: RunPlan) -> dict[str, Any]:
    """One article; a backend that computes without awaiting (offline) runs in a
    daemon thread, so that the article's time limit can give up on it."""
    work = process_article(article, plan.specs, plan.backend)
    if not getattr(plan.backend, "blocks_event_loop", False):
        return await work
    return await _in_daemon_thread(lambda: asyncio.run(work))


async def _in_daemon_thread(function: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``function()`` in a daemon thread: unlike ``asyncio.to_thread``, a thread given
    up on at the time limit never keeps the process from exiting."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[dict[str, Any]] = loop.create_future()

    def settle(result: dict[str, Any] | None, error: BaseException | None) -> None:
        if not future.done():
            future.set_exception(error) if error else future.set_result(result or {})

    def work() -> None:
        try:
            result, error = function(), None
        except BaseException as exc:  # handed to the awaiting task, which re-raises it
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the run has ended meanwhile
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, daemon=True, name="polex-article").start()
    return await future


def _timed_out(article: Article, seconds: float | None) -> dict[str, Any]:
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
    raw = tomllib.loads(resources.files("pipeline").joinpath("data/prices.toml").read_text("utf-8"))
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
    input_errors: list[InputError]
    specs: list[SchemaSpec]
    backend: Backend
    out: Path
    backend_reason: str = ""
    concurrency: int = 8
    command: list[str] = field(default_factory=lambda: list(sys.argv))
    force: bool = False  # replace a run with other settings held in ``out``
    article_timeout: float | None = DEFAULT_ARTICLE_TIMEOUT  # seconds; None: no limit


ProgressHook = Callable[[dict[str, Any]], None]


async def execute(plan: RunPlan, on_article: ProgressHook | None = None) -> RunResult:
    store = RunStore(plan.out)
    store.prepare()
    with store.lock():
        return await _execute(plan, store, on_article)


async def _execute(plan: RunPlan, store: RunStore, on_article: ProgressHook | None) -> RunResult:
    key = settings_key(plan.backend, plan.specs)
    previous = store.previous_settings()
    if previous and previous[0] != key:
        if not plan.force:
            raise RunDirError(
                f"{plan.out} holds a run with other settings ({previous[1]}); "
                "resume it with its own settings, choose another --out, or add --force to replace it"
            )
        store.clear()
    started_at = now()
    parts: dict[str, dict[str, Any]] = {}
    todo: list[Article] = []
    for article in plan.articles:
        part = store.read_part(article.id)
        if (
            part
            and part.get("settings_key") == key
            and part.get("text_sha256") == article.sha256
            and part.get("status") == "ok"
        ):
            part["resumed"] = True
            parts[article.id] = part
            if on_article:
                on_article(part)
        else:
            todo.append(article)

    manifest = _manifest(plan, key, started_at, parts, status="running")
    write_json(plan.out / "manifest.json", manifest)
    semaphore = asyncio.Semaphore(max(1, plan.concurrency))

    async def one(article: Article) -> None:
        async with semaphore:
            try:
                part = await asyncio.wait_for(_process(article, plan), plan.article_timeout)
            except TimeoutError:
                part = _timed_out(article, plan.article_timeout)
        part["settings_key"] = key
        store.write_part(part)
        parts[article.id] = part
        if on_article:
            on_article(part)

    interrupted = False
    try:
        await asyncio.gather(*(one(a) for a in todo))
    except (asyncio.CancelledError, KeyboardInterrupt):
        interrupted = True
    finally:
        await plan.backend.aclose()
    ordered = [parts[a.id] for a in plan.articles if a.id in parts]
    outputs = store.write_outputs(ordered, plan.specs, [e.as_dict() for e in plan.input_errors])
    manifest = _manifest(plan, key, started_at, parts, status="interrupted" if interrupted else "complete")
    write_json(plan.out / "manifest.json", manifest)
    return RunResult(plan.out, manifest, outputs, interrupted)


def _manifest(
    plan: RunPlan, key: str, started_at: str, parts: dict[str, dict[str, Any]], status: str
) -> dict[str, Any]:
    total = Usage()
    articles: list[dict[str, Any]] = []
    for article in plan.articles:
        part = parts.get(article.id)
        entry: dict[str, Any] = {
            "id": article.id,
            "source": article.source,
            "sha256": article.sha256,
            "encoding": article.encoding,
            "status": "pending",
        }
        if part:
            usage = Usage(**{k: v for k, v in part["usage"].items() if k != "total_tokens"})
            if not part.get("resumed"):
                total.add(usage)
            entry.update(
                status=part["status"],
                error=part.get("error"),
                resumed=bool(part.get("resumed")),
                records={k: len(v) for k, v in part.get("records", {}).items()},
                rejected=len(part.get("rejected", [])),
                unclaimed=len(part.get("unclaimed", [])),
                silent=is_silent(part.get("numbers_of_interest", 0), len(part.get("unclaimed", []))),
                usage=part["usage"],
                started=part.get("started"),
                finished=part.get("finished"),
            )
        articles.append(entry)
    for error in plan.input_errors:
        articles.append(
            {"id": error.article_id, "source": error.source, "status": "input_error", "error": error.message}
        )
    described = plan.backend.describe()
    counts = {
        s.name: sum(len(p.get("records", {}).get(s.name, [])) for p in parts.values()) for s in plan.specs
    }
    return {
        "tool": "polex",
        "version": __version__,
        "git_commit": git_commit(),
        "command": plan.command,
        "status": status,
        "started_at": started_at,
        "finished_at": now() if status != "running" else None,
        "backend": {**described, "chosen_because": plan.backend_reason},
        "settings_key": key,
        "schemas": schema_fingerprints(plan.specs),
        "totals": {
            "articles": len(plan.articles) + len(plan.input_errors),
            "articles_ok": sum(1 for p in parts.values() if p["status"] == "ok"),
            "articles_failed": sum(1 for p in parts.values() if p["status"] == "failed")
            + len(plan.input_errors),
            "articles_resumed": sum(1 for p in parts.values() if p.get("resumed")),
            "records": counts,
            "rejected": sum(len(p.get("rejected", [])) for p in parts.values()),
            "unclaimed": sum(len(p.get("unclaimed", [])) for p in parts.values()),
            "silence": silence_report(parts.values()).model_dump(),
            # notes stay with their article; the totals would only repeat them
            "usage_this_run": {k: v for k, v in total.as_dict().items() if k != "notes"},
            "cost_usd_this_run": estimate_cost(described.get("model"), total),
        },
        "articles": articles,
    }


def run_sync(plan: RunPlan, on_article: ProgressHook | None = None) -> RunResult:
    started = time.monotonic()
    result = asyncio.run(execute(plan, on_article))
    result.manifest["totals"]["seconds"] = round(time.monotonic() - started, 3)
    write_json(plan.out / "manifest.json", result.manifest)
    return result
