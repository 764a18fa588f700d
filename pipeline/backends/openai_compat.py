"""The LLM backend for OpenAI and any OpenAI-compatible server (vLLM, Ollama,
llama.cpp's server, hosted Chinese models), through instructor.

Per chunk and schema: render the prompt, ask for {"records": [...]}, and validate
with the schema's grounding checks inside instructor's loop, so an ungrounded
record goes back to the model as feedback (bounded reasks). If reasks run out, the
last answer is salvaged record by record: valid ones are kept, the rest rejected
with reasons. An answer cut off at max_tokens is split into smaller chunks and
retried; the manifest notes every split. An article's chunks are asked at once."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import instructor
from instructor.core.exceptions import IncompleteOutputException, InstructorRetryException
from instructor.core.hooks import Hooks
from openai import APIError, AsyncOpenAI
from pydantic import BaseModel, ValidationInfo, create_model, model_validator
from pydantic_core import from_json

from polex.pipeline import defaults
from polex.pipeline.backends.base import BackendError, Candidates
from polex.pipeline.backends.feedback import WithoutUrls
from polex.pipeline.backends.mention_first import (
    MENTION_PROMPTS,
    MentionPrompt,
    answer_model,
    answered_fields,
    answered_labels,
    asked,
    candidates,
    closed_answer_model,
    example_prompt,
    listing,
    mention_prompt,
    records_from_answer,
)
from polex.pipeline.chunking import Chunk, chunk, halve
from polex.pipeline.fewshot import similar_examples
from polex.pipeline.grounding import record_problems
from polex.pipeline.prompting import article_context, field_docs, render, shared_templates_sha256
from polex.pipeline.records import ArticleContext, RejectedRecord
from polex.pipeline.redact import masked_url, register_secret, register_url
from polex.pipeline.repair import Repair, repair_record
from polex.pipeline.spec import SchemaSpec
from polex.pipeline.transport import (
    CachingTransport,
    RateLimits,
    ReplayMiss,
    ResponseStore,
    RetryableResponse,
    RetryPolicy,
    RetryTransport,
    TruncatedBody,
)
from polex.pipeline.usage import ledger

# Our names for structured-output modes, and how each maps onto instructor.
# json_object_schema is llama.cpp's dialect: response_format={"type": "json_object",
# "schema": ...}; instructor's JSON mode sends the schema in the prompt and we add it
# to response_format, where llama.cpp turns it into a grammar.
MODES: dict[str, instructor.Mode] = {
    "tools": instructor.Mode.TOOLS,
    "json_schema": instructor.Mode.JSON_SCHEMA,
    "json_object_schema": instructor.Mode.JSON,
    "json": instructor.Mode.JSON,
    "md_json": instructor.Mode.MD_JSON,
}


# free: the model finds and copies every record; mentions: the model labels the
# quantity engine's numbers with the default prompt version, mentions.vN with version
# N (schemas without a quantity field fall back to free).
STRATEGIES = ("free", "mentions", *MENTION_PROMPTS)


@dataclass
class LLMSettings:
    model: str | None = None  # None: the backend's default (defaults.MODEL; llamacpp: the GGUF's name)
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    mode: str | None = None  # None: the backend's default mode
    temperature: float = defaults.TEMPERATURE
    seed: int | None = defaults.SEED
    max_tokens: int = defaults.MAX_TOKENS
    max_reasks: int = defaults.MAX_REASKS
    timeout: float = defaults.REQUEST_TIMEOUT
    chunk_chars: int = defaults.CHUNK_CHARS
    chunk_overlap: int = defaults.CHUNK_OVERLAP
    max_splits: int = 3
    cache_dir: Path | None = None
    replay: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    strategy: str = defaults.STRATEGY  # or "mentions" (see pipeline/backends/mention_first.py)
    few_shot: int = 2  # examples per chunk, chosen by similarity from dev and seed gold

    def parameters(self) -> dict[str, Any]:
        """Everything that shapes the answers, for the manifest (no secrets)."""
        return {
            "mode": self.mode,
            "temperature": self.temperature,
            "seed": self.seed,
            "max_tokens": self.max_tokens,
            "max_reasks": self.max_reasks,
            "chunk_chars": self.chunk_chars,
            "chunk_overlap": self.chunk_overlap,
            "max_splits": self.max_splits,
            "timeout": self.timeout,
            "requests_per_minute": self.requests_per_minute,
            "tokens_per_minute": self.tokens_per_minute,
            "strategy": self.strategy,
            "few_shot": self.few_shot,
        }


_RECORDS_MODELS: dict[str, type[BaseModel]] = {}


def records_model(spec: SchemaSpec) -> type[BaseModel]:
    """{"records": [Model, ...]} whose validation runs the grounding checks, given
    the article in the validation context."""
    if spec.registry_name in _RECORDS_MODELS:
        return _RECORDS_MODELS[spec.registry_name]

    def repaired(cls: Any, data: Any, info: ValidationInfo) -> Any:
        """Deterministic repairs first (see pipeline/repair.py); the repairs of this
        validation are left in the context for the backend to flag and count."""
        context = info.context
        ctx = (context or {}).get("ctx")
        if context is None or ctx is None or not isinstance(data, dict):
            return data
        raw = data.get("records")
        if not isinstance(raw, list):
            return data
        fixed = [repair_record(r, spec, ctx) if isinstance(r, dict) else (r, []) for r in raw]
        context["repairs"] = [repairs for _, repairs in fixed]
        return {**data, "records": [record for record, _ in fixed]}

    def grounded(self: Any, info: ValidationInfo) -> Any:
        context = info.context or {}
        ctx = context.get("ctx")
        if ctx is None:
            return self
        problems = [
            f"records[{i}]: {problem}"
            for i, record in enumerate(self.records)
            for problem in record_problems(record, spec, ctx)
        ]
        if problems:
            raise ValueError("some records are not supported by the article text:\n" + "\n".join(problems))
        return self

    model = create_model(
        f"{spec.name}Records",
        __base__=WithoutUrls,
        records=(list[spec.model], ...),  # type: ignore[name-defined]
        __validators__={
            "repaired": model_validator(mode="before")(repaired),  # type: ignore[dict-item]
            "grounded": model_validator(mode="after")(grounded),  # type: ignore[dict-item]
        },
    )
    _RECORDS_MODELS[spec.registry_name] = model
    return model


def response_format_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema sent as ``response_format`` (json_object_schema mode), shaped
    for grammar builders such as llama.cpp's json-schema-to-grammar:

    - ``$ref``s are inlined (no ``$defs``);
    - where an optional property precedes a required one, every property becomes
      required (optional ones admitting null as before). llama.cpp's grammar writes
      required keys first and optional keys after them, so a record written in the
      declared order (the order of the prompt, its examples and the gold) hits a key
      the grammar forbids at its first optional field (``"value_high"`` right after
      ``"value"``); with every key required, the grammar's order is the declared
      order. Objects already in that order keep their optional keys optional."""
    schema = model.model_json_schema()
    definitions: dict[str, Any] = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return inline(definitions[str(node["$ref"]).rsplit("/", 1)[-1]])
        out = {key: inline(value) for key, value in node.items()}
        if out.get("type") == "object" and isinstance(out.get("properties"), dict):
            names, required = list(out["properties"]), set(out.get("required", []))
            first_optional = next((i for i, n in enumerate(names) if n not in required), len(names))
            if required & set(names[first_optional:]):  # an optional key before a required one
                out["required"] = names
        return out

    inlined: dict[str, Any] = inline(schema)
    return inlined


