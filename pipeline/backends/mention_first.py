"""The mention-first strategy (``--strategy mentions``): instead of asking the model
to find and copy figures, list the quantity engine's numbers of interest with ids,
sentence by sentence, and ask the model for a label per id (``new_urban_jobs,
actual``: the schema's key fields; or ``drop``), and for any figure the engine missed
(``added``, with its evidence). A labelled id becomes the offline default's record
for that number (or the core's conventions when the default dropped it) with the
label's fields, so grounding holds by construction and the answer is a few tokens
per number.

The offline default's confident guesses (confidence >= ``CONFIDENT``) are kept as
they are and not asked about: a small model shown a guess copies it (measured,
benchmarks/results/llm-2026-11-24-b-dev.md), so asking about a confident guess
costs tokens and can only undo it. The other numbers (the default's unsure guesses
and the numbers it drops) are listed without the guess, so that the model's label
is its own reading of the sentence; an id it leaves out keeps the guess.

Only schemas with a quantity field (the number a record claims) have mentions to
list; the others are extracted with the free strategy."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, ValidationInfo, create_model, model_validator

from polex.pipeline.backends.feedback import WithoutUrls
from polex.pipeline.chunking import Chunk
from polex.pipeline.fewshot import GoldExample
from polex.pipeline.grounding import locate
from polex.pipeline.learning.candidates import Candidate as EngineCandidate
from polex.pipeline.learning.extract import choices, default_record, find_candidates, predict, rule_records
from polex.pipeline.learning.model import load_model
from polex.pipeline.periods import article_year
from polex.pipeline.places import article_region
from polex.pipeline.quantities import Mention
from polex.pipeline.records import Article, ArticleContext
from polex.pipeline.spec import SchemaSpec


@dataclass(frozen=True)
class Guess:
    """What the offline default would write for one number: its record, or None when
    it drops the number, and its confidence (None for rules without one)."""

    record: dict[str, Any] | None
    confidence: float | None


@dataclass(frozen=True)
class Candidate:
    """One number of interest shown to the model."""

    id: str
    engine: EngineCandidate
    guess: Guess

    @property
    def mention(self) -> Mention:
        assert self.engine.mention is not None  # mention candidates only
        return self.engine.mention

    @property
    def key(self) -> str:
        """How the prompt and the answer name this number: its id and its words
        (``m2 1.2 million``), so that a label sits beside what it labels."""
        return f"{self.id} {' '.join(self.mention.text.split())}"

    @property
    def confident(self) -> bool:
        """The offline default keeps this number with a confident guess: it is kept
        as guessed and not asked about."""
        confidence = self.guess.confidence
        return self.guess.record is not None and confidence is not None and confidence >= CONFIDENT

    def guess_label(self, spec: SchemaSpec) -> str:
        """The offline default's guess written as a label: ``new_urban_jobs, actual``,
        or ``drop``."""
        return DROP if self.guess.record is None else label_of(self.guess.record, spec)


DROP = "drop"
LABEL_SEPARATOR = ", "
CONFIDENT = 0.7  # offline guesses at least this sure are kept and not asked about


def label_of(record: dict[str, Any], spec: SchemaSpec) -> str:
    """A record's answered fields as one label: ``new_urban_jobs, actual``."""
    return LABEL_SEPARATOR.join(str(record.get(name)) for name in answered_fields(spec))


def answered_fields(spec: SchemaSpec) -> list[str]:
    """The fields the model may correct: the schema's key fields (those that decide
    whether a record is right) but the quantity and the evidence. The others come
    from the offline default or the core's conventions, and repairs."""
    return [
        f.name
        for f in spec.scoring.fields
        if f.key and f.name not in ("evidence", spec.quantity_field) and f.name in spec.model.model_fields
    ]


