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

Each version of the prompt (``MENTION_PROMPTS``; ``--strategy mentions.vN`` runs
one, ``--strategy mentions`` runs ``MENTIONS_DEFAULT``) says which numbers are asked
about and what the model sees of the offline default's reading:

- v2: every number, each with the offline default's guess (the model copied them);
- v3: the unsure numbers only, without the guess (the model's own labels were
  worse than the guesses);
- v4: the unsure numbers only, each with a closed list of answers: the offline
  default's most probable labels and ``drop``; the grammar (json_object_schema
  mode) and the answer's model hold the model to that list, so it only chooses
  between readings the offline classifiers find plausible, and adds no record.
- v5: only the numbers the offline default keeps and is unsure of (those it drops
  stay dropped), each with its guess, its next most probable label and ``drop``:
  the model confirms, relabels or drops the default's unsure records and never
  adds one (v4 kept more records than the default at lower precision).

Only schemas with a quantity field (the number a record claims) have mentions to
list; the others are extracted with the free strategy."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, ValidationInfo, create_model, model_validator

from polex.pipeline.backends.feedback import WithoutUrls
from polex.pipeline.chunking import Chunk
from polex.pipeline.fewshot import GoldExample
from polex.pipeline.grounding import locate
from polex.pipeline.learning.candidates import Candidate as EngineCandidate
from polex.pipeline.learning.extract import (
    choices,
    default_record,
    featurize,
    find_candidates,
    pair_inputs,
    predict,
    rule_records,
)
from polex.pipeline.learning.model import load_model
from polex.pipeline.learning.predictor import Predictor
from polex.pipeline.periods import article_year
from polex.pipeline.places import article_region
from polex.pipeline.quantities import Mention
from polex.pipeline.records import Article, ArticleContext
from polex.pipeline.spec import SchemaSpec


@dataclass(frozen=True)
class MentionPrompt:
    """One version of the mention-first prompt: its template, which numbers it asks
    about, and what it shows of the offline default's reading."""

    template: str
    ask_confident: bool  # list the confident guesses too (else they stand unasked)
    show_guesses: bool  # show the offline default's guess (and confidence) per number
    closed_choices: bool  # each number's answer is one of its offline top labels or drop
    ask_dropped: bool = True  # list the numbers the offline default drops (else they stay dropped)
    labels_offered: int | None = None  # closed choices: most labels offered before drop (None: all)


MENTION_PROMPTS = {
    "mentions.v2": MentionPrompt(
        "mentions.v2.md", ask_confident=True, show_guesses=True, closed_choices=False
    ),
    "mentions.v3": MentionPrompt(
        "mentions.v3.md", ask_confident=False, show_guesses=False, closed_choices=False
    ),
    "mentions.v4": MentionPrompt(
        "mentions.v4.md", ask_confident=False, show_guesses=False, closed_choices=True
    ),
    "mentions.v5": MentionPrompt(
        "mentions.v5.md",
        ask_confident=False,
        show_guesses=False,
        closed_choices=True,
        ask_dropped=False,
        labels_offered=2,
    ),
}
MENTIONS_DEFAULT = "mentions.v4"  # the version `--strategy mentions` runs (README "Strategies")


def mention_prompt(strategy: str) -> MentionPrompt:
    """The prompt version a mention-first strategy name runs (``mentions`` or
    ``mentions.vN``)."""
    return MENTION_PROMPTS[MENTIONS_DEFAULT if strategy == "mentions" else strategy]


@dataclass(frozen=True)
class Guess:
    """What the offline default would write for one number: its record, or None when
    it drops the number, its confidence (None for rules without one), and its most
    probable labels, best first (empty without learned classifiers)."""

    record: dict[str, Any] | None
    confidence: float | None
    options: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Candidate:
    """One number of interest shown to the model."""

    id: str
    engine: EngineCandidate
    guess: Guess
    labels_offered: int | None = None  # most labels among its answers (None: all), by prompt

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

    def answers(self, spec: SchemaSpec) -> tuple[str, ...]:
        """The closed list of answers for this number (v4, v5): the offline default's
        guess when it keeps the number, its other most probable labels (as many as
        the prompt offers), and ``drop``."""
        kept = () if self.guess.record is None else (self.guess_label(spec),)
        labels = [label for label in (*kept, *self.guess.options) if is_label(label, spec)]
        return (*list(dict.fromkeys(labels))[: self.labels_offered], DROP)