# llama.cpp's own whitespace rule (common/json-schema-to-grammar.cpp): a newline and
# an indent may follow any token. llama-cpp-python's port of the converter allows one
# optional space only.
GRAMMAR_SPACE_RULE = 'space ::= | " " | "\\n" [ \\t]{0,20}'
_PORTED_SPACE_RULE = 'space ::= " "?'


def llama_grammar(schema: dict[str, Any]) -> str:
    """GBNF for llama.cpp servers from a response-format schema, by llama.cpp's
    json-schema-to-grammar (the Python port shipped with llama-cpp-python), with
    llama.cpp's own whitespace rules. The port's single-space rule is what collapsed
    json_object_schema answers to {"records": []}: instruct models write JSON with
    newlines and indents, and once the grammar masked the newline after
    '{"records": [' the likeliest token left was ']'."""
    try:
        from llama_cpp.llama_grammar import json_schema_to_gbnf
    except ImportError as exc:  # pragma: no cover - the local extra is installed in CI
        raise BackendError(
            "--mode json_object_schema builds a llama.cpp grammar with llama-cpp-python: "
            "pip install -e '.[local]'"
        ) from exc
    lines = json_schema_to_gbnf(json.dumps(schema)).splitlines()
    return "\n".join(_with_llama_cpp_spacing(line) for line in lines)


