"""Period and region of a figure as the guidelines fix them (evals/GUIDELINES.md,
rules 19-21a and 46-49): the clause first, then its sentence, the sentence before,
the paragraph and the list it belongs to; comparison years fix nothing; places the
clause names beat the article's region. Also the learned path's view of
hard-wrapped text."""

from __future__ import annotations

import pytest

from polex.pipeline.learning.candidates import mention_candidates, unwrapped
from polex.pipeline.periods import period_in, period_of_figure, period_reading
from polex.pipeline.places import figure_region, places_named
from polex.pipeline.records import Article, ArticleContext


@pytest.mark.parametrize(
    ("fragment", "year", "period"),
    [
        ("hopes to create 1 million jobs during the 11th Five-Year Plan (2006-10)", None, "2006/2010"),
        ("the plan for 2021-2025", None, "2021/2025"),
        ("2021-04-19 13:43:00", None, "2021"),
        ("By the end of 2010, more than 56 million people", None, "2010"),
        ("More than 4 million farmers will find jobs before 2010", None, "2010"),
        ("in the first five months of 2022", None, "2022-01/2022-05"),
        ("in the first three quarters of this year", 2021, "2021-01/2021-09"),
        ("In 2021, from January to May, 300 jobs", None, "2021-01/2021-05"),
        ("The past year saw 295,000 new graduates", 2006, "2005"),
    ],
)
def test_periods_of_plans_spans_and_parts_of_a_year(fragment: str, year: int | None, period: str) -> None:
    assert period_in(fragment, year) == period


@pytest.mark.parametrize(
    "fragment",
    [
        "6.5 and 15 percentage points higher than during the same period in 2019",
        "0.1 percentage point lower than the same period in 2020 and 2019",
        "up 0.01 point over that in 2002",
        "an increase of 3.2 times from 2012 figures",
        "basically the same level as in 2020",
    ],
)
def test_a_year_a_figure_is_compared_with_is_not_its_period(fragment: str) -> None:
    assert period_reading(fragment, None).named is False


def test_the_clause_decides_the_period_even_when_the_text_does_not_fix_its_year() -> None:
    text = "The rate was down to 4.4 percent last year, from 6.7 percent in 2003."
    clause = (0, text.index(","))
    assert period_of_figure(text, [clause, (0, len(text))], None) is None
    assert period_of_figure(text, [clause, (0, len(text))], 2008) == "2007"


def test_a_comparison_in_the_sentence_leaves_the_period_to_the_sentence_before() -> None:
    text = "In 2021, 12.69 million jobs were created. The rate was 5.1 percent, lower than in 2020."
    second = text.index("The rate")
    spans = [(second, text.index(",", second)), (second, len(text)), (0, second - 1)]
    assert period_of_figure(text, spans, None) == "2021"


def test_a_list_item_takes_the_period_of_the_paragraph_that_introduces_the_list() -> None:
    text = "The main targets for development in 2024 are as follows:\n\n-- GDP growth\n\n-- over 12 million new urban jobs\n"
    item = text.index("-- over")
    assert period_of_figure(text, [(item, len(text) - 1)], None) == "2024"
    assert period_of_figure("Jobs grew.\n\n-- over 12 million new urban jobs\n", [(12, 45)], None) is None


def test_the_place_a_clause_names_is_the_figures_region() -> None:
    text = "Shenzhen issued a policy of 270 million yuan, and Dongguan added 25 million yuan."
    first, second = (0, text.index(",")), (text.index(",") + 2, len(text))
    assert figure_region(text, (first,), "Guangdong") == "Shenzhen"
    assert figure_region(text, (second,), "Guangdong") == "Dongguan"
    assert figure_region(text, ((0, len(text)),), "Guangdong") == "Guangdong"  # two places: the article's
    assert figure_region("Jobs rose by 5,000.", ((0, 19),), "Anhui") == "Anhui"


def test_a_county_outside_the_gazetteer_is_named_as_the_article_spells_it() -> None:
    text = "Ningxian county has provided employment assistance to 7,087 laborers"
    assert places_named(text, 0, len(text)) == ("Ningxian",)


def test_the_province_of_the_articles_city_beyond_the_clause_keeps_the_city() -> None:
    text = "Some 200,000 new posts are to be created in the capital city of South China's Guangdong Province."
    clause, sentence = (0, text.index(" in the capital")), (0, len(text))
    assert figure_region(text, (clause, sentence), "Guangzhou") == "Guangzhou"


def test_hard_wrapped_lines_are_read_as_one_sentence_with_the_same_offsets() -> None:
    text = "Beijing vowed to keep its rate within 2.5\npercent in 2006, a rise.\nThe city plans 120,000 jobs."
    flat = unwrapped(text)
    assert len(flat) == len(text) and "2.5 percent" in flat and "rise.\nThe" in flat
    [rate, jobs] = mention_candidates(ArticleContext(Article("a", text)))
    assert (
        text[rate.sentence.start : rate.sentence.end]
        == "Beijing vowed to keep its rate within 2.5\npercent in 2006, a rise"
    )
    assert jobs.previous is None  # a real line break between sentences still ends the paragraph


def test_a_four_digit_count_is_not_read_as_a_year() -> None:
    assert period_in("the county created 2000 new jobs", None) is None
    assert period_in("2010 people found jobs in 2012", None) == "2012"


