from __future__ import annotations

import pytest

from polex.pipeline.periods import article_year, period_in
from polex.pipeline.places import article_region, normalise_region
from tests.conftest import seed_text


@pytest.mark.parametrize(
    ("article_id", "region"),
    [
        ("000_f717e4e5ad01f3aa", "Anhui"),
        ("001_af90ca12de1d48dc", "Gansu"),
        ("002_b54908c3101e4205", "Binzhou"),
        ("003_85cd8f6cae44c8d1", "Jiangsu"),
        ("004_76301af96bdc979d", "Liaoning"),
    ],
)
def test_article_region_from_the_gazetteer(article_id: str, region: str) -> None:
    assert article_region(seed_text(article_id)) == region


def test_company_names_do_not_decide_the_region() -> None:
    text = (
        "Shangliang Zhongyi (Shenyang) High-tech Co., Ltd. hired. Shenyang Shenyang. "
        "The province of Liaoning."
    )
    assert article_region(text) == "Liaoning"


@pytest.mark.parametrize(
    ("fragment", "year", "period"),
    [
        ("From January to November this year, 686000", 2021, "2021-01/2021-11"),
        ("From January to November this year, 686000", None, None),
        ("By the end of December 2021, 484,000", None, "2021"),
        ("In 2021, The province reduced", None, "2021"),
        ("During the period of the “XIV Five-Year Plan”", None, "2021/2025"),
        ("the 14th Five-Year Plan period", None, "2021/2025"),
        ("the class of 2023 reached", None, "2023"),
        ("This year, 340,000 new jobs", 2020, "2020"),
        ("last year, 300 jobs", 2020, "2019"),
        ("no temporal phrase here", 2020, None),
    ],
)
def test_periods(fragment: str, year: int | None, period: str | None) -> None:
    assert period_in(fragment, year) == period


def test_article_year_is_open_when_the_article_names_two_years() -> None:
    assert article_year(seed_text("001_af90ca12de1d48dc")) == 2020
    assert article_year(seed_text("002_b54908c3101e4205")) is None
    assert article_year("no year", {"date": "2022-03-01"}) == 2022


def test_normalise_region() -> None:
    assert normalise_region("Anhui Province") == "Anhui"
    assert normalise_region("binzhou city") == "Binzhou"
    assert normalise_region(None) is None


def test_a_title_naming_one_jurisdiction_the_body_names_too_gives_the_articles_region() -> None:
    body = "Heilongjiang Province issued the policy. Heilongjiang will pay graduates who stay in Harbin."
    assert article_region("Employment Subsidy Policy for College Students in Harbin\n\n" + body) == "Harbin"
    # a name only the (garbled, machine-translated) title holds decides nothing
    assert article_region("Puhu Xinyu does practical employment articles\n\n" + body) == "Heilongjiang"


def test_a_title_naming_a_city_and_its_province_gives_the_city_however_the_body_spells_it() -> None:
    text = (
        "Hubei Jingmen 17 measures to attract college students\n\n"
        "jingmen, hubei province government released 17 measures. The province will help. "
        "The provincial bureau said 500 yuan per person will be given.\n"
    )
    assert article_region(text) == "Jingmen"


def test_a_lead_naming_a_place_within_its_province_gives_the_place() -> None:
    fair = "|\nA large job fair was held in Liuzhou, Guangxi, on March 15.\nA total of 301 companies offered 6,892 posts.\n"
    district = (
        "Guanshanhu reaps results in employment\n\n"
        "Guanshanhu district of Guiyang, capital city of Southwest China's Guizhou province, had results.\n\n"
        "Throughout the year, the district arranged for 453 people to get public welfare posts.\n"
    )
    assert article_region(fair) == "Liuzhou"
    assert article_region(district) == "Guanshanhu"


def test_a_dateline_city_in_an_article_about_the_province_keeps_the_province() -> None:
    text = (
        "China News Service, Guangzhou, January 17 (Reporter) Ge Guoxing said that in Guangdong "
        + "the province will keep employment stable and the provincial bureau will help graduates. " * 3
        + "\nThe province's surveyed unemployment rate was 4.9 percent, and the province created jobs.\n"
    )
    assert article_region(text) == "Guangdong"


def test_a_clause_naming_a_district_of_a_city_gives_the_district() -> None:
    from polex.pipeline.places import figure_region

    text = "The fair was held on Aug 18 in Jinan's Zhangqiu district, with 200 companies."
    assert figure_region(text, ((0, len(text)),), "Shandong") == "Zhangqiu"


def test_a_meetings_venue_and_a_province_locating_a_city_are_not_the_figures_region() -> None:
    from polex.pipeline.places import figure_region

    venue = "The rate was 4.4 percent, Chen told a press conference of the NPC, which opened yesterday in Beijing."
    capital = (
        "Some 200,000 new posts are to be created in the capital city of South China's Guangdong Province."
    )
    assert figure_region(venue, ((0, len(venue)),), "Liaoning") == "Liaoning"
    assert figure_region(capital, ((0, len(capital)),), "Guangzhou") == "Guangzhou"
