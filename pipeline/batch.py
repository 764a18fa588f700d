"""The Batch API route: `polex batch submit`, `status` and `collect`.

Each pass runs the normal online pipeline (polex.pipeline.runner) over every article with
``BatchTransport`` at the bottom of the transport stack: requests whose answer has
been collected are answered from RUN_DIR/batch/answers, the others are written to
the next round's request files and their articles wait. ``collect`` stores the
answers of a finished round and runs a pass: articles whose requests are all
answered finish exactly as online (grounding, checks, instructor's reasks); what
they still need (a reask of an answer that failed validation, the next chunk of a
long article, a request that expired) becomes the next round. When a pass leaves
nothing unanswered the run directory is the one an online run writes.

Every step saves its state before the next, and uploads and batch creation look
for what a killed command already made, so any command can be repeated."""

from __future__ import annotations

import fcntl
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polex.pipeline.backends.openai_compat import OpenAICompatBackend
from polex.pipeline.batch_files import RequestSpool, read_request_ids, read_results, write_shards
from polex.pipeline.batch_provider import Provider
from polex.pipeline.batch_state import (
    BatchError,
    BatchOptions,
    BatchState,
    Round,
    ShardLimits,
    load_state,
    save_state,
)
from polex.pipeline.batch_transport import BatchTransport
from polex.pipeline.inputs import InputError, read_inputs
from polex.pipeline.registry import SchemaError, select
from polex.pipeline.runner import RunPlan, estimate_cost, run_sync
from polex.pipeline.runstore import RunDirError, write_json
from polex.pipeline.transport import ResponseStore
from polex.pipeline.usage import Usage

BATCH_PRICE_FACTOR = 0.5  # the Batch API bills half the list price
Say = Callable[[str], None]
ProviderFactory = Callable[[BatchOptions], Provider]


def default_provider(options: BatchOptions) -> Provider:
    return Provider(options.base_url, options.timeout, options.retries)


@dataclass
class Outcome:
    """Where a batch run stands after a command."""

    complete: bool = False  # nothing left to ask: the run directory is final
    waiting: bool = False  # batches are running, or a round waits to be run
    failed_batches: list[str] = field(default_factory=list)  # the provider's reasons


