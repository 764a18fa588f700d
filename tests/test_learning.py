"""Learned offline extraction: deterministic training, a model file read without
pickle, confidences in the outputs, and a new schema that learns from its gold
with `polex train` and no code of its own."""

from __future__ import annotations

import json
import textwrap
import zipfile
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from polex.evals.training import GoldSource, training_articles
from polex.pipeline.cli import app
from polex.pipeline.learning.candidates import Candidate
from polex.pipeline.learning.extract import label_fields, predict
from polex.pipeline.learning.model import LearnedModel
from polex.pipeline.learning.train import calibration_points, train
from polex.pipeline.records import Article, ArticleContext
from polex.pipeline.registry import select
from polex.pipeline.runstore import read_jsonl
from polex.pipeline.spec import SchemaSpec
from tests.conftest import GOLD, SEEDS

SEED_ONLY = (GoldSource(GOLD, SEEDS, None),)


def test_training_is_deterministic_and_the_model_file_holds_no_pickle(tmp_path: Path) -> None:
    [spec] = select(["FundingAllocation"], [])
    gold = training_articles(spec.name, SEED_ONLY)
    first, _ = train(spec, gold, seed=0)
    second, _ = train(spec, gold, seed=0)
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    first.save(a)
    second.save(b)
    with np.load(a, allow_pickle=False) as x, np.load(b, allow_pickle=False) as y:
        assert sorted(x.files) == sorted(y.files)
        for key in x.files:
            assert np.array_equal(x[key], y[key]), key
    with zipfile.ZipFile(a) as archive:
        for name in archive.namelist():
            assert b"\x80\x04" not in archive.read(name)[:2], f"{name} is a pickle"
    reloaded = LearnedModel.load(a)
    article = gold[-1].article
    before = predict(spec, first, ArticleContext(article))
    after = predict(spec, reloaded, ArticleContext(article))
    assert [(p.record, round(p.confidence, 6)) for p in before] == [
        (p.record, round(p.confidence, 6)) for p in after
    ]


def test_the_offline_backend_writes_a_confidence_for_every_learned_record(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(SEEDS), "--out", str(run), "--backend", "offline"])
    assert result.exit_code == 0, result.output
    rows = read_jsonl(run / "QuantitativeTarget.jsonl")
    assert rows and all(0.0 <= r["confidence"] <= 1.0 for r in rows)
    header = (run / "QuantitativeTarget.csv").read_text().splitlines()[0].split(",")
    assert "confidence" in header
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["schemas"]["QuantitativeTarget"]["learned_model_sha256"]
    rules = tmp_path / "rules"
    CliRunner().invoke(app, ["run", str(SEEDS), "--out", str(rules), "--backend", "offline", "--rules-only"])
    assert all(r["confidence"] is None for r in read_jsonl(rules / "QuantitativeTarget.jsonl"))


PERSONS_SCHEMA = '''
"""PersonsFigure: counts of people, goal or result (a researcher's schema: no rules)."""
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from polex.pipeline.checks import number_in_evidence
from polex.pipeline.spec import FieldScore, SchemaSpec, Scoring


class PersonsFigure(BaseModel):
    evidence: str = Field(description="The clause holding the number, verbatim.")
    value: float = Field(description="The number of people.")
    kind: Literal["target", "actual"] = Field(description="A goal or a result.")


SPEC = SchemaSpec(
    name="PersonsFigure",
    version=1,
    model=PersonsFigure,
    prompt=Path(__file__).with_name("persons_figure.v1.md"),
    checks=(number_in_evidence("value"),),
    quantity_field="value",
    scoring=Scoring(
        fields=(FieldScore("value", "numeric", key=True), FieldScore("kind", "exact", key=True),
                FieldScore("evidence", "span")),
        anchors=("value", "evidence"),
    ),
)
'''


