"""Periods written the way translations and reports write them (GUIDELINES rules 19,
21a, 47, 102), and which year "this year" means."""

from __future__ import annotations

import pytest

from polex.pipeline.periods import period_in, relative_year


@pytest.mark.parametrize(
    ("fragment", "period"),
    [
        ("In 1-11 months of 2020, the city added 53,000 new urban jobs", "2020-01/2020-11"),
        ("From 1 to 10 months of this year, the province trained 8,000 people", "2021-01/2021-10"),
        ("1~6 month, the county transferred 3,000 rural workers", "2021-01/2021-06"),
        ("In 2020, 1-9 months, 12,000 people found jobs", "2020-01/2020-09"),
    ],
)
def test_a_translated_span_of_months_from_january_is_read(fragment: str, period: str) -> None:
    assert period_in(fragment, 2021) == period


@pytest.mark.parametrize(
    "fragment",
    [
        "trainees are paid 1,500 yuan for 1-3 months of training",
        "the 2,000 trainees studied for 3-6 months",
    ],
)
def test_a_duration_in_months_is_no_period(fragment: str) -> None:
    assert period_in(fragment, 2021) is None


def test_a_span_of_months_whose_year_the_text_does_not_fix_has_no_period() -> None:
    assert period_in("In 1-11 months, the city added 53,000 new urban jobs", None) is None


@pytest.mark.parametrize(
    ("fragment", "period"),
    [
        ("The urban registered unemployment rate during Q1 2020 was 3.73 percent", "2020-01/2020-03"),
        ("In the second quarter of 2019, 1.2 million people found jobs", "2019-04/2019-06"),
        ("In the fourth quarter of last year, exports of labour rose 4 percent", "2020-10/2020-12"),
    ],
)
def test_a_quarter_is_its_three_months(fragment: str, period: str) -> None:
    assert period_in(fragment, 2021) == period


@pytest.mark.parametrize(
    "fragment",
    [
        "By the end of June 2019, 28,000 migrant workers had returned",
        "As of the end of June 2019, 28,000 migrant workers had returned",
    ],
)
def test_the_end_of_a_month_with_its_year_is_that_month(fragment: str) -> None:
    assert period_in(fragment, None) == "2019-06"  # rule 102


def test_a_year_named_only_further_down_does_not_fix_this_year() -> None:
    text = (
        "Mayor Touts Jobs Plan\n\n"
        "The mayor said the city would keep the unemployment rate under 4 percent this year.\n\n"
        "The registered unemployment rate was 3.37 percent last year.\n\n"
        + "The mayor spoke of jobs, skills and loans at length. " * 8
        + "\n\nIn 2003 alone, the city received 39,000 graduates.\n"
    )
    # rules 21a, 47: the text never names the current year of the report
    assert relative_year(text) is None


def test_a_span_of_months_without_its_year_takes_the_year_the_article_names() -> None:
    from polex.pipeline.learning.candidates import mention_candidates
    from polex.pipeline.learning.extract import figure_period
    from polex.pipeline.records import Article, ArticleContext

    text = (
        "Anhui adds jobs\n\n"
        + "The province has adhered to employment priority and taken many measures. " * 6
        + "\n\nIt held the 2025 Spring Breeze Action for job seekers.\n\n"
        "In the first two months, the province added 115,000 new urban jobs.\n\n"
        "In the first nine months of this year, 20,000 rural workers were trained.\n"
    )
    ctx = ArticleContext(Article("a", text))
    by_value = {c.mention.value: c for c in mention_candidates(ctx) if c.mention is not None}
    assert relative_year(text) is None  # the lead names no year: "this year" is open
    assert figure_period(ctx, by_value[115000], None) == "2025-01/2025-02"
    assert figure_period(ctx, by_value[20000], None) is None  # "this year" stays open (rule 21a)


def test_a_year_further_down_that_the_article_plans_for_is_this_year() -> None:
    text = (
        "This year, 340,000 new jobs will be created in cities and towns.\n"
        + "The province will stabilise employment and organise poverty alleviation. " * 6
        + "\nThe meeting demanded that in 2020, the province's work should focus on poverty.\n"
    )
    assert relative_year(text) == 2020  # rule 19's own example (seed 001)