class BatchRun:
    def __init__(self, run_dir: Path, say: Say, provider: ProviderFactory = default_provider) -> None:
        self.run_dir = run_dir
        self.say = say
        self._provider_factory = provider
        self._provider: Provider | None = None
        self.answers = ResponseStore(run_dir / "batch" / "answers")

    # ---- the three commands ------------------------------------------------------

    def submit(
        self, options: BatchOptions, upload: bool, limits: ShardLimits, force: bool = False
    ) -> Outcome:
        """``force``: replace a run of other settings already in the run directory."""
        with self._lock(create=True):
            state = load_state(self.run_dir)
            if state is None:
                state = BatchState(
                    run_id=uuid.uuid4().hex[:12],
                    upload=upload,
                    limits=limits,
                    options=options,
                    replace_parts=force,
                )
            elif state.options != options:
                changed = sorted(
                    name
                    for name in BatchOptions.model_fields
                    if getattr(state.options, name) != getattr(options, name)
                )
                raise BatchError(
                    f"{self.run_dir} holds a batch run submitted with other options ({', '.join(changed)}); "
                    f"continue it with `polex batch collect {self.run_dir}`, or choose another --out"
                )
            state.limits = limits  # for rounds written from now on
            state.upload = state.upload or upload  # files written with --no-upload may be uploaded later
            save_state(self.run_dir, state)
            if state.complete:
                self.say("this batch run is complete: nothing to submit")
                return Outcome(complete=True)
            current = state.current
            if current is None:
                spool = self._pass(state)
                if not len(spool):
                    return self._finish(state)
                current = self._new_round(state, spool)
            elif current.collected:
                self.say(
                    f"round {current.number} is collected; continue with `polex batch collect {self.run_dir}`"
                )
                return Outcome(waiting=True)
            return self._dispatch(state, current)

    def status(self) -> BatchState:
        """The state, with the latest round's batches looked up at the provider."""
        with self._lock(create=False):
            state = self._load()
            current = state.current
            if current is not None and state.upload and not current.collected:
                self._refresh(state, current)
            return state

    def collect(self, results: list[Path], max_reasks: int | None) -> Outcome:
        with self._lock(create=False):
            state = self._load()
            if max_reasks is not None and max_reasks != state.options.max_reasks:
                state.options.max_reasks = max_reasks
                state.replace_parts = True
                state.complete = False
                save_state(self.run_dir, state)
            outcome = Outcome()
            current = state.current
            if results:
                self._ingest_given(state, results)
            elif current is not None and not current.collected:
                if not state.upload:
                    raise BatchError(
                        f"round {current.number}'s request files were written for a local runner and not "
                        f"uploaded: run them (see {self.run_dir / current.directory()}) and collect with "
                        "--results FILE, or upload them with `polex batch submit` and the same options"
                    )
                if not current.sent:
                    return self._dispatch(state, current)
                self._refresh(state, current)
                running = [s for s in current.shards if not s.finished]
                if running:
                    self._say_progress(current)
                    self.say("not finished yet: run the same command later")
                    return Outcome(waiting=True)
                outcome.failed_batches = self._download(state, current)
                self._mark_collected(state, current)
            elif state.complete:
                self.say("this batch run is complete: nothing to collect")
                return Outcome(complete=True)
            spool = self._pass(state)
            if not len(spool):
                finished = self._finish(state)
                finished.failed_batches = outcome.failed_batches
                return finished
            after = self._dispatch(state, self._new_round(state, spool))
            after.failed_batches = outcome.failed_batches
            return after

    # ---- steps ---------------------------------------------------------------------

    @contextmanager
    def _lock(self, create: bool) -> Iterator[None]:
        """One batch command at a time on a run directory; only submit creates one."""
        directory = self.run_dir / "batch"
        if not create and not directory.is_dir():
            raise self._no_batch_run()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            handle = open(directory / ".lock", "a+")  # noqa: SIM115 - closed below, releasing the lock
        except OSError as exc:
            raise BatchError(f"cannot use {directory}: {exc.strerror or exc}") from exc
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise BatchError(
                    f"another polex batch command is working on {self.run_dir}; wait for it to end"
                ) from exc
            yield

    def _no_batch_run(self) -> BatchError:
        return BatchError(
            f"{self.run_dir} holds no batch run (no batch/state.json); start one with `polex batch submit`"
        )

    def _load(self) -> BatchState:
        state = load_state(self.run_dir)
        if state is None:
            raise self._no_batch_run()
        return state

    def _pass(self, state: BatchState) -> RequestSpool:
        """Run the pipeline over every article; return the requests still unanswered."""
        options = state.options
        try:
            specs = select(options.schemas, [Path(d) for d in options.schema_dirs])
            articles, input_errors = read_inputs(
                [Path(p) for p in options.inputs], options.max_bytes, exclude=self.run_dir
            )
        except (SchemaError, InputError) as exc:
            raise BatchError(str(exc)) from exc
        spool = RequestSpool(self.run_dir / "batch" / "unanswered.spool")
        transport = BatchTransport(self.answers, namespace="", spool=spool)
        backend = OpenAICompatBackend(options.llm_settings(), transport)
        transport.namespace = backend.cache_namespace()
        plan = RunPlan(
            articles,
            input_errors,
            specs,
            backend,
            self.run_dir,
            backend_reason="the Batch API route (polex batch)",
            force=state.replace_parts,
        )
        try:
            result = run_sync(plan)
        except RunDirError as exc:
            raise BatchError(str(exc)) from exc
        finally:
            spool.close()
        if result.interrupted:
            raise BatchError("interrupted before every article was passed; run the same command again")
        if state.replace_parts:
            state.replace_parts = False
            save_state(self.run_dir, state)
        unfinished = sum(1 for a in result.manifest.articles if a.status == "failed")
        self.say(
            f"pass over {len(articles)} article(s): {result.manifest.totals.articles_ok} finished, "
            f"{len(spool)} request(s) still to ask"
            + (f" ({unfinished} article(s) not finished)" if len(spool) else "")
        )
        return spool

    def _new_round(self, state: BatchState, spool: RequestSpool) -> Round:
        number = len(state.rounds) + 1
        created = Round(number=number, created_at=int(time.time()), shards=[], input_tokens_estimate=0)
        directory = self.run_dir / created.directory()
        created.shards = write_shards(spool.lines(), directory, self.run_dir, state.limits)
        created.input_tokens_estimate = spool.body_bytes // 4
        state.rounds.append(created)
        save_state(self.run_dir, state)
        spool.discard()
        return created

    def _dispatch(self, state: BatchState, current: Round) -> Outcome:
        """Announce a round with its estimated cost, then upload it (or say how to run it locally)."""
        self._announce(state, current)
        if not state.upload:
            files = " ".join(str(self.run_dir / s.path) for s in current.shards)
            self.say(
                f"request files written, not uploaded: {files}\nrun each with `vllm run-batch -i FILE -o "
                f"RESULTS --model {state.options.model}`, then `polex batch collect {self.run_dir} "
                "--results RESULTS` (one --results per file)"
            )
            self._record_in_manifest(state)
            return Outcome(waiting=True)
        if current.sent:
            self.say(f"round {current.number} was already submitted; nothing sent again")
        else:
            self._send(state, current)
        self._say_progress(current)
        self._record_in_manifest(state)
        return Outcome(waiting=True)

    def _announce(self, state: BatchState, current: Round) -> None:
        options = state.options
        upper_output = current.requests * options.max_tokens
        cost_in = estimate_cost(options.model, Usage(prompt_tokens=current.input_tokens_estimate))
        cost_out = estimate_cost(options.model, Usage(completion_tokens=upper_output))
        size = sum(s.bytes for s in current.shards)
        self.say(
            f"round {current.number}: {current.requests} request(s) in {len(current.shards)} file(s) "
            f"({size / 1e6:.2f} MB), about {current.input_tokens_estimate} input tokens (request bytes / 4)"
        )
        if cost_in is None or cost_out is None:
            self.say(f"estimated cost: unknown for model {options.model} (not in pipeline/data/prices.toml)")
        else:
            self.say(
                f"estimated cost at the Batch API's half price for {options.model}: "
                f"${cost_in * BATCH_PRICE_FACTOR:.4f} input + at most ${cost_out * BATCH_PRICE_FACTOR:.4f} "
                f"output (if every answer used max_tokens={options.max_tokens})"
            )

    def _provider_for(self, state: BatchState) -> Provider:
        if self._provider is None:
            self._provider = self._provider_factory(state.options)
        return self._provider

    def _send(self, state: BatchState, current: Round) -> None:
        provider = self._provider_for(state)
        for shard in current.shards:
            if shard.file_id is None:
                name = (
                    f"polex-{state.run_id}-r{current.number:03d}-{shard.index:03d}-{shard.sha256[:12]}.jsonl"
                )
                shard.file_id = provider.upload(self.run_dir / shard.path, name, current.created_at)
                save_state(self.run_dir, state)
            if shard.batch_id is None:
                metadata = {
                    "polex_run": state.run_id,
                    "polex_request_file": f"{current.number}-{shard.index}-{shard.sha256[:12]}",
                }
                batch = provider.create_batch(shard.file_id, metadata, current.created_at)
                shard.batch_id, shard.status = batch.id, batch.status
                save_state(self.run_dir, state)

    def _refresh(self, state: BatchState, current: Round) -> None:
        provider = self._provider_for(state)
        for shard in current.shards:
            if shard.batch_id is None or shard.finished:
                continue
            batch = provider.retrieve(shard.batch_id)
            shard.status = batch.status
            if batch.request_counts is not None:
                shard.completed, shard.failed = batch.request_counts.completed, batch.request_counts.failed
            shard.output_file_id, shard.error_file_id = batch.output_file_id, batch.error_file_id
            if batch.errors is not None and batch.errors.data:
                shard.errors = [f"{e.code}: {e.message}" for e in batch.errors.data]
        save_state(self.run_dir, state)

    def _say_progress(self, current: Round) -> None:
        for shard in current.shards:
            self.say(
                f"round {current.number} file {shard.index}: batch {shard.batch_id} {shard.status}, "
                f"{shard.completed} done / {shard.failed} failed of {shard.requests}"
            )

    def _download(self, state: BatchState, current: Round) -> list[str]:
        """Fetch and store the results of a round whose batches have all ended;
        returns why any batch failed."""
        provider = self._provider_for(state)
        known = self._request_ids(state)
        failures: list[str] = []
        for shard in current.shards:
            if shard.status == "failed":
                reasons = "; ".join(shard.errors) or "no reason given"
                failures.append(
                    f"batch {shard.batch_id} (round {current.number} file {shard.index}): {reasons}"
                )
            for kind, file_id in (("output", shard.output_file_id), ("errors", shard.error_file_id)):
                relative = f"{current.directory()}/results/{shard.batch_id}-{kind}.jsonl"
                if file_id is None or relative in shard.downloaded:
                    continue
                provider.download(file_id, self.run_dir / relative)
                self._store_answers(self.run_dir / relative, known)
                shard.downloaded.append(relative)
                save_state(self.run_dir, state)
        return failures

    def _ingest_given(self, state: BatchState, results: list[Path]) -> None:
        known = self._request_ids(state)
        for path in results:
            self._store_answers(path, known)
        current = state.current
        if current is not None and not current.collected:
            current.given_results.extend(str(p.resolve()) for p in results)
            self._mark_collected(state, current)

    def _store_answers(self, path: Path, known: set[str]) -> None:
        """Keep the answers of a result file. The file is checked whole first: one
        with a line that is not a result, or a request this run never made, changes nothing."""
        strangers = [r.custom_id for r in read_results(path) if r.custom_id not in known]
        if strangers:
            raise BatchError(
                f"{path}: {len(strangers)} result(s) for requests this run never made (first: "
                f"{strangers[0][:40]}); is it the result file of another run?"
            )
        unanswered: Counter[str] = Counter()
        for result in read_results(path):
            answer = result.answer()
            if answer is None:
                unanswered[result.reason()] += 1
            elif self.answers.get(result.custom_id) is None:
                self.answers.put(result.custom_id, answer)
        if unanswered:
            reasons = ", ".join(f"{count} {reason}" for reason, count in unanswered.most_common())
            self.say(
                f"{path.name}: no answer for {sum(unanswered.values())} request(s) ({reasons}); asked again"
            )

    def _request_ids(self, state: BatchState) -> set[str]:
        return {key for r in state.rounds for key in read_request_ids(self.run_dir / r.directory())}

    def _mark_collected(self, state: BatchState, current: Round) -> None:
        ids = read_request_ids(self.run_dir / current.directory())
        current.answered = sum(1 for key in ids if self.answers.get(key) is not None)
        current.unanswered = len(ids) - current.answered
        current.collected = True
        save_state(self.run_dir, state)

    def _finish(self, state: BatchState) -> Outcome:
        state.complete = True
        save_state(self.run_dir, state)
        self._record_in_manifest(state)
        self.say("every request is answered: the run directory is complete")
        return Outcome(complete=True)

    # ---- accounting ------------------------------------------------------------

    def answered_usage(self) -> tuple[int, Usage]:
        """The answers this run holds and their tokens; each answer is one file keyed
        by its request, so nothing is counted twice however often a step ran."""
        usage = Usage()
        count = 0
        for path in sorted((self.run_dir / "batch" / "answers").glob("*/*.json")):
            entry = self.answers.get(path.stem)
            if entry is None or entry.get("status") != 200:
                continue
            count += 1
            usage.count_tokens(entry["body"])
        return count, usage

    def summary(self, state: BatchState) -> dict[str, Any]:
        answered, usage = self.answered_usage()
        cost = estimate_cost(state.options.model, usage)
        return {
            "state": "batch/state.json",
            "route": "provider Batch API" if state.upload else "local request files (--results)",
            "complete": state.complete,
            "rounds": [
                {
                    "round": r.number,
                    "requests": r.requests,
                    "batch_ids": [s.batch_id for s in r.shards if s.batch_id],
                    "collected": r.collected,
                    "answered": r.answered,
                    "unanswered": r.unanswered,
                }
                for r in state.rounds
            ],
            "requests_answered": answered,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cost_usd_estimate": None if cost is None else round(cost * BATCH_PRICE_FACTOR, 6),
        }

    def _record_in_manifest(self, state: BatchState) -> None:
        path = self.run_dir / "manifest.json"
        try:
            manifest = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            return  # no pass has written it yet
        manifest["batch"] = self.summary(state)
        write_json(path, manifest)