# A rule of literal alternatives only: an enum (the port, unlike llama.cpp, lets no
# space follow one, so an indented answer cannot close an object or array after it).
_ENUM_RULE = re.compile(r'^(\S+) ::= ("(?:[^"\\]|\\.)*"(?: \| "(?:[^"\\]|\\.)*")*)$')


def _with_llama_cpp_spacing(line: str) -> str:
    if line == _PORTED_SPACE_RULE:
        return GRAMMAR_SPACE_RULE
    enum = _ENUM_RULE.match(line)
    return f"{enum.group(1)} ::= ({enum.group(2)}) space" if enum else line


def grammar_request(schema: dict[str, Any]) -> dict[str, Any]:
    """What json_object_schema mode adds to the request body: the grammar, and a text
    response format, since llama.cpp servers let a json_object response format
    replace a grammar with their own (from the converter's single-space rule)."""
    return {"response_format": {"type": "text"}, "grammar": llama_grammar(schema)}


def _completion_text(completion: Any) -> str | None:
    try:
        message = completion.choices[0].message
    except (AttributeError, IndexError):
        return None
    if getattr(message, "tool_calls", None):
        return str(message.tool_calls[0].function.arguments)
    return getattr(message, "content", None)


def _answer_json(completion: Any, partial: bool = False) -> Any:
    """The JSON of a final invalid answer (a Markdown fence removed), or None; with
    ``partial``, of a cut-off one, read as far as it is complete (an unfinished
    string or pair left out)."""
    cleaned = (_completion_text(completion) or "").strip()
    if cleaned.startswith("```"):
        cleaned = cleaned.strip("`").removeprefix("json").strip()
    try:
        return from_json(cleaned, allow_partial=True) if partial else json.loads(cleaned)
    except ValueError:  # json.JSONDecodeError is one
        return None


def _salvage_object(completion: Any) -> dict[str, Any] | None:
    """The JSON object of a final invalid answer, if it is one."""
    data = _answer_json(completion)
    return data if isinstance(data, dict) else None


def _cut_off_object(completion: Any) -> dict[str, Any]:
    """What a cut-off answer (stopped at max_tokens, e.g. a small model looping) says
    before it stops, or {} when it does not start as a JSON object."""
    data = _answer_json(completion, partial=True)
    return data if isinstance(data, dict) else {}


