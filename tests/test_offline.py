"""The offline extractor on sentences of the seeds and ones written here."""

from __future__ import annotations

from polex.pipeline.records import Article, ArticleContext
from polex.schemas.policy_measure.offline import classify, target_groups
from polex.schemas.quantitative_target.offline import extract


def records(text: str) -> list[tuple[str, float, str, str, str]]:
    ctx = ArticleContext(Article("t", text))
    return [(r.indicator, r.value, r.unit, r.kind, r.comparator) for r, _ in extract(ctx)]


def test_one_record_per_number_with_inherited_indicator() -> None:
    text = (
        "From January to November this year, 686000 new jobs were created in cities and towns across the "
        "province, completing 108.9% of the annual target tasks, an increase of 9.88% year-on-year."
    )
    assert records(text) == [
        ("new_urban_jobs", 686000, "persons", "actual", "eq"),
        ("new_urban_jobs", 108.9, "percent", "completion_rate", "eq"),
        ("new_urban_jobs", 9.88, "percent", "change", "eq"),
    ]


def test_goals_and_signed_changes() -> None:
    assert records("This year, we will control the registered unemployment rate within 4.5%.") == [
        ("registered_unemployment_rate", 4.5, "percent", "target", "at_most")
    ]
    text = (
        "The registered unemployment rate was 4.33 percent, "
        "0.17 percentage points lower than the annual target."
    )
    assert records(text)[1] == ("registered_unemployment_rate", -0.17, "percentage_points", "change", "eq")


def test_money_prefers_money_indicators() -> None:
    text = "The average annual income per capita of flexible employment increased by more than 20,000 yuan."
    assert records(text) == [("disposable_income", 20000, "yuan", "change", "at_least")]


def test_excluded_contexts_yield_no_record() -> None:
    assert records("Jiangsu has a permanent population of more than 80 million.") == []
    assert records("Neusoft Medical Co., Ltd. has developed more than 40 positions.") == []


def test_policy_measure_classification() -> None:
    assert classify(
        "The province reduced unemployment insurance premiums by 1.2 billion yuan for enterprises"
    ) == ("job_retention_relief")
    assert classify("Employment is the foundation of people's livelihood") is None
    assert target_groups("promote the employment of college graduates and migrant workers") == [
        "college_graduates",
        "migrant_workers",
    ]


def test_a_bare_unemployment_rate_is_registered_before_2018_and_surveyed_from_2018() -> None:
    # guidelines 16b and 81: the year of the figure decides, and a survey named in
    # the sentence names the surveyed rate whatever the year
    assert (
        records("In 2016, the urban unemployment rate was 4.0 percent.")[0][0]
        == "registered_unemployment_rate"
    )
    assert (
        records("In 2019, the urban unemployment rate was 5.2 percent.")[0][0] == "surveyed_unemployment_rate"
    )
    survey = "In 2010, the unemployment rate in the national urban survey was 5.1%."
    assert records(survey)[0][0] == "surveyed_unemployment_rate"
    named = "In 2019, the registered unemployment rate was 3.6 percent."
    assert records(named)[0][0] == "registered_unemployment_rate"