def _has_letters(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def offline_guesses(ctx: ArticleContext, spec: SchemaSpec) -> dict[int, Guess]:
    """The offline default's record per number of interest (by the mention's start):
    the learned classifiers when the schema ships a model, else its rules."""
    model = load_model(spec.learned_model_path)
    found: list[tuple[dict[str, Any], int, float | None]] = []
    if model is not None:
        predictions = predict(spec, model, ctx)
        found = [(p.record.model_dump(mode="json"), p.offset, p.confidence) for p in predictions]
    elif spec.offline is not None:
        for item in spec.offline(ctx):
            made, offset = item if isinstance(item, tuple) else (item, 0)
            found.append((made.model_dump(mode="json"), offset, None))
    quantity = str(spec.quantity_field)
    guesses: dict[int, Guess] = {}
    for record, offset, confidence in found:
        span = locate(str(record.get("evidence", "")), ctx.text, offset)
        value = record.get(quantity)
        if span is None or not isinstance(value, int | float):
            continue
        for mention in ctx.mentions_in(span[0], span[1]):
            if mention.of_interest and mention.start not in guesses and _reads_as(mention, float(value)):
                guesses[mention.start] = Guess(record, confidence)
                break
    return guesses


def candidates(ctx: ArticleContext, spec: SchemaSpec, piece: Chunk) -> list[Candidate]:
    """The numbers of interest inside ``piece`` (not those of a line without words,
    such as a time stamp), with the offline default's guess."""
    if spec.quantity_field is None:
        return []
    guesses = offline_guesses(ctx, spec)
    out: list[Candidate] = []
    for engine in find_candidates(spec, ctx):
        mention = engine.mention
        if mention is None or mention.start < piece.start or mention.end > piece.end:
            continue
        if not _has_letters(ctx.text[engine.sentence.start : engine.sentence.end]):
            continue
        guess = guesses.get(mention.start, Guess(None, None))
        out.append(Candidate(f"m{len(out) + 1}", engine, guess))
    return out


def asked(listed: list[Candidate]) -> list[Candidate]:
    """The numbers the model is asked about, all but the confident guesses, with ids
    numbered again (m1, m2, ...) so that the ids the model sees have no gaps."""
    unsure = [c for c in listed if not c.confident]
    return [replace(c, id=f"m{number}") for number, c in enumerate(unsure, start=1)]


def listing(listed: list[Candidate], text: str) -> list[dict[str, Any]]:
    """The prompt's view of the numbers asked about: each sentence once, with the
    keys of its numbers (no guess: a guess shown is a guess copied)."""
    by_sentence: dict[tuple[int, int], list[Candidate]] = {}
    for c in listed:
        by_sentence.setdefault((c.engine.sentence.start, c.engine.sentence.end), []).append(c)
    return [
        {"text": " ".join(text[start:end].split()), "keys": [c.key for c in group]}
        for (start, end), group in by_sentence.items()
    ]


def _reads_as(mention: Mention, value: float) -> bool:
    return any(abs(abs(value) - abs(r)) <= 1e-6 * max(1.0, abs(r)) for r in mention.readings)


_ANSWER_MODELS: dict[str, type[BaseModel]] = {}


def label_pattern(spec: SchemaSpec) -> str:
    """What a label may be: ``drop``, or the answered fields' values joined by ", "
    (each one of its choices; free text without a comma for a field without)."""
    parts = []
    for name in answered_fields(spec):
        allowed = choices(spec.model, name)
        parts.append("(" + "|".join(re.escape(c) for c in allowed) + ")" if allowed else "[^,]+")
    return f"^({DROP}|{LABEL_SEPARATOR.join(parts)})$"


def answer_model(spec: SchemaSpec) -> type[BaseModel]:
    """{"labels": {key: label}, "added": [<records>]}: strict about the ids (an unknown
    id goes back to the model) and the labels (a pattern of the fields' choices, which
    the grammar enforces in json_object_schema mode)."""
    if spec.registry_name not in _ANSWER_MODELS:
        _ANSWER_MODELS[spec.registry_name] = _answer_model(spec)
    return _ANSWER_MODELS[spec.registry_name]


def _answer_model(spec: SchemaSpec) -> type[BaseModel]:
    label = Annotated[str, StringConstraints(pattern=label_pattern(spec))]

    def known_ids(self: Any, info: ValidationInfo) -> Any:
        ids = (info.context or {}).get("candidate_ids")
        if ids is None:
            return self
        unknown = [key for key in self.labels if id_of(key) not in ids]
        if unknown:
            raise ValueError(f"labels name ids that are not listed: {unknown}; use only {sorted(ids)}")
        return self

    return create_model(
        f"{spec.name}Labels",
        __base__=WithoutUrls,
        labels=(dict[str, label], ...),  # type: ignore[valid-type]
        # full records, repaired and grounded like any record; loose here so that the
        # schema in the prompt stays short
        added=(list[dict[str, Any]], Field(default_factory=list)),
        __validators__={
            "known_ids": model_validator(mode="after")(known_ids),  # type: ignore[dict-item]
        },
    )


def id_of(key: str) -> str:
    """The id of an answer's key (``m2`` of ``m2 1.2 million``)."""
    return key.strip().split(" ", 1)[0]


def labels_by_id(labels: dict[str, str], listed: list[Candidate]) -> dict[str, str]:
    """Each answer key's label, by the id of the number it names. A key is the id
    and the number as listed; when a model skips one, its next keys pair an id with
    the following number ("m4 20 million yuan" for m5), and the number decides, if
    it names exactly one number not yet labelled; else the id."""
    by_key = {c.key: c for c in listed}
    by_id = {c.id: c for c in listed}
    resolved: dict[str, str] = {}
    for key, label in labels.items():
        written = " ".join(key.split())
        found = by_key.get(written)
        if found is None:
            words = written.split(" ", 1)[1] if " " in written else ""
            same = [c for c in listed if c.key.split(" ", 1)[1] == words and c.id not in resolved]
            found = same[0] if len(same) == 1 else by_id.get(id_of(written))
        if found is not None and found.id not in resolved:
            resolved[found.id] = label
    return resolved


def is_label(label: str, spec: SchemaSpec) -> bool:
    return re.fullmatch(label_pattern(spec), label) is not None


def parse_label(label: str, spec: SchemaSpec) -> dict[str, str] | None:
    """The answered fields a label sets, or None for ``drop`` (or a malformed label)."""
    if label == DROP or not is_label(label, spec):
        return None
    return dict(zip(answered_fields(spec), label.split(LABEL_SEPARATOR), strict=True))


def _base_record(ctx: ArticleContext, spec: SchemaSpec, candidate: Candidate) -> dict[str, Any]:
    """The record a kept id starts from: the offline default's, else the rules' record
    at this number, else the core's conventions (clause, reading, unit, comparator,
    region, period) with each required choice left unset taking its first choice."""
    if candidate.guess.record is not None:
        return dict(candidate.guess.record)
    (rule,) = rule_records(spec, ctx, [candidate.engine])
    if rule is not None:
        return dict(rule)
    record = default_record(
        spec, ctx, candidate.engine, article_year(ctx.text, ctx.article.metadata), article_region(ctx.text)
    )
    for name, info in spec.model.model_fields.items():
        allowed = choices(spec.model, name)
        if name not in record and info.is_required() and allowed:
            record[name] = "other" if "other" in allowed else allowed[0]
    return record


def records_from_answer(
    ctx: ArticleContext, spec: SchemaSpec, listed: list[Candidate], labels: dict[str, str]
) -> list[tuple[dict[str, Any], int]]:
    """A record (and the offset of its sentence) per number not labelled ``drop``, in
    the article's order: the base record with the label's fields. A confident guess
    (not asked about), an id the answer leaves out, or one labelled with something
    that is not a label (an answer salvaged after its reasks), keeps the offline
    default's guess."""
    questions = asked(listed)
    by_id = labels_by_id(labels, questions)
    answered = {c.mention.start: by_id.get(c.id) for c in questions}
    out: list[tuple[dict[str, Any], int]] = []
    for candidate in listed:
        label = answered.get(candidate.mention.start)
        if label is None or not is_label(label, spec):  # not answered, or not a label
            label = candidate.guess_label(spec)
        fields = parse_label(label, spec)
        if fields is None:
            continue
        record = _base_record(ctx, spec, candidate)
        record.update(fields)
        out.append((record, candidate.engine.sentence.start))
    return out


def example_prompt(example: GoldExample, spec: SchemaSpec) -> dict[str, Any] | None:
    """A few-shot example in the mention-first format: the listing of every number of
    a gold sentence (read as an article of its own) and the answer its gold records
    give: a label per number, ``drop`` for those the gold leaves out."""
    ctx = ArticleContext(Article(example.article_id, example.text))
    listed = candidates(ctx, spec, Chunk(0, len(example.text), 1, 1))
    if not listed:
        return None
    quantity = str(spec.quantity_field)
    labels: dict[str, str] = {}
    claimed: set[int] = set()
    for candidate in listed:
        gold = next(
            (
                (i, r)
                for i, r in enumerate(example.records)
                if i not in claimed
                and isinstance(r.get(quantity), int | float)
                and _reads_as(candidate.mention, float(r[quantity]))
            ),
            None,
        )
        if gold is not None:
            claimed.add(gold[0])
        labels[candidate.key] = DROP if gold is None else label_of(gold[1], spec)
    shown = listing(listed, example.text)
    return {"listing": shown, "json": json.dumps({"labels": labels}, ensure_ascii=False)}
