"""The state of a Batch API run, kept in RUN_DIR/batch/state.json: the options the
run was submitted with (so that `collect` runs the very same pipeline), and its
rounds, each with its request files and, once uploaded, their file and batch ids.
Every change is saved atomically before the next step, so a command killed at any
point is picked up by running it again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from polex.pipeline import defaults
from polex.pipeline.backends import LLMSettings
from polex.pipeline.runstore import write_json
from polex.pipeline.transport import RetryPolicy

# The provider's batch statuses after which nothing more will happen to a batch.
FINISHED_STATUSES = frozenset({"completed", "expired", "cancelled", "failed"})


class BatchError(Exception):
    """A batch step cannot go on; the message says why and what to do."""


class BatchOptions(BaseModel):
    """What `polex batch submit` was given; `collect` runs the pipeline with the same."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[str]  # absolute paths
    schemas: list[str]
    schema_dirs: list[str]
    max_bytes: int
    model: str
    base_url: str | None
    mode: str
    # free or a mention-first strategy (the backend builds the mention prompts from the
    # offline pass at each pass); "free" for a run submitted before batches had one
    strategy: str = "free"
    temperature: float
    seed: int | None
    max_tokens: int
    max_reasks: int
    chunk_chars: int
    cache_dir: str | None  # the response cache answers are also written to; None: --no-cache
    timeout: float
    retries: int

    def llm_settings(self) -> LLMSettings:
        return LLMSettings(
            model=self.model,
            base_url=self.base_url,
            mode=self.mode,
            strategy=self.strategy,
            temperature=self.temperature,
            seed=self.seed,
            max_tokens=self.max_tokens,
            max_reasks=self.max_reasks,
            timeout=self.timeout,
            chunk_chars=self.chunk_chars,
            cache_dir=Path(self.cache_dir) if self.cache_dir else None,
            retry=RetryPolicy(attempts=self.retries),
        )


class ShardLimits(BaseModel):
    """Most requests and bytes in one request file (the OpenAI Batch API's limits)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_requests: int = Field(default=defaults.BATCH_MAX_REQUESTS_PER_FILE, ge=1)
    max_bytes: int = Field(default=defaults.BATCH_MAX_BYTES_PER_FILE, ge=1)


class Shard(BaseModel):
    """One request file of a round and what became of it at the provider."""

    model_config = ConfigDict(extra="forbid")

    index: int
    path: str  # relative to the run directory
    requests: int
    bytes: int
    sha256: str
    file_id: str | None = None
    batch_id: str | None = None
    status: str | None = None  # the provider's batch status, as last seen
    completed: int = 0
    failed: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[str] = Field(default_factory=list)  # why the provider failed the batch
    downloaded: list[str] = Field(default_factory=list)  # its result files, relative to the run dir

    @property
    def sent(self) -> bool:
        return self.batch_id is not None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class Round(BaseModel):
    """The requests one pass of the pipeline could not answer, sent together."""

    model_config = ConfigDict(extra="forbid")

    number: int
    created_at: int  # unix seconds; bounds the search for batches created before a kill
    shards: list[Shard]
    input_tokens_estimate: int  # request body bytes / 4, the transport's own estimate
    given_results: list[str] = Field(default_factory=list)  # files passed with --results
    collected: bool = False
    answered: int = 0  # requests of this round answered when it was collected
    unanswered: int = 0  # expired, cancelled, failed or retryable errors: sent again next round

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.shards)

    @property
    def sent(self) -> bool:
        return all(s.sent for s in self.shards)

    def directory(self) -> str:
        return f"batch/round-{self.number:03d}"


class BatchState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal[1] = 1  # bumped when this file changes incompatibly
    run_id: str  # names the uploaded files and tags the batches of this run
    upload: bool  # False: request files are written for `vllm run-batch` and collected with --results
    limits: ShardLimits
    options: BatchOptions
    rounds: list[Round] = Field(default_factory=list)
    complete: bool = False  # the last pass left no request unanswered
    # The next pass may replace parts made under other settings: `submit --force` over
    # another run, or --max-reasks changed at collect (redone from the answers held).
    replace_parts: bool = False

    @property
    def current(self) -> Round | None:
        return self.rounds[-1] if self.rounds else None


def state_path(run_dir: Path) -> Path:
    return run_dir / "batch" / "state.json"


def load_state(run_dir: Path) -> BatchState | None:
    path = state_path(run_dir)
    if not path.is_file():
        return None
    try:
        return BatchState.model_validate(json.loads(path.read_text("utf-8")))
    except (OSError, ValueError, ValidationError) as exc:
        raise BatchError(f"{path} is not a readable batch state: {exc}") from exc


def save_state(run_dir: Path, state: BatchState) -> None:
    write_json(state_path(run_dir), state.model_dump(mode="json"))
