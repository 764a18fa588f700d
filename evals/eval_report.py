"""The evaluation report (`polex eval` writes it as RUN_DIR/eval.json) as typed
models: built by the harness, written with ``model_dump_json``, and validated when
read back (a baseline, a report given to a script), so a foreign or corrupt file is
a clear error naming it rather than a KeyError later."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from polex.evals.loading import EvalInputError

HIGH_CONFIDENCE = 0.9


class Strict(BaseModel):
    """Every part of the report: an unknown key means the file is not ours."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PRF(Strict):
    precision: float
    recall: float
    f1: float


class LevelScores(Strict):
    macro: PRF
    micro: PRF


class RecordScores(Strict):
    """Whole-record scores: lenient (the key fields right) and strict (every field)."""

    lenient: LevelScores
    strict: LevelScores

    def level(self, name: str) -> LevelScores:
        return self.lenient if name == "lenient" else self.strict


class LevelIntervals(Strict):
    """95% bootstrap intervals [low, high] over articles (evals/bootstrap.py)."""

    macro_f1: list[float] = Field(min_length=2, max_length=2)
    micro_f1: list[float] = Field(min_length=2, max_length=2)


class Intervals(Strict):
    lenient: LevelIntervals
    strict: LevelIntervals

    def level(self, name: str) -> LevelIntervals:
        return self.lenient if name == "lenient" else self.strict


class FieldScores(Strict):
    correct: int
    incorrect: int
    missing: int
    spurious: int
    precision: float
    recall: float
    f1: float


class Muc(Strict):
    correct: int
    incorrect: int
    missing: int
    spurious: int
    undergeneration: float
    overgeneration: float
    substitution: float


class ScoreSummary(Strict):
    """The scores of one schema over a set of articles (polex.evals.scoring.summarise)."""

    records: RecordScores
    intervals_95: Intervals
    fields: dict[str, FieldScores]
    muc: Muc
    n_articles: int
    n_gold: int
    n_pred: int
    # per-article F1 of the set of values of each of the schema's set fields
    set_f1: dict[str, float] = Field(default_factory=dict)


class ArticleRow(Strict):
    article_id: str
    status: str
    n_gold: int
    n_pred: int
    lenient: PRF
    strict: PRF


class Grounding(Strict):
    kept: int
    rejected: int
    grounding_rate: float
    exact_alignment: int
    normalised_alignment: int
    flagged: int


class ConfidenceBin(Strict):
    bin: str
    records: int
    mean_confidence: float
    precision: float


class Calibration(Strict):
    """Reliability of the records' ``confidence`` (no bins when no record has one)."""

    records: int
    bins: list[ConfidenceBin] = Field(default_factory=list)
    ece: float | None = None
    records_at_high: int | None = Field(default=None, alias=f"records_at_{HIGH_CONFIDENCE}")
    precision_at_high: float | None = Field(default=None, alias=f"precision_at_{HIGH_CONFIDENCE}")


class SchemaReport(ScoreSummary):
    articles: list[ArticleRow]
    grounding: Grounding
    calibration: Calibration


class GroupSchemaReport(Strict):
    n_articles: int
    n_gold: int
    n_pred: int
    records: RecordScores
    intervals_95: Intervals
    fields_f1: dict[str, float]
    calibration: Calibration
    subset_f1: dict[str, float]
    set_f1: dict[str, float]


class GroupReport(Strict):
    articles: int
    schemas: dict[str, GroupSchemaReport]


class PairRow(Strict):
    """One pairing of the one-to-one match: a gold and a predicted record, or one
    left alone (missing or spurious), with the verdict of each field."""

    article_id: str
    gold_index: int | None
    pred_index: int | None
    similarity: float
    lenient: bool
    strict: bool
    fields: dict[str, str]
    gold: dict[str, Any] | None
    pred: dict[str, Any] | None


class EvalReport(Strict):
    run: str
    gold: str
    scorer_version: int
    created: str
    backend: dict[str, Any]
    articles_scored: list[str]
    articles_missing_from_run: list[str]
    articles_without_gold: list[str]
    evidence_compared_as: str
    headline: dict[str, float]
    schemas: dict[str, SchemaReport]
    groups: dict[str, GroupReport]
    pairs: dict[str, list[PairRow]]

    def to_json(self) -> str:
        return self.model_dump_json(indent=1, by_alias=True) + "\n"


class Baseline(BaseModel):
    """What a gate compares with: any JSON with a ``headline`` of figures (the
    committed evals/baseline.json, or another run's eval.json)."""

    description: str = ""
    headline: dict[str, float]

    def to_json(self) -> str:
        return self.model_dump_json(indent=1) + "\n"


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalInputError(f"{path}: cannot be read ({exc})") from exc


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "the top level"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def load_eval_report(path: Path) -> EvalReport:
    """An eval.json written by `polex eval`, validated."""
    try:
        return EvalReport.model_validate_json(_read(path))
    except ValidationError as exc:
        raise EvalInputError(f"{path} is not a polex evaluation report: {_problem(exc)}") from exc


def load_baseline(path: Path) -> Baseline:
    """A baseline (evals/baseline.json or an eval.json), validated."""
    try:
        return Baseline.model_validate_json(_read(path))
    except ValidationError as exc:
        problem = _problem(exc)
        raise EvalInputError(f"{path} is not a baseline (a JSON object with a headline): {problem}") from exc