def _labels_of(answer: dict[str, Any]) -> dict[str, str]:
    given = answer.get("labels")
    return {str(k): str(v) for k, v in given.items()} if isinstance(given, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _salvage(completion: Any) -> list[dict[str, Any]] | str:
    """The records of a final invalid answer, or the raw text if it is not JSON."""
    text = _completion_text(completion) or ""
    data = _answer_json(completion)
    records = data.get("records") if isinstance(data, dict) else data
    if isinstance(records, list):
        return [r if isinstance(r, dict) else {"value": r} for r in records]
    return text


def _add(out: Candidates, record: BaseModel | dict[str, Any], hint: int, repairs: list[Repair]) -> None:
    """One proposed record, flagged with the repairs made to it (counted per kind)."""
    out.records.append((record, hint))
    out.flags.append([repair.finding() for repair in repairs])
    ledger().count_repairs(Counter(repair.kind for repair in repairs))


def _cause(exc: BaseException) -> BaseException:
    """What went wrong below instructor, as precisely as the chain knows it: a
    replay miss or a transport failure (with its HTTP status and body), else the
    API error instructor wrapped (with the server's message)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ReplayMiss | RetryableResponse | TruncatedBody | httpx.TransportError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc.__cause__ or exc


class OpenAICompatBackend:
    name = "openai"
    default_mode = defaults.MODE

    def __init__(self, settings: LLMSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        mode = settings.mode or self.default_mode
        if mode not in MODES:
            raise BackendError(
                f"unknown structured-output mode '{mode}' (--mode); choose from {sorted(MODES)}"
            )
        if settings.strategy not in STRATEGIES:
            raise BackendError(
                f"unknown strategy '{settings.strategy}' (--strategy); choose from {', '.join(STRATEGIES)}"
            )
        settings = replace(settings, mode=mode, model=settings.model or defaults.MODEL)
        self.settings = settings
        stack: httpx.AsyncBaseTransport = RetryTransport(
            transport or httpx.AsyncHTTPTransport(retries=0),
            settings.retry,
            RateLimits(settings.requests_per_minute, settings.tokens_per_minute),
        )
        if settings.cache_dir is not None:
            stack = CachingTransport(
                stack, ResponseStore(settings.cache_dir), self.cache_namespace(), replay=settings.replay
            )
        elif settings.replay:
            raise BackendError("replay needs a recording directory (--cache-dir)")
        self._http = httpx.AsyncClient(transport=stack, timeout=settings.timeout)
        api_key = settings.api_key or os.environ.get("OPENAI_API_KEY") or "not-needed-for-local-servers"
        register_secret(settings.api_key)
        register_url(settings.base_url)
        # openai>=3 types http_client as httpx2 but accepts an httpx client at run time.
        self._client = AsyncOpenAI(
            api_key=api_key,
            base_url=settings.base_url,
            http_client=self._http,  # type: ignore[arg-type]
            max_retries=0,
        )
        self._instructor = instructor.from_openai(self._client, mode=MODES[mode])

    def cache_namespace(self) -> str:
        return f"{self.name}:{self.settings.model}"

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.settings.model,
            "base_url": masked_url(
                self.settings.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
            ),
            "parameters": {
                **self.settings.parameters(),
                "prompt_templates_sha256": shared_templates_sha256(),
            },
        }

    async def extract(self, ctx: ArticleContext, spec: SchemaSpec) -> Candidates:
        """The article's chunks are independent requests: they are sent at once (so a
        Batch API run captures them all in one round) and their records are merged in
        chunk order, whichever answer comes first. A failing chunk fails the article
        with the first error in chunk order, after the other chunks have ended."""
        pieces = chunk(ctx.text, self.settings.chunk_chars, self.settings.chunk_overlap)
        results = await asyncio.gather(
            *(self._extract_piece(ctx, spec, p) for p in pieces), return_exceptions=True
        )
        out = Candidates()
        for result in results:
            if isinstance(result, BaseException):
                raise result
            out.extend(result)
        return out

    async def _extract_piece(self, ctx: ArticleContext, spec: SchemaSpec, first: Chunk) -> Candidates:
        """One chunk, split in two (and again) while its answer is cut off at max_tokens."""
        s = self.settings
        out = Candidates()
        queue: list[tuple[Chunk, int]] = [(first, 0)]
        while queue:
            piece, depth = queue.pop(0)
            try:
                if s.strategy != "free" and spec.quantity_field:
                    await self._label_chunk(ctx, spec, piece, out)
                else:
                    await self._extract_chunk(ctx, spec, piece, out)
            except IncompleteOutputException as exc:
                if depth >= s.max_splits or piece.end - piece.start < 200:
                    raise BackendError(
                        f"{spec.name}: the answer was cut off at max_tokens={s.max_tokens} even after "
                        f"{depth} split(s) of characters {piece.start}-{piece.end}"
                    ) from exc
                ledger().splits += 1
                ledger().notes.append(
                    f"{spec.name}: answer cut off at max_tokens for characters {piece.start}-{piece.end}; "
                    "split in two and retried"
                )
                queue[:0] = [(half, depth + 1) for half in halve(piece, ctx.text)]
        return out

    async def _extract_chunk(
        self, ctx: ArticleContext, spec: SchemaSpec, piece: Chunk, out: Candidates
    ) -> None:
        model = records_model(spec)
        messages = render(
            spec,
            ctx.text[piece.start : piece.end],
            ctx.article.id,
            piece.index,
            piece.count,
            extra=self._prompt_extras(ctx, spec, piece),
        )
        failures = 0
        complete_answers: list[Any] = []
        context: dict[str, Any] = {"ctx": ctx, "spec": spec}

        def on_parse_error(*_args: Any, **_kwargs: Any) -> None:
            nonlocal failures
            failures += 1

        def on_response(response: Any, *_args: Any, **_kwargs: Any) -> None:
            choices = getattr(response, "choices", None) or []
            if choices and choices[0].finish_reason != "length":
                complete_answers.append(response)

        hooks = Hooks()
        hooks.on("parse:error", on_parse_error)
        hooks.on("completion:response", on_response)
        kwargs = self._call(model, messages, context, hooks)
        try:
            result = await self._instructor.chat.completions.create(**kwargs)
        except IncompleteOutputException:
            if failures and complete_answers:
                # A reask ran out of tokens: the earlier complete answer is still worth
                # grounding record by record rather than throwing away.
                ledger().reasks += failures
                ledger().notes.append(
                    f"{spec.name}: a reask was cut off at max_tokens; the previous answer "
                    "was kept record by record"
                )
                self._keep_answer(complete_answers[-1], "a reask was cut off", spec, piece, out, ctx)
                return
            raise
        except InstructorRetryException as exc:
            cause = _cause(exc)
            if not exc.failed_attempts or isinstance(cause, ReplayMiss):
                # nothing to keep, or a replay that lacks a request: fail loudly
                raise BackendError(f"{type(cause).__name__}: {cause}") from exc
            if isinstance(exc.__cause__, APIError):
                # the reask itself failed (e.g. 400: the conversation outgrew the context)
                ledger().reasks += failures
                ledger().notes.append(
                    f"{spec.name}: a reask failed ({type(cause).__name__}: {cause}); "
                    "the previous answer was kept record by record"
                )
            else:
                ledger().reasks += max(0, failures - 1)
                ledger().notes.append(
                    f"{spec.name}: still invalid after {self.settings.max_reasks} reask(s); "
                    "valid records kept, the rest rejected"
                )
            self._keep_answer(exc.last_completion, str(exc), spec, piece, out, ctx)
            return
        ledger().reasks += failures
        repairs: list[list[Repair]] = context.get("repairs") or [[] for _ in result.records]
        for record, made in zip(result.records, repairs, strict=True):
            _add(out, record, piece.start, made)

    def _prompt_extras(self, ctx: ArticleContext, spec: SchemaSpec, piece: Chunk) -> dict[str, Any]:
        """The article's context, and few-shot examples like this chunk (else the schema's own)."""
        extras: dict[str, Any] = {"context": article_context(ctx)}
        chosen = similar_examples(
            spec, ctx.text[piece.start : piece.end], self.settings.few_shot, ctx.article.id
        )
        if chosen:
            extras["examples"] = [e.as_prompt() for e in chosen]
        return extras

    async def _label_chunk(
        self, ctx: ArticleContext, spec: SchemaSpec, piece: Chunk, out: Candidates
    ) -> None:
        """The mention-first strategy on one chunk: one request whose answer labels the
        numbers the offline default is unsure about or drops; its confident guesses
        stand (no request is sent when there is nothing to ask)."""
        prompt = mention_prompt(self.settings.strategy)
        listed = candidates(ctx, spec, piece)
        questions = asked(listed, prompt)
        if not questions:  # nothing to ask: the confident guesses stand
            for record, hint in records_from_answer(ctx, spec, listed, {}, prompt):
                fixed, made = repair_record(record, spec, ctx)
                _add(out, fixed, hint, made)
            return
        model = closed_answer_model(questions, spec) if prompt.closed_choices else answer_model(spec)
        extras: dict[str, Any] = {
            "context": article_context(ctx),
            "candidates": listing(questions, ctx.text, spec),
            "fields": [f for f in field_docs(spec) if f.name in answered_fields(spec)],
            "examples": self._mention_examples(ctx, spec, piece, prompt),
        }
        messages = render(
            spec, "", ctx.article.id, piece.index, piece.count, extra=extras, template=prompt.template
        )
        failures = 0

        def on_parse_error(*_args: Any, **_kwargs: Any) -> None:
            nonlocal failures
            failures += 1

        hooks = Hooks()
        hooks.on("parse:error", on_parse_error)
        kwargs = self._call(model, messages, {"candidate_ids": {c.id for c in questions}}, hooks)
        try:
            result = await self._instructor.chat.completions.create(**kwargs)
        except IncompleteOutputException as exc:
            # Cut off at max_tokens (a looping model repeats its keys or rambles under
            # "added"): the labels it completed count, the other numbers keep their
            # guesses, and its added records, unfinished, are not read.
            ledger().reasks += failures
            ledger().notes.append(
                f"{spec.name}: labels cut off at max_tokens={self.settings.max_tokens}; the complete "
                "labels kept, the other numbers keep the offline guesses, added records not read"
            )
            labels = _labels_of(_cut_off_object(exc.last_completion))
            added = []
        except InstructorRetryException as exc:
            cause = _cause(exc)
            if not exc.failed_attempts or isinstance(cause, ReplayMiss):
                raise BackendError(f"{type(cause).__name__}: {cause}") from exc
            ledger().reasks += max(0, failures - 1)
            ledger().notes.append(f"{spec.name}: labels still invalid after reasks; the valid ones kept")
            answer = _salvage_object(exc.last_completion)
            if answer is None:
                out.rejected.append(
                    RejectedRecord(
                        ctx.article.id,
                        spec.name,
                        _completion_text(exc.last_completion),
                        [f"no labels ({exc})"],
                    )
                )
                return
            labels = _labels_of(answer)
            added = [x for x in _list(answer.get("added")) if isinstance(x, dict)]
        else:
            ledger().reasks += failures
            labels = answered_labels(result)
            added = [x for x in getattr(result, "added", []) if isinstance(x, dict)]
        for record, hint in records_from_answer(ctx, spec, listed, labels, prompt):
            fixed, made = repair_record(record, spec, ctx)
            _add(out, fixed, hint, made)
        for raw in added:
            fixed, made = repair_record(raw, spec, ctx)
            _add(out, fixed, piece.start, made)

    def _mention_examples(
        self, ctx: ArticleContext, spec: SchemaSpec, piece: Chunk, prompt: MentionPrompt
    ) -> list[dict[str, Any]]:
        """Few-shot examples like this chunk, in the mention-first format of ``prompt``."""
        chosen = similar_examples(
            spec, ctx.text[piece.start : piece.end], self.settings.few_shot, ctx.article.id
        )
        return [shown for e in chosen if (shown := example_prompt(e, spec, prompt)) is not None]

    def _keep_answer(
        self, completion: Any, why: str, spec: SchemaSpec, piece: Chunk, out: Candidates, ctx: ArticleContext
    ) -> None:
        """Ground a final invalid answer record by record: valid ones are kept, the
        others rejected with their reasons."""
        salvaged = _salvage(completion)
        if isinstance(salvaged, str):
            out.rejected.append(
                RejectedRecord(
                    ctx.article.id, spec.name, salvaged, [f"answer is not a JSON object with records ({why})"]
                )
            )
            return
        for raw in salvaged:
            record, made = repair_record(raw, spec, ctx)
            _add(out, record, piece.start, made)

    def _call(
        self, model: type[BaseModel], messages: list[dict[str, Any]], context: dict[str, Any], hooks: Hooks
    ) -> dict[str, Any]:
        """The arguments of one instructor call (the request body both strategies send)."""
        s = self.settings
        kwargs: dict[str, Any] = {
            "model": s.model,
            "messages": messages,
            "temperature": s.temperature,
            "max_tokens": s.max_tokens,
            "response_model": model,
            "max_retries": s.max_reasks,
            "context": context,
            "strict": False,
            "hooks": hooks,
        }
        if s.seed is not None:
            kwargs["seed"] = s.seed
        if s.mode == "json_object_schema":
            kwargs["extra_body"] = grammar_request(response_format_schema(model))
        return kwargs

    async def aclose(self) -> None:
        await self._http.aclose()
