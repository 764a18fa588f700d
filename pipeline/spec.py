"""What a schema declares to plug into the pipeline: its model, prompt, checks,
offline rules and how it is scored. The pipeline and the harness read only this,
so a new record type needs no change to either."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from polex.pipeline.records import ArticleContext, Finding

if TYPE_CHECKING:
    from polex.pipeline.learning.candidates import Candidate
    from polex.pipeline.learning.lexicon import Lexicon

FieldMatch = Literal["exact", "numeric", "text", "set", "span", "region", "period"]

# A check looks at one record inside its article and its evidence span.
Check = Callable[[BaseModel, ArticleContext, tuple[int, int]], list[Finding]]
# An article-level check sees all kept records of one schema at once (consistency).
ArticleCheck = Callable[[list[dict[str, Any]], ArticleContext], list[list[Finding]]]
# Offline rules return records, or (record, offset) pairs when they know where
# their evidence starts (so repeated identical clauses land on their own spans).
OfflineExtractor = Callable[[ArticleContext], Sequence[BaseModel | tuple[BaseModel, int]]]


@dataclass(frozen=True)
class FieldScore:
    """How one field is compared between a predicted and a gold record.

    ``match``: exact (after case/space normalisation), numeric (relative
    ``tolerance``), text (token F1 >= ``threshold`` counts as correct), set (Jaccard
    >= ``threshold``), span (evidence overlap), region and period (normalised
    exact). ``key`` fields decide the lenient record match."""

    name: str
    match: FieldMatch = "exact"
    weight: float = 1.0
    key: bool = False
    tolerance: float = 1e-6
    threshold: float = 0.5


@dataclass(frozen=True)
class Scoring:
    fields: tuple[FieldScore, ...]
    # Pairs below this weighted similarity are never matched (the gate that keeps
    # unrelated records apart in the one-to-one assignment).
    gate: float = 0.35
    # A pair is considered only if at least one of these fields is correct (the same
    # number, or overlapping evidence): unrelated records are never forced together.
    anchors: tuple[str, ...] = ()
    # Fields whose per-article set of values is also scored (e.g. the categories of
    # measures an article mentions, whatever their number).
    set_fields: tuple[str, ...] = ()

    @property
    def key_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.key)


@dataclass(frozen=True)
class Example:
    """A few-shot example: a passage and the records it yields."""

    text: str
    records: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class SchemaSpec:
    name: str
    version: int
    model: type[BaseModel]
    prompt: Path
    scoring: Scoring
    description: str = ""
    checks: tuple[Check, ...] = ()
    article_checks: tuple[ArticleCheck, ...] = ()
    offline: OfflineExtractor | None = None
    examples: tuple[Example, ...] = ()
    # Fields that identify a record for de-duplication across chunks and repeats.
    identity: tuple[str, ...] | None = None
    data_files: Sequence[Path] = field(default_factory=tuple)
    # The numeric field whose value claims a number of the article; numbers of
    # interest no record claims are listed as "unclaimed mentions".
    quantity_field: str | None = None
    # Extra variables for the prompt template (e.g. the indicator taxonomy).
    prompt_context: Callable[[], dict[str, Any]] | None = None
    # Learned offline extraction (`polex train`): the label fields its classifiers
    # choose (default: every required single-choice field), extra features the
    # schema knows how to compute, and where the trained model lives (default:
    # learned.npz beside the module of the record model).
    learn: tuple[str, ...] | None = None
    learning_features: Callable[[ArticleContext, Candidate], dict[str, float]] | None = None
    # Words of each value of a label field (field -> Lexicon), shared by all values
    # so that rare values are learnable (see pipeline/learning/lexicon.py).
    label_lexicon: Callable[[], dict[str, Lexicon]] | None = None
    learned_model: Path | None = None

    @property
    def learned_model_path(self) -> Path:
        if self.learned_model is not None:
            return self.learned_model
        from polex.pipeline.learning.model import default_model_path

        return default_model_path(self.model)

    @property
    def registry_name(self) -> str:
        return f"{self.name}.v{self.version}"

    @property
    def identity_fields(self) -> tuple[str, ...]:
        if self.identity is not None:
            return self.identity
        return tuple(n for n in self.model.model_fields if n != "evidence")

    def prompt_text(self) -> str:
        return self.prompt.read_text(encoding="utf-8")

    def prompt_hash(self) -> str:
        return hashlib.sha256(self.prompt_text().encode("utf-8")).hexdigest()[:16]

    def schema_hash(self) -> str:
        """Changes when the model, its descriptions, the examples or the rule data
        change: part of every cache key that this schema's answers depend on."""
        h = hashlib.sha256(json.dumps(self.model.model_json_schema(), sort_keys=True).encode())
        h.update(json.dumps([e.__dict__ for e in self.examples], sort_keys=True, default=str).encode())
        for path in sorted(self.data_files):
            h.update(Path(path).read_bytes())
        return h.hexdigest()[:16]