def test_this_year_is_the_year_the_lead_plans_for_and_last_year_the_year_it_reports() -> None:
    from polex.pipeline.periods import relative_year

    plan = "Beijing has vowed to keep its unemployment rate within 2.5 percent in 2006.\nIt plans 120,000 jobs this year."
    report = "Xinjiang adds 461,100 urban new jobs in 2020\n\n(Xinhua) 14:45, February 02, 2021\n\nLast year, Xinjiang granted loans."
    earlier = (
        "The rate was down to 4.4 percent last year, from 6.7 percent in 2003.\n"
        + "The governor spoke of jobs. " * 15
        + "\nIn 2005, 143,000 families had no job."
    )
    assert relative_year(plan) == 2006
    assert relative_year(report) == 2021  # the credit line's date is not read: the report is of 2020
    assert relative_year(earlier) is None  # 2003 is an earlier level, not the year reported on: open
    assert relative_year(earlier, 2008) == 2008  # a year in the metadata is taken as given


@pytest.mark.parametrize(
    "text",
    [
        "Fujian helps graduates\nUpdated: 2015-04-10\n\nA record 266,000 graduates will enter the market this year.",
        "The province will train 500,000 people this year.\n\n( People's Daily 08/08/2001)\n",
        "Sep 15, 2021 10:14 AM (GMT+8) · EqualOcean\n\n9.38 million urban jobs were added this year.",
        "The share was 20 percent, a drop of nearly 9 percentage points from 2011. This year it will rise.",
        'Anhui issued the "Notice on the Employment of Young People in 2024" this week. Jobs grew this year.',
        "The subsidy has covered the unemployed since 2018. This year 10,000 people got it.",
        "The governor spoke of jobs and growth and skills and loans and training at length.\n"
        "The employment rate of the class of 2023 reached 94 percent, up this year.",
    ],
)
def test_dates_of_publication_comparisons_and_cohorts_do_not_name_the_articles_year(text: str) -> None:
    from polex.pipeline.periods import article_year

    assert article_year(text) is None  # rules 21a, 46, 47, 86: "this year" stays open


def test_a_year_in_a_sentence_of_the_text_still_names_the_articles_year() -> None:
    from polex.pipeline.periods import article_year

    assert article_year("Updated: 2024-02-06\n\nIn 2023, the city created 10,000 jobs.") == 2023
    assert article_year("The deadline will be on December 31, 2024, for all firms that apply.") == 2024


@pytest.mark.parametrize(
    ("fragment", "period"),
    [
        ("In December 2021, the province's surveyed unemployment rate was 4.9 %", "2021-12"),
        ("at the end of June 2019 the rate stood at 3.6 percent", "2019-06"),
        ("From December 25, 2022 to January 27, 2023, subsidies of RMB 60 a day", "2022-12/2023-01"),
        ("job fairs from the end of November, 2012 to the end of June, 2013", "2012-11/2013-06"),
        ("increased from 15 percent in 2012 to 29 percent in 2021", "2012"),
    ],
)
def test_single_months_date_ranges_and_a_year_before_a_percentage(fragment: str, period: str) -> None:
    # rule 102: a single month whose year the text names is "YYYY-MM"; "2012 to 29
    # percent" is a year and a figure, not the span 2012/2029
    assert period_in(fragment, None) == period


def test_a_figure_naming_no_time_takes_the_one_year_the_lead_names_but_the_headline_does_not() -> None:
    from polex.pipeline.learning.extract import figure_period

    text = (
        "Guanshanhu hires 600 graduates\n\n"
        "Guanshanhu district had results from an initiative to ensure more employment in 2021.\n\n"
        "Throughout the year, the district arranged for 453 people to get public welfare posts.\n"
    )
    ctx = ArticleContext(Article("lead", text))
    by_value = {c.mention.value: c for c in mention_candidates(ctx) if c.mention is not None}
    assert figure_period(ctx, by_value[453], None) == "2021"  # the passage carries the lead's year
    assert figure_period(ctx, by_value[600], None) is None  # a headline restated later takes its own date
    two_years = text.replace("in 2021.", "in 2021, more than in 2020 and in 2019.")
    ctx = ArticleContext(Article("open", two_years.replace("in 2019", "in 2019 for 2022")))
    by_value = {c.mention.value: c for c in mention_candidates(ctx) if c.mention is not None}
    assert figure_period(ctx, by_value[453], None) is None  # the lead names two years: open


def test_a_lead_naming_a_part_of_a_year_speaks_from_that_year() -> None:
    from polex.pipeline.learning.extract import figure_period
    from polex.pipeline.periods import relative_year

    text = (
        "New Urban Employment in Liaoning Increases by 18.8% in Q1 2023\n\n"
        "In the first quarter of this year, Liaoning added 125,000 new urban jobs.\n\n"
        "Meanwhile 264,000 migrant workers have been reemployed.\n"
    )
    assert relative_year(text) == 2023  # not 2024: a quarter's report is written in its year
    ctx = ArticleContext(Article("q1", text))
    by_value = {c.mention.value: c for c in mention_candidates(ctx) if c.mention is not None}
    assert figure_period(ctx, by_value[125000], 2023) == "2023-01/2023-03"
    assert figure_period(ctx, by_value[264000], 2023) == "2023"
