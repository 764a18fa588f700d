"""The grammar we send in json_object_schema mode must accept the answers we want,
written as instruct models write JSON (with newlines and indents). Checked with
llama.cpp's own grammar engine (the sampler its servers use) over SmolLM2's
vocabulary: no model is run, only its tokenizer is loaded.

The collapse of issue 11 (every answer '{"records": []}', 5 tokens) had two causes
in the grammar llama-cpp-python built from pydantic's schema: its whitespace rule
(one optional space: the newline a model writes after '{"records": [' is masked,
and ']' is the likeliest token left) and its key order (required keys first, so a
record in declared order is refused at its first optional field)."""

from __future__ import annotations

import ctypes
import json
import math
from functools import cache
from typing import Any

import llama_cpp
import pytest
from llama_cpp.llama_grammar import json_schema_to_gbnf

from polex.pipeline.backends.llamacpp import shipped_gguf
from polex.pipeline.backends.mention_first import answer_model
from polex.pipeline.backends.openai_compat import llama_grammar, records_model, response_format_schema
from polex.pipeline.registry import discover
from tests.conftest import GOLD

SPECS = discover()


@cache
def vocabulary() -> llama_cpp.Llama:
    return llama_cpp.Llama(model_path=str(shipped_gguf()), vocab_only=True, verbose=False)


def prefix_accepted(grammar: str, prefix: str) -> bool:
    """Whether the grammar lets every token of ``prefix`` through (not necessarily complete)."""
    return grammar_accepts(grammar, prefix, complete=False)


def grammar_accepts(grammar: str, answer: str, complete: bool = True) -> bool:
    """Whether llama.cpp's grammar sampler lets every token of ``answer`` through,
    and (when ``complete``) the end of the answer after them."""
    llm = vocabulary()
    sampler = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, grammar.encode(), b"root")
    assert sampler, "llama.cpp refused the grammar"
    try:
        tokens = llm.tokenize(answer.encode("utf-8"), add_bos=False, special=False)
        for token in [*tokens, llm.token_eos()] if complete else tokens:
            candidate = (llama_cpp.llama_token_data * 1)()
            candidate[0].id, candidate[0].logit, candidate[0].p = token, 0.0, 0.0
            array = llama_cpp.llama_token_data_array(data=candidate, size=1, selected=-1, sorted=False)
            llama_cpp.llama_sampler_apply(sampler, ctypes.byref(array))
            if math.isinf(candidate[0].logit):
                return False
            if token != llm.token_eos():
                llama_cpp.llama_sampler_accept(sampler, token)
        return True
    finally:
        llama_cpp.llama_sampler_free(sampler)


def gold_answers(schema: str, indent: int | None = None) -> list[tuple[str, str]]:
    """Each seed's gold records of ``schema``, as the answer a model would write
    (the schema's fields in declared order, without the annotators' notes)."""
    model = SPECS[schema].model
    answers = []
    for path in sorted(GOLD.glob("*.json")):
        labelled = json.loads(path.read_text(encoding="utf-8")).get(schema, [])
        records = [model.model_validate(record).model_dump(mode="json") for record in labelled]
        if records:
            answers.append((path.stem, json.dumps({"records": records}, ensure_ascii=False, indent=indent)))
    return answers


def sent_grammar(schema: str) -> str:
    return llama_grammar(response_format_schema(records_model(SPECS[schema])))


@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("schema", sorted(SPECS))
def test_the_grammar_we_send_accepts_every_seed_gold_answer_compact_or_indented(
    schema: str, indent: int | None
) -> None:
    answers = gold_answers(schema, indent)
    assert answers, f"no seed gold record of {schema}"
    grammar = sent_grammar(schema)
    refused = [article for article, answer in answers if not grammar_accepts(grammar, answer)]
    assert refused == []


def test_the_ported_converters_grammar_forces_the_empty_answer_on_an_indenting_model() -> None:
    """After '{"records": [' a model that indents writes a newline: the converter's own
    grammar refuses it (leaving ']' to close the array at once), ours accepts it."""
    schema = json.dumps(response_format_schema(records_model(SPECS["QuantitativeTarget"])))
    ported = json_schema_to_gbnf(schema)
    opening = '{\n  "records": [\n    {'
    assert not prefix_accepted(ported, "{\n") and not prefix_accepted(ported, '{"records": [\n')
    assert prefix_accepted(ported, '{"records": []}')
    assert prefix_accepted(sent_grammar("QuantitativeTarget"), opening)


def test_the_grammar_of_pydantics_own_schema_refuses_the_gold_in_declared_order() -> None:
    """The cause, pinned: llama.cpp writes required keys before optional ones, so a
    record in the model's declared order is refused at its first optional field."""
    model = records_model(SPECS["QuantitativeTarget"])
    grammar = json_schema_to_gbnf(json.dumps(model.model_json_schema()))
    article, answer = gold_answers("QuantitativeTarget")[0]
    assert not grammar_accepts(grammar, answer), article
    assert grammar_accepts(sent_grammar("QuantitativeTarget"), answer)


def test_the_sent_schema_has_no_references_and_requires_every_field() -> None:
    schema: dict[str, Any] = response_format_schema(records_model(SPECS["QuantitativeTarget"]))
    assert "$defs" not in schema and "$ref" not in json.dumps(schema)
    record = schema["properties"]["records"]["items"]
    assert record["required"] == list(record["properties"])
    assert record["properties"]["value_high"]["anyOf"][1] == {"type": "null"}


@pytest.mark.parametrize("indent", [None, 2])
def test_the_mentions_grammar_accepts_labels_and_refuses_a_label_outside_the_choices(
    indent: int | None,
) -> None:
    grammar = llama_grammar(response_format_schema(answer_model(SPECS["QuantitativeTarget"])))
    good = {"labels": {"m1": "new_urban_jobs, actual", "m2": "drop"}, "added": []}
    assert grammar_accepts(grammar, json.dumps(good, indent=indent))
    assert not grammar_accepts(grammar, json.dumps({"labels": {"m1": "new_jobs, actual"}}, indent=indent))
