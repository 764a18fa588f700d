"""The grammar llama.cpp builds from the schema we send in json_object_schema mode
must accept the answers we want. Checked with llama.cpp's own grammar engine
(the sampler the server uses) over SmolLM2's vocabulary: no model is run, only its
tokenizer is loaded."""

from __future__ import annotations

import ctypes
import json
import math
from functools import cache
from typing import Any

import llama_cpp
import pytest
from llama_cpp.llama_grammar import json_schema_to_gbnf

from pipeline.backends.llamacpp import shipped_gguf
from pipeline.backends.openai_compat import records_model, response_format_schema
from pipeline.registry import discover
from tests.conftest import GOLD

SPECS = discover()


@cache
def vocabulary() -> llama_cpp.Llama:
    return llama_cpp.Llama(model_path=str(shipped_gguf()), vocab_only=True, verbose=False)


def grammar_accepts(grammar: str, answer: str) -> bool:
    """Whether llama.cpp's grammar sampler lets every token of ``answer`` through,
    and the end of the answer after them."""
    llm = vocabulary()
    sampler = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, grammar.encode(), b"root")
    assert sampler, "llama.cpp refused the grammar"
    try:
        tokens = llm.tokenize(answer.encode("utf-8"), add_bos=False, special=False)
        for token in [*tokens, llm.token_eos()]:
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


def gold_answers(schema: str) -> list[tuple[str, str]]:
    """Each seed's gold records of ``schema``, as the answer a model would write
    (the schema's fields in declared order, without the annotators' notes)."""
    model = SPECS[schema].model
    answers = []
    for path in sorted(GOLD.glob("*.json")):
        labelled = json.loads(path.read_text(encoding="utf-8")).get(schema, [])
        records = [model.model_validate(record).model_dump(mode="json") for record in labelled]
        if records:
            answers.append((path.stem, json.dumps({"records": records}, ensure_ascii=False)))
    return answers


def sent_grammar(schema: str) -> str:
    return json_schema_to_gbnf(json.dumps(response_format_schema(records_model(SPECS[schema]))))


@pytest.mark.parametrize("schema", sorted(SPECS))
def test_the_grammar_of_the_schema_we_send_accepts_every_seed_gold_answer(schema: str) -> None:
    answers = gold_answers(schema)
    assert answers, f"no seed gold record of {schema}"
    grammar = sent_grammar(schema)
    refused = [article for article, answer in answers if not grammar_accepts(grammar, answer)]
    assert refused == []


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
