"""Fields a learned model's records read with the core's readers, whichever engine
(classifiers or the schema's rules) made them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from polex.pipeline.learning.extract import predict
from polex.pipeline.learning.model import LearnedModel
from polex.pipeline.learning.train import Example, GoldArticle, labels_right, train
from polex.pipeline.records import Article, ArticleContext
from polex.pipeline.registry import select
from polex.pipeline.spec import SchemaSpec
from tests.action_schema import TOWNS, actions_spec

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


def _actions_gold() -> list[GoldArticle]:
    """Articles with a training sentence, a job-fair sentence, a sentence that
    announces both (two gold records on one sentence) and a sentence that is no
    action."""
    gold = []
    for k, town in enumerate(TOWNS):
        training = f"{town} will offer vocational skills training courses to {100 + k} workers this spring."
        fairs = f"The city of {town} plans to hold {10 + k} job fairs for graduates in the autumn."
        both = (
            f"Officials in {town} said they will offer vocational skills training courses "
            f"and hold job fairs for local people next month."
        )
        other = f"The weather in {town} was mild and the rivers were full during the whole year."
        text = " ".join((training, other, fairs, both))
        records = [
            {"evidence": training, "topic": "training"},
            {"evidence": fairs, "topic": "fairs"},
            {"evidence": both, "topic": "training"},
            {"evidence": both, "topic": "fairs"},
        ]
        gold.append(GoldArticle(Article(f"t{k}", text), records))
    return gold


def test_a_sentence_that_holds_two_measures_of_different_labels_gives_a_record_for_each(
    tmp_path: Path,
) -> None:
    spec = actions_spec(tmp_path)
    model, _ = train(spec, _actions_gold())
    assert model.more_labels_at is not None
    both = "Officials in Longmen said they will offer vocational skills training courses and hold job fairs soon."
    single = "Longmen will offer vocational skills training courses to 300 workers this spring."
    predictions = predict(spec, model, ArticleContext(Article("new", f"{single} {both}")))
    found = sorted((p.record.model_dump()["evidence"], p.record.model_dump()["topic"]) for p in predictions)
    assert found == sorted(
        [(both.rstrip("."), "fairs"), (both.rstrip("."), "training"), (single.rstrip("."), "training")]
    )


def test_a_label_of_any_gold_record_on_the_sentence_counts_as_right_out_of_fold() -> None:
    sentence = Example(0, {}, True, {"topic": "training"}, more_labels=[{"topic": "fairs"}])
    assert labels_right({"topic": "fairs"}, sentence, {"topic"})
    assert labels_right({"topic": "training"}, sentence, {"topic"})
    assert not labels_right({"topic": "loans"}, sentence, {"topic"})
