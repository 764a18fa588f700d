"""The generic learner never ships classifiers worse than the schema's own rules:
it compares them out of fold and keeps the rules unless the classifiers beat them."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from polex.pipeline.learning.extract import predict
from polex.pipeline.learning.model import LearnedModel
from polex.pipeline.learning.train import GoldArticle, share_learned_beats_rules, train
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


def test_the_classifiers_must_beat_the_rules_on_most_resamples_of_the_articles() -> None:
    # (kept score, raw, right) per candidate; four articles of one gold record each
    groups = [0, 1, 2, 3]
    gold = {0: 1, 1: 1, 2: 1, 3: 1}
    rules = [(1.0, 0.5, True), (1.0, 0.5, False), (1.0, 0.5, False), (1.0, 0.5, False)]
    better_everywhere = [(0.9, 0.5, True)] * 4
    better_on_one = [(0.9, 0.5, True), (0.9, 0.5, True), (0.9, 0.5, False), (0.9, 0.5, False)]
    assert share_learned_beats_rules(better_everywhere, rules, 0.5, groups, gold, 0) > 0.9
    # right once more than the rules: better on these articles, not on most resamples
    assert share_learned_beats_rules(better_on_one, rules, 0.5, groups, gold, 0) < 0.9