def test_a_new_schema_without_rules_learns_from_its_gold_with_polex_train(tmp_path: Path) -> None:
    schemas = tmp_path / "lab"
    schemas.mkdir()
    (schemas / "persons_figure.py").write_text(textwrap.dedent(PERSONS_SCHEMA))
    (schemas / "persons_figure.v1.md").write_text("{{ text }}")
    gold = tmp_path / "gold"
    gold.mkdir()
    for path in sorted(GOLD.glob("*.json")):
        data = json.loads(path.read_text())
        records = [
            {
                "evidence": r["evidence"],
                "value": r["value"],
                "kind": "target" if r["kind"] == "target" else "actual",
            }
            for r in data["QuantitativeTarget"]
            if r["unit"] == "persons" and not r.get("uncertain")
        ]
        (gold / path.name).write_text(
            json.dumps({"article_id": data["article_id"], "PersonsFigure": records})
        )
    cli = CliRunner()
    args = ["--schema", "PersonsFigure", "--schema-dir", str(schemas)]
    before = cli.invoke(
        app, ["run", str(SEEDS), "--out", str(tmp_path / "r0"), "--backend", "offline", *args]
    )
    assert before.exit_code == 1
    errors = read_jsonl(tmp_path / "r0" / "errors.jsonl")
    assert errors and all("no offline rules and no trained model" in e["error"] for e in errors)

    trained = cli.invoke(app, ["train", "--gold", str(gold), "--articles", str(SEEDS), *args])
    assert trained.exit_code == 0, trained.output
    assert (schemas / "learned.npz").is_file()
    [spec] = select(["PersonsFigure"], [schemas])
    assert label_fields(spec) == ("kind",)

    run = tmp_path / "r1"
    ran = cli.invoke(app, ["run", str(SEEDS), "--out", str(run), "--backend", "offline", *args])
    assert ran.exit_code == 0, ran.output
    rows = read_jsonl(run / "PersonsFigure.jsonl")
    assert len(rows) >= 10 and {r["record"]["kind"] for r in rows} <= {"target", "actual"}
    scored = cli.invoke(app, ["eval", str(run), "--gold", str(gold), "--articles", str(SEEDS), *args[2:]])
    assert scored.exit_code == 0, scored.output
    report = json.loads((run / "eval.json").read_text())
    assert report["headline"]["PersonsFigure.lenient_f1"] > 0.5  # in-sample: the path works, nothing more