DROP = "drop"
LABEL_SEPARATOR = ", "
CONFIDENT = 0.7  # offline guesses at least this sure are kept and not asked about
TOP_LABELS = 3  # the offline default's most probable labels offered per number (v4)


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


def top_labels(
    ctx: ArticleContext, spec: SchemaSpec, engines: list[EngineCandidate]
) -> list[tuple[str, ...]]:
    """Per engine candidate, the offline classifiers' ``TOP_LABELS`` most probable
    labels (the answered fields' values, by the product of their probabilities),
    best first; empty ones without learned classifiers for every answered field."""
    model = load_model(spec.learned_model_path)
    fields = answered_fields(spec)
    if not engines or not _labels_every(model, fields):
        return [() for _ in engines]
    assert model is not None
    rules = rule_records(spec, ctx, engines)
    encoded = model.vocabulary.encode(
        [featurize(spec, ctx, c, r) for c, r in zip(engines, rules, strict=True)]
    )
    probabilities = model.label_probabilities(encoded, pair_inputs(spec, ctx, engines, rules))
    out: list[tuple[str, ...]] = []
    for row in range(len(engines)):
        per_field = []
        for name in fields:
            p = probabilities[name][row]
            best = sorted(range(len(p)), key=lambda i: -float(p[i]))[:TOP_LABELS]
            per_field.append([(model.labels[name].classes[i], float(p[i])) for i in best])
        combined = sorted(itertools.product(*per_field), key=lambda values: -_product(p for _, p in values))[
            :TOP_LABELS
        ]
        out.append(tuple(LABEL_SEPARATOR.join(value for value, _ in values) for values in combined))
    return out


def _labels_every(model: Predictor | None, fields: list[str]) -> bool:
    return (
        model is not None
        and model.info.get("engine") != "rules"
        and all(name in model.labels for name in fields)
    )


def _product(values: Any) -> float:
    out = 1.0
    for value in values:
        out *= value
    return out


def candidates(ctx: ArticleContext, spec: SchemaSpec, piece: Chunk) -> list[Candidate]:
    """The numbers of interest inside ``piece`` (not those of a line without words,
    such as a time stamp), with the offline default's guess and its most probable
    labels."""
    if spec.quantity_field is None:
        return []
    guesses = offline_guesses(ctx, spec)
    engines = find_candidates(spec, ctx)
    options = top_labels(ctx, spec, engines)
    out: list[Candidate] = []
    for engine, labels in zip(engines, options, strict=True):
        mention = engine.mention
        if mention is None or mention.start < piece.start or mention.end > piece.end:
            continue
        if not _has_letters(ctx.text[engine.sentence.start : engine.sentence.end]):
            continue
        guess = guesses.get(mention.start, Guess(None, None))
        out.append(Candidate(f"m{len(out) + 1}", engine, replace(guess, options=labels)))
    return out


def asked(listed: list[Candidate], prompt: MentionPrompt) -> list[Candidate]:
    """The numbers the model is asked about (all, or all but the confident guesses,
    and with v5 but the numbers the offline default drops), with ids numbered again
    (m1, m2, ...) so that the ids the model sees have no gaps, each offering as many
    labels as the prompt says."""
    unsure = [
        c
        for c in listed
        if (prompt.ask_confident or not c.confident) and (prompt.ask_dropped or c.guess.record is not None)
    ]
    return [
        replace(c, id=f"m{number}", labels_offered=prompt.labels_offered)
        for number, c in enumerate(unsure, start=1)
    ]


