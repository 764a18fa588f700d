"""The files a run writes, as typed models: the part of one finished article
(``parts/<id>.json``) and the run's manifest (``manifest.json``).

A part is checked against its model when a run resumes, so a damaged, truncated
or foreign file is reported and its article redone instead of trusted. Rows keep
the keys they were written with (``exclude_unset``), so the outputs rebuilt from
parts are the same bytes as the rows the pipeline made."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from polex.pipeline.silence import SilenceReport
from polex.pipeline.usage import Usage

Number = int | float  # kept as written: an int stays an int, a float a float


class _Strict(BaseModel):
    # NaN and infinities are written as Python's json module writes them, so a value
    # survives the trip through a part file unchanged.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, ser_json_inf_nan="constants")

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON object of this model, with the keys it was made with."""
        return self.model_dump(by_alias=True, exclude_unset=True)

    def to_json_text(self) -> str:
        """``to_json_dict`` as indented JSON text (serialised by pydantic, not by the
        slower pure-Python indenting encoder)."""
        return self.model_dump_json(indent=1, by_alias=True, exclude_unset=True) + "\n"


class FlagRow(_Strict):
    code: str
    message: str
    readings: list[Number] | None = None


class RecordRow(_Strict):
    """A grounded record, as in ``<Schema>.jsonl``."""

    article_id: str
    schema_name: str = Field(alias="schema")
    record: dict[str, Any]
    char_start: int
    char_end: int
    alignment: str
    flags: list[FlagRow]
    also_at: list[list[int]]
    confidence: Number | None


class RejectedRow(_Strict):
    """A record that failed validation, as in ``rejected.jsonl``."""

    article_id: str
    schema_name: str = Field(alias="schema")
    record: Any
    reasons: list[str]


class UnclaimedRow(_Strict):
    """A number of interest that no record claims (``unclaimed.jsonl`` adds the article id)."""

    text: str
    char_start: int
    char_end: int
    value: Number
    unit: str | None


class Part(_Strict):
    """Everything the run keeps of one article: its records, rejected records,
    unclaimed numbers and what it cost; ``failed`` with ``error`` saying why."""

    article_id: str
    source: str
    text_sha256: str
    encoding: str
    status: Literal["ok", "failed"]
    error: str | None
    schema_errors: dict[str, str]
    records: dict[str, list[RecordRow]]
    rejected: list[RejectedRow]
    unclaimed: list[UnclaimedRow]
    usage: Usage
    started: str | None
    finished: str
    numbers_of_interest: int = 0  # numbers a record could claim (the silence alarm's denominator)
    settings_key: str | None = None  # set by the runner when the part is saved


class SchemaFingerprint(_Strict):
    registry_name: str
    prompt: str
    prompt_sha256: str
    schema_sha256: str
    learned_model_sha256: str | None = None


class ArticleEntry(_Strict):
    """One article in the manifest: only ``id``, ``source`` and ``status`` for an
    input error (whose id is null when the input did not say, e.g. a malformed JSONL
    line); the part's summary once the article is done."""

    id: str | None
    source: str | None
    sha256: str | None = None
    encoding: str | None = None
    status: Literal["pending", "ok", "failed", "input_error"]
    error: str | None = None
    resumed: bool = False
    records: dict[str, int] = Field(default_factory=dict)
    rejected: int = 0
    unclaimed: int = 0
    numbers_of_interest: int = 0
    silent: bool = False  # most of its numbers of interest are claimed by no record
    usage: Usage | None = None
    started: str | None = None
    finished: str | None = None
    # When a part was found but not trusted (damaged, foreign, stale): why it was redone.
    part_redone_because: str | None = None


class Totals(_Strict):
    articles: int
    articles_ok: int
    articles_failed: int
    articles_resumed: int
    parts_redone: int  # parts found on resume but not trusted (see the articles' part_redone_because)
    records: dict[str, int]
    rejected: int
    unclaimed: int
    usage_this_run: dict[str, int | dict[str, int]]  # Usage's counts (repairs per kind), no notes
    cost_usd_this_run: float | None
    silence: SilenceReport | None = None
    seconds: float | None = None


class OutputsStamp(_Strict):
    """What the outputs were rebuilt from (``key``) and the sha256 of each file, so
    a re-run whose parts are all unchanged leaves intact outputs as they are."""

    key: str
    files: dict[str, str]


class RunManifest(_Strict):
    tool: str = "polex"
    version: str
    git_commit: str | None
    command: list[str]
    status: Literal["running", "interrupted", "complete"]
    started_at: str
    finished_at: str | None
    backend: dict[str, Any]
    settings_key: str
    schemas: dict[str, SchemaFingerprint]
    totals: Totals
    articles: list[ArticleEntry]
    outputs: OutputsStamp | None = None
    batch: dict[str, Any] | None = None  # the Batch API route's rounds and totals (pipeline/batch.py)


class ManifestHead(BaseModel):
    """The few fields a new run reads from the manifest already in its directory;
    anything else in the file (an older version's fields) is ignored."""

    settings_key: str
    backend: dict[str, Any]
    schemas: dict[str, Any]
    outputs: OutputsStamp | None = None
