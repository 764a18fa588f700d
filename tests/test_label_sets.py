"""A schema's set fields (PolicyMeasure's categories per article) decided for the
article as a whole, and the sentence-wide lexicon features the category reads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from polex.pipeline.learning.candidates import sentence_candidates
from polex.pipeline.learning.extract import predict
from polex.pipeline.learning.label_sets import article_values, choose_threshold, noisy_or
from polex.pipeline.learning.lexicon import hits, shared_features
from polex.pipeline.learning.train import GoldArticle, train
from polex.pipeline.records import Article, ArticleContext
from polex.schemas.policy_measure.learning import lexicon
from tests.action_schema import TOWNS, actions_spec


def test_noisy_or_is_the_chance_that_at_least_one_sentence_holds_the_value() -> None:
    keep = np.array([0.5, 0.5, 1.0])
    probabilities = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 0.2]])
    assert np.allclose(noisy_or(keep, probabilities), [0.75, 0.2])
    # two doubtful sentences of one value make it part of the article; one doubtful
    # sentence of another value does not
    assert article_values(("fairs", "training"), keep, probabilities, 0.5) == {"fairs"}


def test_the_article_threshold_is_kept_only_when_it_beats_the_records_own_sets() -> None:
    classes = ("fairs", "training")
    # per article: keep probabilities, value probabilities, gold set
    articles = [
        (np.array([0.4, 0.4]), np.array([[0.9, 0.1], [0.9, 0.1]]), {"fairs"}),
        (np.array([0.9]), np.array([[0.1, 0.9]]), {"training"}),
    ]
    # the records miss the first article's value (no sentence kept on its own)
    threshold, records_f1, sets_f1 = choose_threshold(articles, classes, [set(), {"training"}])
    assert threshold is not None and records_f1 == 0.5 and sets_f1 == 1.0
    # records that already give every gold set leave nothing to gain
    threshold, _, _ = choose_threshold(articles, classes, [{"fairs"}, {"training"}])
    assert threshold is None


def _actions_gold() -> list[GoldArticle]:
    gold = []
    for k, town in enumerate(TOWNS):
        training = f"{town} will offer vocational skills training courses to {100 + k} workers this spring."
        fairs = f"The city of {town} plans to hold {10 + k} job fairs for graduates in the autumn."
        other = f"The weather in {town} was mild and the rivers were full during the whole year."
        text = " ".join((training, other, fairs) if k % 2 else (training, other))
        records = [{"evidence": training, "topic": "training"}]
        if k % 2:
            records.append({"evidence": fairs, "topic": "fairs"})
        gold.append(GoldArticle(Article(f"t{k}", text), records))
    return gold


def test_training_records_the_article_threshold_of_a_set_field_and_the_records_follow_it(
    tmp_path: Path,
) -> None:
    spec = actions_spec(tmp_path, ("topic",))
    model, _ = train(spec, _actions_gold())
    assert set(model.info["label_sets"]) == {"topic"}  # chosen out of fold (None: no gain)
    single = "Longmen will offer vocational skills training courses to 300 workers this spring."
    ctx = ArticleContext(Article("new", single))

    def topics(at: float | None) -> list[str]:
        info = {**model.info, "label_sets": {"topic": {"at": at}}}
        found = predict(spec, dataclasses.replace(model, info=info), ctx)
        return sorted(p.record.model_dump()["topic"] for p in found)

    assert topics(None) == ["training"]
    # every value is in the article's set: the value no record carried gets one
    assert topics(0.0) == ["fairs", "training"]
    # no value is: the records that carried one are dropped
    assert topics(1.01) == []


def test_a_sentence_candidate_counts_each_category_s_phrases_over_the_whole_sentence() -> None:
    # the first 60 characters name no category; later, two skills-training phrases
    # and one of employment services
    text = (
        "In the second half of this year the municipal authorities in the city said they would "
        "expand skills training and hold job fairs."
    )
    ctx = ArticleContext(Article("a", text))
    [candidate] = sentence_candidates(ctx)
    category = lexicon()["category"]
    features = shared_features(category, text, candidate, hits(category, text), None)
    skills = features[category.index["skills_training"]]
    services = features[category.index["employment_services"]]
    assert skills["lex:most"] == 1.0 and skills["lex:hits=2"] == 1.0
    assert "lex:most" not in services and services["lex:hits=1"] == 1.0
    assert skills["lex:sentence_overlap=2"] == 1.0  # "skills" and "training" of its label
