"""The mention-first strategy: the prompt lists the engine's numbers with ids,
clauses and offline hints; the answer labels ids; kept labels become grounded
records (evidence = the clause, value = the engine's reading), drops vanish, an
added figure is grounded like any record."""

from __future__ import annotations

import json
from typing import Any

from polex.pipeline.records import Article
from tests.fake_openai import FakeServer, completion
from tests.test_llm_backend import TEXT, backend, run


def labels_answer(labels: list[dict[str, Any]], added: list[dict[str, Any]] | None = None) -> Any:
    return completion(content=json.dumps({"labels": labels, "added": added or []}))


def test_the_prompt_lists_each_number_with_an_id_its_clause_and_hints() -> None:
    server = FakeServer([labels_answer([])])
    run(backend(server, strategy="mentions"))
    user = server.requests[0]["messages"][-1]["content"]
    assert 'm1: "686000" (= 686000) in: From January to November this year, 686000 new jobs' in user
    assert 'm2: "108.9%"' in user and "m3" not in user
    assert "guess: indicator=new_urban_jobs" in user


def test_kept_labels_become_grounded_records_and_drops_vanish() -> None:
    server = FakeServer(
        [
            labels_answer(
                [
                    {
                        "id": "m1",
                        "keep": True,
                        "indicator": "new_urban_jobs",
                        "kind": "actual",
                        "unit": "persons",
                    },
                    {"id": "m2", "keep": False},
                ]
            )
        ]
    )
    part = run(backend(server, strategy="mentions"))
    (record,) = part["records"]["QuantitativeTarget"]
    assert record["record"]["value"] == 686000 and record["record"]["kind"] == "actual"
    assert TEXT[record["char_start"] : record["char_end"]] == record["record"]["evidence"]
    assert part["rejected"] == []


def test_a_label_missing_fields_takes_the_offline_hints() -> None:
    server = FakeServer([labels_answer([{"id": "m2", "keep": True}])])
    part = run(backend(server, strategy="mentions"))
    (record,) = part["records"]["QuantitativeTarget"]
    assert record["record"]["value"] == 108.9 and record["record"]["kind"] == "completion_rate"


def test_an_unknown_id_is_reasked() -> None:
    server = FakeServer(
        [labels_answer([{"id": "m9", "keep": True}]), labels_answer([{"id": "m1", "keep": True}])]
    )
    part = run(backend(server, strategy="mentions", max_reasks=1))
    assert len(server.requests) == 2
    assert "m9" in " ".join(str(m["content"]) for m in server.requests[1]["messages"])
    assert [r["record"]["value"] for r in part["records"]["QuantitativeTarget"]] == [686000]


def test_a_chunk_without_numbers_of_interest_sends_no_request() -> None:
    server = FakeServer([])
    part = run(backend(server, strategy="mentions"), Article("quiet", "The city held a meeting on jobs."))
    assert server.requests == [] and part["status"] == "ok"
