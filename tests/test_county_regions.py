"""Counties and districts as regions (GUIDELINES rules 21, 49, 72): their short names,
named again without "County", and namesakes of gazetteer cities."""

from __future__ import annotations

from polex.pipeline.places import article_counties, figure_region, most_specific, places_named


def test_an_autonomous_county_keeps_its_short_name() -> None:
    text = "Villagers work in Shixia Village, Jianghua Yao Autonomous County of central Hunan."
    assert places_named(text, 0, len(text)) == ("Jianghua", "Hunan")  # rule 72, not "Yao"


def test_a_county_level_city_is_named_as_the_article_spells_it() -> None:
    text = "More than 70,000 migrant workers from Qingzhen, a county-level city in Guizhou province"
    assert places_named(text, 0, len(text)) == ("Qingzhen", "Guizhou")


def test_a_county_named_once_in_full_is_known_by_its_short_name_alone() -> None:
    text = (
        "The workshop is in Jianghua Yao Autonomous County of Yongzhou, Hunan.\n"
        "Jianghua attracted more than 400 small companies to its villages."
    )
    clause = (text.index("Jianghua attracted"), len(text))
    assert article_counties(text) == frozenset({"Jianghua"})
    assert figure_region(text, (clause,), "Yongzhou") == "Jianghua"


def test_a_county_named_like_a_city_of_another_province_is_the_county() -> None:
    # Suining is also a city of Sichuan in the gazetteer (rule 49: the county as spelt)
    text = "Liu lives in Egong Village, Suining County, Hunan Province, and makes shoe uppers."
    counties = article_counties(text)
    named = places_named(text, 0, len(text), counties)
    assert named == ("Suining", "Hunan")
    assert most_specific(named, counties) == "Suining"


def test_a_city_named_without_county_is_still_the_gazetteer_city() -> None:
    text = "Suining, a city in Sichuan, added 3,000 jobs."
    assert most_specific(places_named(text, 0, len(text), article_counties(text))) == "Suining"
