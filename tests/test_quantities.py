"""The quantity engine on every form it must read, from the seeds and written here."""

from __future__ import annotations

import json

import pytest

from polex.pipeline.quantities import Mention, find_mentions, quantities_of_interest
from tests.conftest import GOLD, seed_text


def one(text: str) -> Mention:
    found = quantities_of_interest(text)
    assert len(found) == 1, [m.text for m in found]
    return found[0]


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [
        ("686000 new jobs were created", 686000, "posts"),
        ("the city achieved 38,478 new urban jobs", 38478, "posts"),
        ("The registered urban unemployment rate was 4.33 percent", 4.33, "percent"),
        ("3.69 million retirees in Anhui", 3_690_000, "persons"),
        ("distributed 830 million yuan of subsidy funds", 830_000_000, "yuan"),
        ("reduced premiums by 1.2 billion yuan", 1_200_000_000, "yuan"),
        ("a total of 1.076 million person times of training", 1_076_000, "person_times"),
        ("3.5 10,000 people were trained", 35_000, "persons"),
        ("raised 2.5 100 million yuan", 250_000_000, "yuan"),
        ("新增就业3.5万人", 35_000, None),
        ("投入资金1.2亿元", 120_000_000, "yuan"),
        ("a subsidy of RMB 1.2 billion", 1_200_000_000, "yuan"),
        ("a subsidy of ¥300 each", 300, "yuan"),
        ("an increase of 9.88 per cent", 9.88, "percent"),
        ("0.17 percentage points lower than the annual target", 0.17, "percentage_points"),
        ("1 billion 700 million yuan was spent", 1_700_000_000, "yuan"),
    ],
)
def test_normalises_numbers_scales_and_units(text: str, value: float, unit: str | None) -> None:
    mention = one(text)
    assert mention.value == pytest.approx(value)
    assert mention.unit == unit


def test_reads_offsets_that_slice_to_the_mention() -> None:
    text = seed_text("000_f717e4e5ad01f3aa")
    for mention in find_mentions(text):
        assert text[mention.start : mention.end] == mention.text


def test_range_keeps_both_ends_with_the_shared_scale() -> None:
    mention = one("30 to 50 million yuan will be allocated")
    assert (mention.value, mention.high, mention.unit) == (30_000_000, 50_000_000, "yuan")


def test_from_to_is_a_change_not_a_range() -> None:
    found = quantities_of_interest("the rate rose from 60 percent to 90 percent")
    assert [(m.value, m.high) for m in found] == [(60, None), (90, None)]


@pytest.mark.parametrize(
    ("text", "comparator"),
    [
        ("about 279,400 college graduates", "approx"),
        ("around 500 people", "approx"),
        ("nearly 2,000 enterprises", "approx"),
        ("some 300 posts", "approx"),
        ("more than 2,200 workshops", "at_least"),
        ("over 5,000 people", "at_least"),
        ("at least 40 posts", "at_least"),
        ("no less than 10,000 people", "at_least"),
        ("within 4.5%", "at_most"),
        ("below 5.5 percent", "at_most"),
        ("under 3%", "at_most"),
        ("no more than 6%", "at_most"),
        ("500 people or more", "at_least"),
        ("686000 new jobs", "eq"),
        ("positions1More than 50,000", "at_least"),
    ],
)
def test_qualifiers_become_comparators(text: str, comparator: str) -> None:
    assert one(text).comparator == comparator


@pytest.mark.parametrize(
    ("text", "role"),
    [
        ("in 2020, the province", "year"),
        ("By the end of December 2021, the", "year"),
        ("Updated on 2024-01-29", "date"),
        ("On December 24, at the press conference", "date"),
        ("On the morning of March 24th, the", "date"),
        ("the 20th National Congress", "ordinal"),
        ("the “12 facts” campaign", "name"),
        ("12 specific measures were launched", "count_of_measures"),
        ("[ad_1]", "name"),
    ],
)
def test_numbers_that_are_not_quantities_of_interest(text: str, role: str) -> None:
    roles = [m.role for m in find_mentions(text)]
    assert roles == [role]


def test_two_plus_n_job_fairs_keeps_22600_but_not_the_2() -> None:
    found = find_mentions("regularly hold 22600 “2 + n” job fairs")
    assert [(m.text, m.role) for m in found] == [("22600", "quantity"), ("2", "name")]


def test_split_wan_offers_every_reading() -> None:
    mention = one("56 1 10,000 people who have not been lifted out of poverty")
    (artefact,) = mention.artefacts
    assert artefact.kind == "split_wan"
    assert set(artefact.readings) == {5_610, 56_100, 561_000}
    assert mention.value == 561_000  # 56.1万: the space stood for a decimal point


@pytest.mark.parametrize(
    ("text", "literal", "preferred"),
    [
        ("the employment rate reached 9425%", 9425, 94.25),
        ("the completion rate was 1042%", 1042, 104.2),
        ("higher than the provincial 1451 percentage points", 1451, 14.51),
    ],
)
def test_lost_decimal_points_are_flagged_not_silently_fixed(
    text: str, literal: float, preferred: float
) -> None:
    mention = one(text)
    assert mention.literal == literal
    assert mention.value == pytest.approx(preferred)
    assert [a.kind for a in mention.artefacts] == ["lost_decimal"]
    assert preferred in mention.artefacts[0].readings


def test_plausible_percentages_are_not_flagged() -> None:
    assert one("completing 108.9% of the annual target").artefacts == ()
    assert one("with an employment rate of 112%").artefacts == ()


@pytest.mark.parametrize(
    ("text", "value", "stray"),
    [
        ("the newly created 3All 30,000 public welfare personnel", 30_000, "3"),
        ("various Xi Xi positions1More than 50,000. It", 50_000, "1"),
    ],
)
def test_stray_characters_are_flagged(text: str, value: float, stray: str) -> None:
    mentions = find_mentions(text)
    strays = [m for m in mentions if m.role == "stray"]
    assert [m.text for m in strays] == [stray]
    real = one(text)
    assert real.value == value
    assert [a.kind for a in real.artefacts] == ["stray_character"]


def test_odd_grouping_is_flagged_with_candidates() -> None:
    mention = one("our city has solved 2860,000 people in need")
    (artefact,) = mention.artefacts
    assert artefact.kind == "odd_grouping"
    assert {2_860_000, 286_000, 28_600} <= set(artefact.readings)


def test_fractions_in_words_are_ratios() -> None:
    mention = one("representing more than a fifth of total employment")
    assert (mention.value, mention.unit, mention.comparator) == (0.2, "ratio", "at_least")


def test_every_gold_value_is_among_the_engine_readings() -> None:
    """Value recall of the engine alone on the seeds' gold: every labelled number
    is found (in one of its readings) inside its evidence."""
    missed = []
    total = 0
    for path in sorted(GOLD.glob("*.json")):
        gold = json.loads(path.read_text("utf-8"))
        text = seed_text(gold["article_id"])
        for record in gold["QuantitativeTarget"]:
            total += 1
            start = text.find(record["evidence"])
            mentions = [
                m
                for m in find_mentions(text)
                if start <= m.start and m.end <= start + len(record["evidence"])
            ]
            wanted = [record["value"], *record.get("value_candidates", [])]
            if not any(
                abs(abs(w) - r) < 1e-6 * max(1, abs(w)) for m in mentions for r in m.readings for w in wanted
            ):
                missed.append((gold["article_id"], record["evidence"]))
    assert total >= 60
    assert missed == []
