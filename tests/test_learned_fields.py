"""Fields a learned model's records read with the core's readers, whichever engine
(classifiers or the schema's rules) made them."""

from __future__ import annotations

import dataclasses

from polex.pipeline.learning.extract import predict
from polex.pipeline.learning.model import LearnedModel
from polex.pipeline.records import Article, ArticleContext
from polex.pipeline.registry import select
from polex.pipeline.spec import SchemaSpec

# The year is named only in the sentence before the amount's sentence.
PERIOD_BEFORE = (
    "Hebei steps up job support\n\n"
    "Hebei province stepped up its employment policy in 2021. "
    "The province allocated 300 million yuan for vocational training subsidies to enterprises.\n"
)


def _rules_engine_model() -> tuple[SchemaSpec, LearnedModel]:
    """The shipped FundingAllocation model, told to keep its rules' records."""
    [spec] = select(["FundingAllocation"], [])
    shipped = LearnedModel.load(spec.learned_model_path)
    return spec, dataclasses.replace(shipped, info={**shipped.info, "engine": "rules"})


def test_a_rules_engine_record_reads_its_period_from_the_sentence_before() -> None:
    spec, model = _rules_engine_model()
    predictions = predict(spec, model, ArticleContext(Article("a", PERIOD_BEFORE)))
    [record] = [p.record.model_dump() for p in predictions]
    assert record["amount"] == 300_000_000
    assert record["period"] == "2021"