def test_evaluation_reports_each_split_and_a_reliability_table(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cli = CliRunner()
    corpus = GOLD.parent / "corpus"
    assert (
        cli.invoke(
            app, ["run", str(corpus / "articles"), "--out", str(run), "--backend", "offline"]
        ).exit_code
        == 0
    )
    scored = cli.invoke(
        app, ["eval", str(run), "--gold", str(corpus / "gold"), "--articles", str(corpus / "articles")]
    )
    assert scored.exit_code == 0, scored.output
    report = json.loads((run / "eval.json").read_text())
    assert {"split=dev", "split=test", "split=test,origin=machine_translated"} <= set(report["groups"])
    test_group = report["groups"]["split=test"]["schemas"]["QuantitativeTarget"]
    calibration = test_group["calibration"]
    assert calibration["records"] == test_group["n_pred"] and 0.0 <= calibration["ece"] <= 1.0
    assert sum(b["records"] for b in calibration["bins"]) == calibration["records"]
    assert "By split and origin" in (run / "eval.md").read_text()


def test_a_text_with_no_number_gives_no_quantity_record() -> None:
    [spec] = select(["QuantitativeTarget"], [])
    model = LearnedModel.load(spec.learned_model_path)
    ctx = ArticleContext(Article("x", "Employment is the most basic livelihood of the people."))
    assert predict(spec, model, ctx) == []


def test_the_calibrator_learns_only_from_candidates_that_become_records() -> None:
    scores = [(0.9, 0.8, True), (0.6, 0.5, False), (0.1, 0.05, False), (0.3, 0.2, True)]
    assert calibration_points(scores, 0.5) == [(0.8, True), (0.5, False)]


def test_the_calibrator_leaves_out_the_articles_the_rules_were_written_on() -> None:
    scores = [(0.9, 0.8, True), (0.6, 0.5, False), (0.7, 0.6, True)]
    assert calibration_points(scores, 0.5, [False, True, True]) == [(0.5, False), (0.6, True)]
    assert calibration_points(scores, 0.5, [False, False, False]) == [(0.8, True), (0.5, False), (0.6, True)]


def test_a_candidate_whose_engine_value_is_not_the_gold_reading_counts_as_wrong_for_calibration() -> None:
    from polex.pipeline.learning.extract import find_candidates
    from polex.pipeline.learning.train import engine_value_is_gold

    [spec] = select(["QuantitativeTarget"], [])
    [candidate] = find_candidates(
        spec, ArticleContext(Article("a", "The city added 2860,000 people to jobs."))
    )
    assert candidate.mention is not None and 28600.0 in candidate.mention.readings
    assert engine_value_is_gold(spec, {"value": 2860000}, candidate)
    assert not engine_value_is_gold(
        spec, {"value": 28600}, candidate
    )  # aligned by a reading, emitted as 2860000
    assert engine_value_is_gold(spec, {"value": 28600, "value_candidates": [2860000]}, candidate)


def _only_candidate(text: str) -> tuple[SchemaSpec, ArticleContext, Candidate]:
    from polex.pipeline.learning.extract import find_candidates

    [spec] = select(["QuantitativeTarget"], [])
    ctx = ArticleContext(Article("a", text))
    [candidate] = find_candidates(spec, ctx)
    return spec, ctx, candidate


def test_the_features_name_the_noun_phrase_a_number_counts_without_plurals() -> None:
    from polex.pipeline.learning.features import mention_features

    _, ctx, candidate = _only_candidate("The district organised 33 online jobs fairs during the year.")
    features = mention_features(ctx.text, candidate)
    assert {"np=online", "np=job", "np=fair", "head=fair"} <= set(features)
    assert "np=during" not in features and "np=year" not in features  # the phrase ends at the preposition


def test_the_counted_phrase_scores_the_indicator_whose_label_it_names() -> None:
    from polex.pipeline.learning.extract import pair_inputs

    spec, ctx, candidate = _only_candidate("The district organised 33 online jobs fairs during the year.")
    [per_value] = pair_inputs(spec, ctx, [candidate], [None])["indicator"]
    assert spec.label_lexicon is not None
    values = spec.label_lexicon()["indicator"].values
    fairs = per_value[values.index("job_fairs_and_postings")]
    assert fairs.get("lex:phrase_head") == 1.0 and "lex:phrase_overlap=2" in fairs
    assert "lex:phrase_head" not in per_value[values.index("new_urban_jobs")]


def test_the_counted_phrase_ends_where_the_verb_after_its_noun_begins() -> None:
    from polex.pipeline.learning.features import mention_features

    _, ctx, candidate = _only_candidate("Last year 5,000 people transferred to jobs in cities.")
    features = mention_features(ctx.text, candidate)
    assert "head=people" in features and "np=transferred" not in features
    # participles that stand before a noun as adjectives stay in the phrase
    _, ctx, candidate = _only_candidate("The city had 3,000 registered unemployed persons in 2020.")
    assert "head=person" in mention_features(ctx.text, candidate)


def test_a_number_with_no_noun_after_it_measures_the_noun_phrase_before_it() -> None:
    from polex.pipeline.learning.extract import pair_inputs
    from polex.pipeline.learning.features import mention_features

    spec, ctx, candidate = _only_candidate("The number of job fairs held in the city reached 120.")
    assert "head=city" in mention_features(ctx.text, candidate)  # the clause's noun phrase before it
    spec, ctx, candidate = _only_candidate("Start-up loans of up to 300,000 yuan are available.")
    features = mention_features(ctx.text, candidate)
    assert {"np=start-up", "np=loan", "head=loan"} <= set(features)
    [per_value] = pair_inputs(spec, ctx, [candidate], [None])["indicator"]
    assert spec.label_lexicon is not None
    values = spec.label_lexicon()["indicator"].values
    assert per_value[values.index("startup_loans")].get("lex:phrase_head") == 1.0


def test_the_kind_features_read_the_clause_modality_and_when_its_period_falls() -> None:
    from polex.schemas.quantitative_target.learning import features

    _, ctx, candidate = _only_candidate(
        "In 2020 the province added jobs.\n\nBy 2025, 600,000 new urban jobs will be created."
    )
    goal = features(ctx, candidate)
    assert {"modality=future", "modality=by_year", "period_is=later"} <= set(goal)
    _, ctx, candidate = _only_candidate("In 2020, 600,000 new urban jobs were created.")
    result = features(ctx, candidate)
    # a lead reporting 2020 speaks from the year after (periods.relative_year)
    assert "modality=past" in result and "modality=future" not in result and "period_is=earlier" in result


def test_an_alias_in_the_phrase_a_number_counts_is_a_feature_of_its_own() -> None:
    from polex.pipeline.learning.extract import pair_inputs
    from polex.schemas.quantitative_target.learning import features

    spec, ctx, candidate = _only_candidate("Wuhan created 12,000 new urban jobs in the year.")
    assert {"alias_counted", "alias_counted=new_urban_jobs"} <= set(features(ctx, candidate))
    [per_value] = pair_inputs(spec, ctx, [candidate], [None])["indicator"]
    assert spec.label_lexicon is not None
    values = spec.label_lexicon()["indicator"].values
    assert per_value[values.index("new_urban_jobs")].get("lex:counted") == 1.0
    # an alias elsewhere in the clause is not the counted phrase
    _, ctx, candidate = _only_candidate("New urban jobs rose as 12,000 people found work.")
    assert "alias_counted" not in features(ctx, candidate)


def test_a_figure_stated_twice_knows_where_its_repeat_stands() -> None:
    from polex.pipeline.learning.extract import find_candidates
    from polex.schemas.quantitative_target.learning import features

    [spec] = select(["QuantitativeTarget"], [])
    ctx = ArticleContext(
        Article("a", "Wuhan creates 12,000 new urban jobs\n\nThe city created 12,000 new urban jobs in May.")
    )
    headline, body = find_candidates(spec, ctx)
    assert "repeated_later" in features(ctx, headline) and "repeated_earlier" not in features(ctx, headline)
    assert "repeated_earlier" in features(ctx, body) and "repeated_later" not in features(ctx, body)
    _, ctx, candidate = _only_candidate("Wuhan created 12,000 new urban jobs.")
    assert not {"repeated_earlier", "repeated_later"} & set(features(ctx, candidate))


def test_a_one_sentence_article_gives_its_plain_record() -> None:
    from polex.pipeline.learning.model import default_model_path, load_model

    [spec] = select(["QuantitativeTarget"], [])
    model = load_model(default_model_path(spec.model))
    assert model is not None
    [found] = predict(spec, model, ArticleContext(Article("a", "Wuhan created 12,000 new urban jobs.")))
    record = found.record.model_dump()
    assert (record["indicator"], record["value"], record["kind"]) == ("new_urban_jobs", 12000, "actual")


def test_the_bare_unemployment_rate_is_a_feature_of_its_own_and_the_figure_era_another() -> None:
    from polex.pipeline.learning.extract import pair_inputs
    from polex.schemas.quantitative_target.learning import UNSPECIFIED_RATE, features

    spec, ctx, candidate = _only_candidate("In 2019, the urban unemployment rate was 5.2 percent.")
    found = features(ctx, candidate)
    assert f"alias_nearest={UNSPECIFIED_RATE}" in found and "era=from_2018" in found
    assert "alias_nearest=registered_unemployment_rate" not in found
    # the pair features follow the rules, which read the year, not the bare alias
    [per_value] = pair_inputs(spec, ctx, [candidate], [None])["indicator"]
    assert spec.label_lexicon is not None
    values = spec.label_lexicon()["indicator"].values
    assert "lex:nearest" not in per_value[values.index("registered_unemployment_rate")]
    _, ctx, candidate = _only_candidate("In 2012, the urban unemployment rate was 4.1 percent.")
    assert "era=before_2018" in features(ctx, candidate)


def test_dev_folds_by_batch_hold_out_one_whole_batch_each_and_never_a_test_article() -> None:
    from polex.evals.corpus import CorpusEntry
    from polex.evals.training import dev_folds

    def entry(identifier: str, split: str, batch: int) -> CorpusEntry:
        return CorpusEntry.model_validate(
            {
                "id": identifier,
                "url": f"http://x/{identifier}",
                "title": identifier,
                "published": None,
                "origin": "official_english",
                "split": split,
                "batch": batch,
            }
        )

    entries = [entry("a", "dev", 1), entry("b", "dev", 2), entry("c", "dev", 1), entry("d", "test", 2)]
    by_batch = dev_folds(entries, folds=5, by="batch")
    assert [sorted(fold) for fold in by_batch] == [["a", "c"], ["b"]]
    by_hash = dev_folds(entries, folds=2)
    assert sorted(i for fold in by_hash for i in fold) == ["a", "b", "c"]
    assert len(by_hash) == 2