def listing(listed: list[Candidate], text: str, spec: SchemaSpec) -> list[dict[str, Any]]:
    """The prompt's view of the numbers asked about: each sentence once, with its
    numbers: ``keys`` (the keys alone), ``numbers`` (each key with the offline
    default's guess and confidence, for a prompt that shows them) and ``answers``
    (each key with its closed list of answers)."""
    by_sentence: dict[tuple[int, int], list[Candidate]] = {}
    for c in listed:
        by_sentence.setdefault((c.engine.sentence.start, c.engine.sentence.end), []).append(c)
    return [
        {
            "text": " ".join(text[start:end].split()),
            "keys": [c.key for c in group],
            "numbers": [
                {
                    "key": c.key,
                    "guess": c.guess_label(spec),
                    "p": None if c.guess.confidence is None else f"{c.guess.confidence:.2f}",
                    "answers": list(c.answers(spec)),
                }
                for c in group
            ],
        }
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


def closed_answer_model(listed: list[Candidate], spec: SchemaSpec) -> type[BaseModel]:
    """{"labels": {key: answer, ...}} with every listed key, in order, each taking one
    of its closed list of answers (v4): the grammar built from it (json_object_schema
    mode) lets the model write nothing else, and validation holds any other mode to it."""
    properties: dict[str, Any] = {
        f"n{number}": (Literal[c.answers(spec)], Field(alias=c.key))  # type: ignore[valid-type]
        for number, c in enumerate(listed, start=1)
    }
    labels = create_model(f"{spec.name}ClosedAnswers", __base__=WithoutUrls, **properties)
    return create_model(f"{spec.name}ClosedLabels", __base__=WithoutUrls, labels=(labels, ...))


def answered_labels(result: BaseModel) -> dict[str, str]:
    """The labels of a validated answer by key, whichever answer model it is."""
    labels = getattr(result, "labels", {})
    if isinstance(labels, BaseModel):
        return {str(k): str(v) for k, v in labels.model_dump(by_alias=True).items()}
    return {str(k): str(v) for k, v in labels.items()}


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
    ctx: ArticleContext,
    spec: SchemaSpec,
    listed: list[Candidate],
    labels: dict[str, str],
    prompt: MentionPrompt,
) -> list[tuple[dict[str, Any], int]]:
    """A record (and the offset of its sentence) per number not labelled ``drop``, in
    the article's order: the base record with the label's fields. A number not asked
    about, an id the answer leaves out, or one labelled with something that is not a
    label (an answer salvaged after its reasks) or, with closed choices, not one of
    its answers, keeps the offline default's guess."""
    questions = asked(listed, prompt)
    by_id = labels_by_id(labels, questions)
    answered = {c.mention.start: (c, by_id.get(c.id)) for c in questions}
    out: list[tuple[dict[str, Any], int]] = []
    for candidate in listed:
        question, label = answered.get(candidate.mention.start, (candidate, None))
        allowed = label is not None and is_label(label, spec)
        if allowed and prompt.closed_choices:
            allowed = label in question.answers(spec)
        if label is None or not allowed:  # not answered, or not an answer it may give
            label = candidate.guess_label(spec)
        fields = parse_label(label, spec)
        if fields is None:
            continue
        record = _base_record(ctx, spec, candidate)
        record.update(fields)
        out.append((record, candidate.engine.sentence.start))
    return out


def example_prompt(
    example: GoldExample, spec: SchemaSpec, prompt: MentionPrompt | None = None
) -> dict[str, Any] | None:
    """A few-shot example in the mention-first format: the listing of every number of
    a gold sentence (read as an article of its own), each offering as many labels as
    ``prompt`` does, and the answer its gold records give: a label per number,
    ``drop`` for those the gold leaves out."""
    ctx = ArticleContext(Article(example.article_id, example.text))
    offered = None if prompt is None else prompt.labels_offered
    listed = [
        replace(c, labels_offered=offered) for c in candidates(ctx, spec, Chunk(0, len(example.text), 1, 1))
    ]
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
    shown = listing(listed, example.text, spec)
    for sentence in shown:
        for number in sentence["numbers"]:  # the gold's answer is one of the example's answers
            if labels[number["key"]] not in number["answers"]:
                number["answers"].insert(-1, labels[number["key"]])
    return {"listing": shown, "json": json.dumps({"labels": labels}, ensure_ascii=False)}
