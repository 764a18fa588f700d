"""Repair before reject: what the article settles is repaired, flagged and counted
per kind in the part's usage (and so in the manifest); what is not grounded is
still rejected."""

from __future__ import annotations

from typing import Any

from polex.pipeline.records import Article, ArticleContext
from polex.pipeline.registry import discover
from polex.pipeline.repair import repair_record
from tests.fake_openai import FakeServer, completion
from tests.test_llm_backend import GOOD, TEXT, backend, run

QT = discover()["QuantitativeTarget"]
CTX = ArticleContext(Article("a1", TEXT, metadata={"published": "2021-12-20"}))


def repaired(**changes: Any) -> tuple[dict[str, Any], list[str]]:
    record, repairs = repair_record({**GOOD[0], **changes}, QT, CTX)
    return record, [r.kind for r in repairs]


def test_a_missing_value_is_read_from_evidence_holding_one_number() -> None:
    assert repaired(value=None) == ({**GOOD[0], "value": 686000}, ["value_from_evidence"])


def test_a_textual_value_is_read_by_the_quantity_engine() -> None:
    record, kinds = repaired(value="686,000")
    assert record["value"] == 686000 and kinds == ["value_read"]


def test_a_unit_synonym_maps_to_the_list() -> None:
    assert repaired(unit="people") == ({**GOOD[0], "unit": "persons"}, ["synonym"])


def test_an_unknown_indicator_becomes_other_and_the_flag_keeps_the_models_label() -> None:
    record, repairs = repair_record({**GOOD[0], "indicator": "jobs_created"}, QT, CTX)
    assert record["indicator"] == "other"
    (repair,) = repairs
    assert repair.kind == "unknown_choice" and "jobs_created" in repair.finding().message


def test_a_relative_period_is_resolved_from_the_articles_year_or_dropped_with_a_flag() -> None:
    assert repaired(period="last year") == ({**GOOD[0], "period": "2020"}, ["period_resolved"])
    undated = ArticleContext(Article("a2", TEXT))
    record, repairs = repair_record({**GOOD[0], "period": "last year"}, QT, undated)
    assert record["period"] is None and [r.kind for r in repairs] == ["period_unknown"]


def test_a_comparator_that_disagrees_with_the_text_takes_the_texts() -> None:
    text = "More than 686000 new jobs were created in cities and towns."
    ctx = ArticleContext(Article("a3", text))
    record = {**GOOD[0], "evidence": "More than 686000 new jobs were created", "comparator": "eq"}
    fixed, repairs = repair_record(record, QT, ctx)
    assert fixed["comparator"] == "at_least" and [r.kind for r in repairs] == ["comparator_from_text"]


def test_a_good_record_is_left_alone() -> None:
    assert repaired() == (GOOD[0], [])


def test_the_backend_keeps_repaired_records_flags_them_and_counts_repairs_per_kind() -> None:
    sloppy = [{**GOOD[0], "unit": "people", "indicator": "jobs_created"}, {**GOOD[1], "value": None}]
    server = FakeServer([completion(sloppy)])
    part = run(backend(server, max_reasks=0))
    assert len(server.requests) == 1 and part["rejected"] == []
    kept = part["records"]["QuantitativeTarget"]
    assert [r["record"]["value"] for r in kept] == [686000, 108.9]
    assert kept[0]["record"]["unit"] == "persons" and kept[0]["record"]["indicator"] == "other"
    codes = {f["code"] for r in kept for f in r["flags"]}
    assert {"repaired_synonym", "repaired_unknown_choice", "repaired_value_from_evidence"} <= codes
    assert part["usage"]["repairs"] == {"synonym": 1, "unknown_choice": 1, "value_from_evidence": 1}


def test_evidence_not_in_the_article_is_still_rejected() -> None:
    server = FakeServer([completion([{**GOOD[0], "evidence": "686,000 jobs were made", "unit": "people"}])])
    part = run(backend(server, max_reasks=0))
    assert part["records"]["QuantitativeTarget"] == []
    assert "evidence not found" in part["rejected"][0]["reasons"][0]
