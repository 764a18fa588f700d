"""The harness: gold scored against itself is perfect, and each kind of error
moves exactly the numbers it should."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from polex.evals.compare_runs import compare_runs
from polex.evals.eval_report import Baseline
from polex.evals.harness import GateFailure, check_gates, evaluate
from polex.evals.scoring import Item, score_article
from polex.pipeline.cli import app
from polex.pipeline.grounding import locate
from polex.pipeline.registry import discover
from tests.conftest import GOLD, SEEDS

SPECS = list(discover().values())
QT = discover()["QuantitativeTarget"]
ARTICLES = sorted(p.stem for p in GOLD.glob("*.json"))


def gold_records() -> dict[str, dict[str, list[dict[str, Any]]]]:
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for path in sorted(GOLD.glob("*.json")):
        data = json.loads(path.read_text("utf-8"))
        out[data["article_id"]] = {s.name: data.get(s.name, []) for s in SPECS}
    return out


def make_run(
    root: Path, records: dict[str, dict[str, list[dict[str, Any]]]], statuses: dict[str, str] | None = None
) -> Path:
    """A run directory holding exactly these records (offsets located in the seeds)."""
    root.mkdir(parents=True, exist_ok=True)
    articles = []
    rows: dict[str, list[dict[str, Any]]] = {s.name: [] for s in SPECS}
    for article_id, by_schema in records.items():
        text = (SEEDS / f"{article_id}.txt").read_text("utf-8")
        articles.append(
            {
                "id": article_id,
                "source": str(SEEDS / f"{article_id}.txt"),
                "status": (statuses or {}).get(article_id, "ok"),
            }
        )
        for name, recs in by_schema.items():
            for rec in recs:
                found = locate(rec["evidence"], text) or (0, 0, "exact")
                clean = {k: v for k, v in rec.items() if k not in ("note", "uncertain", "value_candidates")}
                rows[name].append(
                    {
                        "article_id": article_id,
                        "record": clean,
                        "char_start": found[0],
                        "char_end": found[1],
                        "alignment": found[2],
                        "flags": [],
                    }
                )
    (root / "manifest.json").write_text(json.dumps({"articles": articles, "backend": {"backend": "test"}}))
    for name, rs in rows.items():
        (root / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rs))
    (root / "rejected.jsonl").write_text("")
    return root


def headline(tmp: Path, records: dict[str, Any], **kwargs: Any) -> dict[str, float]:
    return evaluate(make_run(tmp, records, **kwargs), GOLD, SPECS, SEEDS).report.headline


def test_gold_against_itself_is_perfect_everywhere(tmp_path: Path) -> None:
    result = evaluate(make_run(tmp_path / "r", gold_records()), GOLD, SPECS, SEEDS).report
    assert result.headline and all(v == 1.0 for v in result.headline.values()), result.headline
    for schema in result.schemas.values():
        assert schema.intervals_95.strict.macro_f1 == [1.0, 1.0]
        assert all(f.f1 == 1.0 for f in schema.fields.values())
        assert schema.muc.missing == schema.muc.spurious == schema.muc.incorrect == 0


def test_an_empty_run_scores_zero_recall_and_every_record_missing(tmp_path: Path) -> None:
    empty = {a: {s.name: [] for s in SPECS} for a in ARTICLES}
    report = evaluate(make_run(tmp_path / "r", empty), GOLD, SPECS, SEEDS).report
    assert report.headline["QuantitativeTarget.lenient_recall"] == 0.0
    assert report.schemas["QuantitativeTarget"].muc.missing == 68


def test_a_failed_or_absent_article_scores_as_empty_output(tmp_path: Path) -> None:
    records = gold_records()
    del records["004_76301af96bdc979d"]
    h = headline(tmp_path / "r", records)
    assert h["QuantitativeTarget.lenient_f1"] == pytest.approx(0.8)  # 4 of 5 articles perfect
    report = evaluate(tmp_path / "r", GOLD, SPECS, SEEDS).report
    assert report.articles_missing_from_run == ["004_76301af96bdc979d"]


def test_spurious_and_duplicate_records_cost_precision_only(tmp_path: Path) -> None:
    records = gold_records()
    extra = copy.deepcopy(records["000_f717e4e5ad01f3aa"]["QuantitativeTarget"][0])
    records["000_f717e4e5ad01f3aa"]["QuantitativeTarget"].append(extra)  # a duplicate
    h = headline(tmp_path / "r", records)
    assert h["QuantitativeTarget.lenient_recall"] == 1.0
    assert h["QuantitativeTarget.lenient_precision"] == pytest.approx((1 + 1 + 1 + 1 + 7 / 8) / 5)


def _one(gold: dict[str, Any], pred: dict[str, Any]) -> tuple[bool, bool, dict[str, str]]:
    score = score_article(QT, "a", [Item(pred)], [Item(gold)])
    pairs = [p for p in score.pairs if p.gold is not None and p.pred is not None]
    if not pairs:
        return False, False, {}
    return pairs[0].lenient, pairs[0].strict, pairs[0].fields


GOLD_RATE = {
    "evidence": "0.17 percentage points lower than the annual target",
    "indicator": "registered_unemployment_rate",
    "indicator_text": "lower than the annual target",
    "value": -0.17,
    "unit": "percentage_points",
    "kind": "change",
    "comparator": "eq",
    "period": "2021",
    "region": "Liaoning",
}


def test_wrong_unit_is_an_incorrect_field_but_lenient_still_matches() -> None:
    lenient, strict, fields = _one(GOLD_RATE, {**GOLD_RATE, "unit": "other"})
    assert (lenient, strict, fields["unit"]) == (True, False, "incorrect")


def test_percent_versus_percentage_points() -> None:
    _lenient, strict, fields = _one(GOLD_RATE, {**GOLD_RATE, "unit": "percent"})
    assert fields["unit"] == "incorrect" and not strict


def test_the_sign_of_a_change_matters() -> None:
    lenient, _, fields = _one(GOLD_RATE, {**GOLD_RATE, "value": 0.17})
    assert not lenient and fields["value"] == "incorrect"


def test_uncertain_gold_accepts_any_candidate_reading() -> None:
    gold = {
        **GOLD_RATE,
        "value": 28600,
        "value_candidates": [28600, 286000, 2860000],
        "unit": "persons",
        "kind": "actual",
    }
    assert _one(gold, {**gold, "value": 2860000})[0]
    assert not _one(gold, {**gold, "value": 2860})[0]


def test_uncertain_gold_accepts_a_candidate_label_too() -> None:
    gold = {**GOLD_RATE, "uncertain": True, "kind_candidates": ["actual"]}
    assert gold["kind"] != "actual"
    assert _one(gold, {**gold, "kind": "actual"})[2]["kind"] == "correct"
    assert _one(gold, {**gold, "kind": "target"})[2]["kind"] == "incorrect"


def test_a_null_gold_field_accepts_its_candidates() -> None:
    gold = {**GOLD_RATE, "period": None, "uncertain": True, "period_candidates": [None, "2019"]}
    _, strict, fields = _one(gold, {**gold, "period": "2019"})
    assert fields["period"] == "correct" and strict
    _, strict, fields = _one(gold, {**gold, "period": "2020"})
    assert fields["period"] == "spurious" and not strict
    _, strict, fields = _one(gold, {**gold, "period": None})
    assert fields["period"] == "both_empty" and strict


def test_no_value_is_right_where_none_is_a_candidate() -> None:
    gold = {**GOLD_RATE, "period": "2019", "uncertain": True, "period_candidates": [None]}
    _, strict, fields = _one(gold, {**gold, "period": None})
    assert fields["period"] == "correct" and strict
    gold_without = {**GOLD_RATE, "period": "2019"}
    _, strict, fields = _one(gold_without, {**gold_without, "period": None})
    assert fields["period"] == "missing" and not strict


def test_unrelated_records_are_never_forced_together() -> None:
    other = {
        **GOLD_RATE,
        "value": 4.33,
        "evidence": "The registered urban unemployment rate was 4.33 percent",
    }
    score = score_article(QT, "a", [Item(other, (0, 10))], [Item(GOLD_RATE, (50, 90))])
    assert [(p.gold, p.pred) for p in score.pairs] == [(0, None), (None, 0)]


def test_swapping_record_order_changes_nothing(tmp_path: Path) -> None:
    records = gold_records()
    # make the run imperfect so the order could matter
    records["004_76301af96bdc979d"]["QuantitativeTarget"][3]["value"] = 0.17
    records["002_b54908c3101e4205"]["QuantitativeTarget"].pop()
    first = evaluate(make_run(tmp_path / "a", records), GOLD, SPECS, SEEDS).report.headline
    shuffled = copy.deepcopy(records)
    for by_schema in shuffled.values():
        for recs in by_schema.values():
            random.Random(3).shuffle(recs)
    second = evaluate(make_run(tmp_path / "b", shuffled), GOLD, SPECS, SEEDS).report.headline
    assert first == second


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
    index=st.integers(0, 4),
    kind=st.sampled_from(["actual", "target", "change", "completion_rate"]),
)
def test_adding_a_spurious_record_never_raises_precision(value: float, index: int, kind: str) -> None:
    article = ARTICLES[index]
    gold = [Item(r) for r in gold_records()[article]["QuantitativeTarget"]]
    preds = [Item(copy.deepcopy(r.record)) for r in gold[::2]]
    before = score_article(QT, article, preds, gold)
    spurious = {**preds[0].record, "value": value, "kind": kind, "evidence": "nothing like it"}
    after = score_article(QT, article, [*preds, Item(spurious)], gold)
    p_before = before.lenient_tp / before.n_pred
    p_after = after.lenient_tp / after.n_pred
    assert p_after <= p_before


def test_gates(tmp_path: Path) -> None:
    h = {"QuantitativeTarget.lenient_f1": 0.8}
    check_gates(h, ["QuantitativeTarget.lenient_f1=0.7"], None, 0.0)
    with pytest.raises(GateFailure, match=r"under 0\.9000"):
        check_gates(h, ["QuantitativeTarget.lenient_f1=0.9"], None, 0.0)
    with pytest.raises(GateFailure, match=r"dropped from 0\.9000 to 0\.8000"):
        check_gates(h, [], Baseline(headline={"QuantitativeTarget.lenient_f1": 0.9}), 0.05)
    check_gates(h, [], Baseline(headline={"QuantitativeTarget.lenient_f1": 0.82}), 0.05)
    with pytest.raises(GateFailure, match="unknown metric"):
        check_gates(h, ["nope=1"], None, 0.0)


def test_eval_command_writes_reports_and_applies_gates(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", gold_records())
    cli = CliRunner()
    ok = cli.invoke(
        app, ["eval", str(run), "--gold", str(GOLD), "--fail-under", "QuantitativeTarget.strict_f1=1"]
    )
    assert ok.exit_code == 0, ok.output
    assert (run / "eval.json").is_file() and "## Headline" in (run / "eval.md").read_text()
    records = gold_records()
    records["000_f717e4e5ad01f3aa"]["QuantitativeTarget"] = []
    worse = make_run(tmp_path / "w", records)
    bad = cli.invoke(
        app,
        ["eval", str(worse), "--gold", str(GOLD), "--baseline", str(run / "eval.json"), "--max-drop", "0.01"],
    )
    assert bad.exit_code == 1 and "gate failed: QuantitativeTarget" in bad.output


def test_compare_reports_paired_differences_and_who_gets_what_right(tmp_path: Path) -> None:
    perfect = evaluate(make_run(tmp_path / "a", gold_records()), GOLD, SPECS, SEEDS)
    records = gold_records()
    records["003_85cd8f6cae44c8d1"]["QuantitativeTarget"] = []
    worse = evaluate(make_run(tmp_path / "b", records), GOLD, SPECS, SEEDS)
    result = compare_runs(perfect, worse)["schemas"]["QuantitativeTarget"]
    assert result["lenient_macro_f1"]["b_minus_a"] == pytest.approx(-0.2)
    low, high = result["lenient_macro_f1"]["interval_95"]
    assert low <= -0.2 <= high <= 0
    assert len(result["only_a_right"]) == 7 and result["only_b_right"] == []


def test_gold_agreement_is_one_with_itself_and_drops_with_a_changed_label(tmp_path: Path) -> None:
    import shutil

    from polex.evals.agreement import agreement
    from polex.pipeline.registry import discover

    specs = list(discover([]).values())
    same = agreement(GOLD, GOLD, SEEDS, specs)
    assert all(s["lenient_micro_f1"] == 1.0 for s in same["schemas"].values())
    other = tmp_path / "other"
    shutil.copytree(GOLD, other)
    path = sorted(other.glob("*.json"))[0]
    data = json.loads(path.read_text())
    data["QuantitativeTarget"][0]["indicator"] = "other"
    del data["QuantitativeTarget"][1]
    path.write_text(json.dumps(data))
    changed = agreement(GOLD, other, SEEDS, specs)["schemas"]["QuantitativeTarget"]
    n = changed["records_a"]
    assert changed["records_b"] == n - 1
    assert changed["lenient_micro_f1"] == pytest.approx(2 * (n - 2) / (2 * n - 1))


def test_gold_agreement_gives_no_f1_for_a_field_both_labellings_leave_empty(tmp_path: Path) -> None:
    import shutil

    from polex.evals.agreement import agreement
    from polex.pipeline.registry import discover

    blank = tmp_path / "blank"
    shutil.copytree(GOLD, blank)
    for path in blank.glob("*.json"):
        data = json.loads(path.read_text())
        for record in data.get("FundingAllocation", []):
            record["period"] = None
        path.write_text(json.dumps(data))
    fields = agreement(blank, blank, SEEDS, list(discover([]).values()))["schemas"]["FundingAllocation"][
        "fields_f1"
    ]
    assert fields["period"] is None  # nothing to agree on: not a disagreement of 0
    assert fields["amount"] == 1.0


def test_compare_resamples_both_runs_on_the_same_articles(tmp_path: Path) -> None:
    """Paired: a run compared with itself differs by exactly 0 in every resample."""
    records = gold_records()
    records["003_85cd8f6cae44c8d1"]["QuantitativeTarget"] = []
    run = evaluate(make_run(tmp_path / "a", records), GOLD, SPECS, SEEDS)
    same = compare_runs(run, run)["schemas"]["QuantitativeTarget"]["lenient_macro_f1"]
    assert same["b_minus_a"] == 0.0 and same["interval_95"] == [0.0, 0.0]


def test_intervals_are_scipy_percentile_bootstrap_over_articles_with_a_fixed_seed() -> None:
    import numpy as np
    from scipy.stats import bootstrap

    from polex.evals.bootstrap import RESAMPLES, article_interval, mean

    f1 = np.array([0.0, 0.5, 1.0, 1.0, 0.25, 0.75])
    ours = article_interval([f1], mean, seed=13)
    theirs = bootstrap(
        (f1,), np.mean, n_resamples=RESAMPLES, method="percentile", rng=np.random.default_rng(13)
    ).confidence_interval
    assert ours == pytest.approx([theirs.low, theirs.high])
    assert ours == article_interval([f1], mean, seed=13)  # deterministic
    assert article_interval([f1[:1]], mean, seed=13) == [0.0, 0.0]  # one article: the value itself
    assert article_interval([f1[:0]], mean, seed=13) == [0.0, 0.0]


def test_eval_json_reads_back_as_the_typed_report_it_was_written_from(tmp_path: Path) -> None:
    from polex.evals.eval_report import load_eval_report

    run = make_run(tmp_path / "r", gold_records())
    result = CliRunner().invoke(app, ["eval", str(run), "--gold", str(GOLD), "--articles", str(SEEDS)])
    assert result.exit_code == 0, result.output
    report = load_eval_report(run / "eval.json")
    expected = evaluate(run, GOLD, SPECS, SEEDS).report
    assert report.model_dump(exclude={"created"}) == expected.model_dump(exclude={"created"})
    assert report.schemas["PolicyMeasure"].set_f1 == {"category": 1.0}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "is not a baseline"),
        ('{"articles": []}', "headline"),
        ('{"headline": {"x": "high"}}', "headline.x"),
    ],
)
def test_a_corrupt_or_foreign_baseline_is_an_error_naming_the_file(
    tmp_path: Path, content: str, problem: str
) -> None:
    run = make_run(tmp_path / "r", gold_records())
    baseline = tmp_path / "my-baseline.json"
    baseline.write_text(content)
    result = CliRunner().invoke(app, ["eval", str(run), "--gold", str(GOLD), "--baseline", str(baseline)])
    assert result.exit_code == 2
    assert "my-baseline.json" in result.output and problem in result.output
    assert (run / "eval.json").is_file()  # the evaluation itself is kept


def test_a_foreign_file_is_not_read_as_an_eval_report(tmp_path: Path) -> None:
    from polex.evals.eval_report import load_eval_report
    from polex.evals.loading import EvalInputError

    run = make_run(tmp_path / "r", gold_records())
    with pytest.raises(EvalInputError, match=r"manifest\.json is not a polex evaluation report"):
        load_eval_report(run / "manifest.json")
