"""The generic learner never ships classifiers worse than the schema's own rules
(it compares them out of fold and keeps the better), and a sentence that carries
two measures of different labels teaches both and can give both records."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from polex.pipeline.learning.extract import other_labels, predict
from polex.pipeline.learning.linear import LinearClassifier
from polex.pipeline.learning.model import LearnedModel
from polex.pipeline.learning.train import GoldArticle, examples_of, train
from polex.pipeline.records import Article, ArticleContext
from polex.pipeline.registry import select

# A researcher's schema whose rules find every "N people" figure and call it a
# goal when the clause says "will" or "target", else a result.
COUNTS_SCHEMA = '''
"""PeopleCount: counts of people, goal or result, with rules."""
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from polex.pipeline.spec import FieldScore, SchemaSpec, Scoring
from polex.pipeline.text import containing, sentences


class PeopleCount(BaseModel):
    evidence: str = Field(description="The sentence holding the number, verbatim.")
    value: float = Field(description="The number of people.")
    kind: Literal["target", "actual"] = Field(description="A goal or a result.")


def rules(ctx):
    found = []
    for mention in ctx.mentions:
        if not mention.of_interest or mention.unit != "persons":
            continue
        sentence = containing(sentences(ctx.text), mention.start)
        if sentence is None:
            continue
        goal = re.search(r"\\b(will|target)\\b", sentence.text)
        found.append((PeopleCount(evidence=sentence.text, value=mention.value,
                                  kind="target" if goal else "actual"), sentence.start))
    return found


SPEC = SchemaSpec(
    name="PeopleCount",
    version=1,
    model=PeopleCount,
    prompt=Path(__file__).with_name("people_count.v1.md"),
    offline=rules,
    quantity_field="value",
    scoring=Scoring(
        fields=(FieldScore("value", "numeric", key=True), FieldScore("kind", "exact", key=True),
                FieldScore("evidence", "span")),
        anchors=("value", "evidence"),
    ),
)
'''

TOWNS = ("Anhe", "Baiyun", "Chengxi", "Dongpu", "Ermen", "Fushan", "Gaotai", "Hexi")


def _counts_spec(tmp_path: Path) -> Any:
    (tmp_path / "people_count.py").write_text(textwrap.dedent(COUNTS_SCHEMA))
    (tmp_path / "people_count.v1.md").write_text("{{ text }}")
    [spec] = select(["PeopleCount"], [tmp_path])
    return spec


def _gold_the_rules_get_right() -> list[GoldArticle]:
    """Articles whose every figure the rules read right, in varied words, with
    distractor numbers that are no record: a small gold the rules fit exactly."""
    gold = []
    for k, town in enumerate(TOWNS):
        goal = f"{town} will train {1000 + 10 * k} people next year."
        done = f"Last year {town} placed {2000 + 30 * k} people in new jobs."
        noise = f"The county has {3 + k} districts and {40 + k} villages."
        text = f"{goal} {noise} {done}"
        records = [
            {"evidence": goal, "value": 1000 + 10 * k, "kind": "target"},
            {"evidence": done, "value": 2000 + 30 * k, "kind": "actual"},
        ]
        gold.append(GoldArticle(Article(f"a{k}", text), records))
    return gold


def test_training_keeps_the_rules_unless_the_classifiers_beat_them_out_of_fold(tmp_path: Path) -> None:
    spec = _counts_spec(tmp_path)
    gold = _gold_the_rules_get_right()
    model, report = train(spec, gold)
    assert report.out_of_fold["f1_fully_right_rules"] == 1.0
    assert report.engine == "rules" and model.info["engine"] == "rules"
    saved = tmp_path / "model.npz"
    model.save(saved)
    assert LearnedModel.load(saved).info["engine"] == "rules"  # the choice is in the artefact
    article = Article("new", "Hexi will train 5000 people. Hexi has 12 villages. Hexi hired 700 people.")
    ctx = ArticleContext(article)
    predictions = predict(spec, model, ctx)
    assert [p.record for p in predictions] == [r for r, _ in spec.offline(ctx)]
    assert all(0.0 <= p.confidence <= 1.0 for p in predictions)


def test_training_keeps_the_classifiers_when_the_rules_are_worse(tmp_path: Path) -> None:
    spec = _counts_spec(tmp_path)
    # the gold says the opposite of the rules' kind cue: the rules get no record right
    gold = [
        GoldArticle(
            g.article,
            [{**r, "kind": "actual" if r["kind"] == "target" else "target"} for r in g.records],
        )
        for g in _gold_the_rules_get_right()
    ]
    model, report = train(spec, gold)
    assert report.out_of_fold["f1_fully_right_rules"] == 0.0
    assert report.engine == "learned" and model.info["engine"] == "learned"


def test_a_sentence_with_two_measures_teaches_both_categories() -> None:
    [spec] = select(["PolicyMeasure"], [])
    both = "The city held 40 job fairs and trained 3,000 workers in new skills this year."
    text = f"{both} The mayor spoke about the economy at length on Monday."
    records = [
        {"evidence": "held 40 job fairs", "category": "employment_services", "description": "fairs"},
        {"evidence": "trained 3,000 workers in new skills", "category": "skills_training", "description": "x"},
    ]
    examples, unaligned, total = examples_of(spec, [GoldArticle(Article("two", text), records)])
    [carrier] = [e for e in examples if e.keep]
    assert (unaligned, total) == (1, 2)
    taught = [carrier.labels["category"], *(o["category"] for o in carrier.other_labels)]
    assert sorted(taught) == ["employment_services", "skills_training"]


def _model_with_info(info: dict[str, Any]) -> LearnedModel:
    from polex.pipeline.learning.linear import Calibrator, Vocabulary

    classifier = LinearClassifier(("a", "b", "c"), np.zeros((3, 1)), np.zeros(3))
    return LearnedModel(
        schema="X",
        candidates="sentences",
        feature_version=0,
        vocabulary=Vocabulary(("bias",)),
        keep=LinearClassifier(("0", "1"), np.zeros((1, 1)), np.zeros(1)),
        labels={"label": classifier},
        calibrator=Calibrator(np.zeros(0), np.zeros(0)),
        threshold=0.5,
        info=info,
    )


def test_a_second_label_probable_enough_gives_a_second_record_of_the_same_sentence() -> None:
    probabilities = {"label": np.array([[0.5, 0.35, 0.15]])}
    labels = {"label": "a"}
    model = _model_with_info({"other_label_min": 0.3})
    [(other, raw)] = other_labels(model, probabilities, 0, labels, {"label"}, 0.4)
    assert other == {"label": "b"}
    assert abs(raw - 0.4 / 0.5 * 0.35) < 1e-9
    # a model trained without the setting (number candidates, older models) gives none
    assert other_labels(_model_with_info({}), probabilities, 0, labels, {"label"}, 0.4) == []
