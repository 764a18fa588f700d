"""The mention-first strategy. mentions.v3 (most tests here): the offline default's
confident guesses stand unasked; the prompt lists the article's sentences with their other numbers of interest, each
with an id and no guess; the answer labels ids ("indicator, kind" or "drop");
labelled ids become grounded records (the offline default's record, or the core's
conventions, with the label's fields), dropped ids vanish, ids left out keep the
guess, an added figure is grounded like any record. mentions.v2 shows every number
with its guess; mentions.v4 (what `--strategy mentions` runs) offers each unsure
number a closed list of answers: the offline default's top labels and drop.

In TEXT the shipped offline model is surer of 108.9% (completion_rate) than of 686000
(new_urban_jobs, actual); the fixture below puts the confidence bar between the two, so
that the tests read "686000 is unsure, 108.9% confident" whatever a re-training does
to the exact probabilities."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from polex.pipeline.backends import mention_first
from polex.pipeline.backends.base import BackendError
from polex.pipeline.backends.mention_first import example_prompt
from polex.pipeline.fewshot import GoldExample
from polex.pipeline.records import Article, ArticleContext
from polex.pipeline.registry import select
from tests.fake_openai import FakeServer, completion
from tests.test_llm_backend import GOOD, TEXT, backend, run

QT = select(["QuantitativeTarget"])[0]


@pytest.fixture(autouse=True)
def _bar_between_the_two_guesses(monkeypatch: pytest.MonkeyPatch) -> None:
    guesses = mention_first.offline_guesses(ArticleContext(Article("a1", TEXT)), QT)
    by_value = {g.record["value"]: g.confidence for g in guesses.values()}
    unsure, confident = by_value[686000], by_value[108.9]
    assert unsure is not None and confident is not None and unsure < confident
    monkeypatch.setattr(mention_first, "CONFIDENT", (unsure + confident) / 2)


def answer(labels: dict[str, str], added: list[dict[str, Any]] | None = None) -> Any:
    return completion(content=json.dumps({"labels": labels, "added": added or []}))


def test_the_prompt_lists_each_sentence_once_with_its_unsure_numbers_ids_and_no_guess() -> None:
    server = FakeServer([answer({})])
    run(backend(server, strategy="mentions.v3"))
    user = server.requests[0]["messages"][-1]["content"].split("Numbers found:")[-1]
    assert user.count("686000 new jobs were created in cities and towns") == 1
    assert re.search(r'\n  "m1 686000"\n', user)
    assert "guess" not in user and "new_urban_jobs" not in user
    assert '"m2' not in user and '108.9%"' not in user  # the confident guess is not asked about


def test_a_confident_guess_stands_whatever_the_answer() -> None:
    server = FakeServer([answer({"m1 686000": "drop"})])
    part = run(backend(server, strategy="mentions.v3"))
    (record,) = part["records"]["QuantitativeTarget"]
    assert record["record"]["value"] == 108.9 and record["record"]["kind"] == "completion_rate"


def test_every_number_is_asked_about_when_no_guess_is_confident_enough(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mention_first, "CONFIDENT", 1.01)
    server = FakeServer([answer({"m1 686000": "drop", "m2 108.9%": "drop"})])
    part = run(backend(server, strategy="mentions.v3"))
    user = server.requests[0]["messages"][-1]["content"]
    assert '  "m1 686000"\n' in user and '  "m2 108.9%"\n' in user
    assert part["records"]["QuantitativeTarget"] == []


def test_a_chunk_of_confident_guesses_only_sends_no_request_and_keeps_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mention_first, "CONFIDENT", 0.0)
    server = FakeServer([])
    part = run(backend(server, strategy="mentions.v3"))
    assert server.requests == []
    assert [r["record"]["value"] for r in part["records"]["QuantitativeTarget"]] == [686000, 108.9]


def test_a_line_without_words_such_as_a_time_stamp_is_not_listed() -> None:
    server = FakeServer([answer({})])
    run(backend(server, strategy="mentions.v3"), Article("stamped", "2021-04-19 13:43:00\n" + TEXT))
    user = server.requests[0]["messages"][-1]["content"]
    assert '"13"' not in user and '"43"' not in user
    assert '  "m1 686000"' in user


def test_labelled_numbers_become_the_offline_records_and_dropped_ones_vanish(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mention_first, "CONFIDENT", 1.01)
    server = FakeServer([answer({"m1 686000": "new_urban_jobs, actual", "m2 108.9%": "drop"})])
    part = run(backend(server, strategy="mentions.v3"))
    (record,) = part["records"]["QuantitativeTarget"]
    assert record["record"]["value"] == 686000 and record["record"]["kind"] == "actual"
    assert record["record"]["indicator"] == "new_urban_jobs"
    assert TEXT[record["char_start"] : record["char_end"]] == record["record"]["evidence"]
    assert part["rejected"] == []


def test_an_id_left_out_keeps_the_guess() -> None:
    server = FakeServer([answer({})])
    part = run(backend(server, strategy="mentions.v3"))
    first, _confident = part["records"]["QuantitativeTarget"]
    assert first["record"]["value"] == 686000 and first["record"]["indicator"] == "new_urban_jobs"
    assert first["record"]["kind"] == "actual"


def test_a_salvaged_answer_s_malformed_label_keeps_the_guess() -> None:
    bad = answer({"m1 686000": "new jobs"})
    server = FakeServer([bad, bad])
    part = run(backend(server, strategy="mentions.v3", max_reasks=1))
    first, _confident = part["records"]["QuantitativeTarget"]
    assert first["record"]["value"] == 686000 and first["record"]["indicator"] == "new_urban_jobs"


def test_a_label_replaces_the_guessed_fields() -> None:
    server = FakeServer([answer({"m1": "reemployment, actual"})])
    part = run(backend(server, strategy="mentions.v3"))
    record, _confident = part["records"]["QuantitativeTarget"]
    assert record["record"]["value"] == 686000
    assert record["record"]["indicator"] == "reemployment" and record["record"]["kind"] == "actual"


def test_a_number_the_offline_default_drops_is_kept_with_the_core_conventions() -> None:
    text = "Officials counted 52,000 at the square in 2020."
    server = FakeServer([answer({"m1": "labour_force, actual"})])
    part = run(backend(server, strategy="mentions.v3"), Article("counted", text))
    user = server.requests[0]["messages"][-1]["content"]
    assert '  "m1 52,000"\n' in user
    (record,) = part["records"]["QuantitativeTarget"]
    assert record["record"]["value"] == 52000 and record["record"]["indicator"] == "labour_force"
    assert record["record"]["evidence"] in text and "52,000" in record["record"]["evidence"]


def test_an_unknown_id_or_a_label_outside_the_choices_is_reasked() -> None:
    server = FakeServer(
        [
            answer({"m9": "drop", "m1": "new_jobs, actual"}),
            answer({"m1": "drop"}),
        ]
    )
    part = run(backend(server, strategy="mentions.v3", max_reasks=1))
    assert len(server.requests) == 2
    reask = " ".join(str(m["content"]) for m in server.requests[1]["messages"])
    assert "m9" in reask and "new_jobs, actual" in reask
    assert [r["record"]["value"] for r in part["records"]["QuantitativeTarget"]] == [108.9]


def test_an_added_figure_is_grounded_like_any_record() -> None:
    added = GOOD[0]
    invented = {**added, "evidence": "a million jobs were created", "value": 1000000}
    server = FakeServer([answer({"m1": "drop"}, added=[added, invented])])
    part = run(backend(server, strategy="mentions.v3", max_reasks=0))
    assert sorted(r["record"]["value"] for r in part["records"]["QuantitativeTarget"]) == [108.9, 686000]
    assert len(part["rejected"]) == 1


def test_a_chunk_without_numbers_of_interest_sends_no_request() -> None:
    server = FakeServer([])
    part = run(backend(server, strategy="mentions.v3"), Article("quiet", "The city held a meeting on jobs."))
    assert server.requests == [] and part["status"] == "ok"


def test_a_gold_example_becomes_a_listing_and_the_answer_its_gold_gives() -> None:
    gold = (
        {"value": 686000, "indicator": "new_urban_jobs", "kind": "actual"},
        {"value": 108.9, "indicator": "other", "kind": "completion_rate"},
    )
    shown = example_prompt(GoldExample("dev1", TEXT, gold), QT)
    assert shown is not None
    assert [key for s in shown["listing"] for key in s["keys"]] == ["m1 686000", "m2 108.9%"]
    assert json.loads(shown["json"]) == {
        "labels": {"m1 686000": "new_urban_jobs, actual", "m2 108.9%": "other, completion_rate"}
    }


def test_a_gold_example_drops_the_numbers_its_gold_leaves_out() -> None:
    gold = ({"value": 108.9, "indicator": "new_urban_jobs", "kind": "completion_rate"},)
    shown = example_prompt(GoldExample("dev1", TEXT, gold), QT)
    assert shown is not None
    assert json.loads(shown["json"]) == {
        "labels": {"m1 686000": "drop", "m2 108.9%": "new_urban_jobs, completion_rate"}
    }


def test_the_mentions_prompt_shows_examples_in_its_own_answer_format_after_a_fixed_system_message() -> None:
    server = FakeServer([answer({})])
    run(backend(server, strategy="mentions.v3", few_shot=2))
    system, user = (m["content"] for m in server.requests[0]["messages"])
    assert "Example numbers:" in user and '{"labels": {"m1 ' in user
    assert "Example" not in system and '{"records": [' not in system + user


def test_a_key_pairing_an_id_with_the_next_number_labels_the_number_it_names() -> None:
    # both numbers are asked about (the offline default drops them); the model
    # skipped m1, then wrote m1 with m2's number: the number decides
    text = "Officials counted 52,000 at the square and 31,000 at the station in 2020."
    server = FakeServer([answer({"m1 31,000": "labour_force, actual"})])
    part = run(backend(server, strategy="mentions.v3"), Article("counted", text))
    (record,) = part["records"]["QuantitativeTarget"]
    assert record["record"]["value"] == 31000


def test_a_looping_answer_cut_off_at_max_tokens_keeps_its_complete_labels_and_the_guesses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mention_first, "CONFIDENT", 1.01)
    looping = '{"labels": {"m1 686000": "drop", "m1 686000": "drop", "m1 686000": "dr'
    looping_with_added = (
        '{"labels": {"m1 686000": "drop"}, "added": [{"evidence": "686000 new jobs", "added": [{'
    )
    for content in (looping, looping_with_added):
        server = FakeServer([completion(content=content, finish="length")])
        part = run(backend(server, strategy="mentions.v3"))
        assert len(server.requests) == 1 and part["status"] == "ok"  # no split, no retry
        (record,) = part["records"]["QuantitativeTarget"]  # m1 dropped, m2 unanswered keeps its guess
        assert record["record"]["value"] == 108.9 and record["record"]["kind"] == "completion_rate"
        assert part["rejected"] == []
        assert any("cut off at max_tokens" in note for note in part["usage"]["notes"])


def test_an_answer_cut_off_before_any_label_keeps_every_guess(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mention_first, "CONFIDENT", 1.01)
    server = FakeServer([completion(content="I think the", finish="length")])
    part = run(backend(server, strategy="mentions.v3"))
    assert [r["record"]["value"] for r in part["records"]["QuantitativeTarget"]] == [686000, 108.9]


def unsure_answers(text: str = TEXT) -> tuple[str, ...]:
    """The closed list of answers mentions.v4 offers for the first unsure number of
    ``text`` (TEXT's 686000)."""
    from polex.pipeline.chunking import Chunk
    from polex.pipeline.records import ArticleContext

    listed = mention_first.candidates(ArticleContext(Article("a1", text)), QT, Chunk(0, len(text), 1, 1))
    unsure = mention_first.asked(listed, mention_first.MENTION_PROMPTS["mentions.v4"])
    return unsure[0].answers(QT)


def test_mentions_v2_lists_every_number_with_the_offline_guess_and_its_confidence() -> None:
    server = FakeServer([answer({})])
    part = run(backend(server, strategy="mentions.v2"))
    user = server.requests[0]["messages"][-1]["content"].split("Numbers found:")[-1]
    assert re.search(r'"m1 686000" guess \(p=0\.\d\d\): new_urban_jobs, actual', user)
    assert re.search(r'"m2 108\.9%" guess \(p=0\.\d\d\): new_urban_jobs, completion_rate', user)
    assert [r["record"]["value"] for r in part["records"]["QuantitativeTarget"]] == [686000, 108.9]


def test_mentions_v4_offers_each_unsure_number_the_offline_top_labels_and_drop() -> None:
    options = unsure_answers()
    assert options[0] == "new_urban_jobs, actual"  # the guess first
    assert options[-1] == "drop" and len(options) == mention_first.TOP_LABELS + 1
    server = FakeServer([answer({})])
    run(backend(server, strategy="mentions.v4", max_reasks=0))
    user = server.requests[0]["messages"][-1]["content"].split("Numbers found:")[-1]
    assert '"m1 686000": one of ' + " | ".join(json.dumps(o) for o in options) in user
    assert '"m2' not in user  # the confident guess is not asked about
    schema = json.dumps(server.requests[0]["response_format"])
    assert json.dumps(list(options)) in schema  # the answer's schema holds the model to the list


def test_mentions_v4_turns_the_chosen_answer_into_the_record() -> None:
    text = "Officials counted 52,000 at the square in 2020."  # a number the offline default drops
    second = unsure_answers(text)[1]
    server = FakeServer([answer({"m1 52,000": second})])
    part = run(backend(server, strategy="mentions.v4"), Article("counted", text))
    (record,) = part["records"]["QuantitativeTarget"]
    assert record["record"]["value"] == 52000
    assert f"{record['record']['indicator']}, {record['record']['kind']}" == second


def test_mentions_v4_reasks_an_answer_outside_the_list_and_keeps_the_guess_if_it_persists() -> None:
    outside = next(
        f"{indicator}, actual"
        for indicator in ("labour_force", "other", "reemployment")
        if f"{indicator}, actual" not in unsure_answers()
    )
    bad = answer({"m1 686000": outside})
    server = FakeServer([bad, bad])
    part = run(backend(server, strategy="mentions.v4", max_reasks=1))
    assert len(server.requests) == 2
    first, _confident = part["records"]["QuantitativeTarget"]
    assert first["record"]["indicator"] == "new_urban_jobs" and first["record"]["kind"] == "actual"


def test_an_unknown_mention_prompt_version_is_refused_with_the_known_strategies() -> None:
    with pytest.raises(BackendError, match=r"mentions\.v9.*free, mentions, mentions\.v2"):
        backend(FakeServer([]), strategy="mentions.v9")


def test_a_v4_example_offers_its_gold_answer_among_the_allowed_ones() -> None:
    gold = ({"value": 686000, "indicator": "labour_force", "kind": "actual"},)
    shown = example_prompt(GoldExample("dev1", TEXT, gold), QT)
    assert shown is not None
    numbers = {n["key"]: n["answers"] for s in shown["listing"] for n in s["numbers"]}
    assert "labour_force, actual" in numbers["m1 686000"] and numbers["m1 686000"][-1] == "drop"


def test_the_mentions_strategy_runs_the_default_prompt_version_v4() -> None:
    assert mention_first.MENTIONS_DEFAULT == "mentions.v4"
    server = FakeServer([answer({})])
    run(backend(server, strategy="mentions", max_reasks=0))
    user = server.requests[0]["messages"][-1]["content"].split("Numbers found:")[-1]
    assert '"m1 686000": one of "new_urban_jobs, actual"' in user


DROPPED = " Officials counted 52,000 at the square in 2020."  # a number the offline default drops


def test_mentions_v5_asks_only_the_kept_unsure_numbers_with_the_guess_the_next_label_and_drop() -> None:
    server = FakeServer([answer({}), answer({})])
    article = Article("a1", TEXT + DROPPED)
    run(backend(server, strategy="mentions.v5", max_reasks=0), article)
    run(backend(server, strategy="mentions.v4", max_reasks=0), article)
    v5, v4 = (request["messages"][-1]["content"].split("Numbers found:")[-1] for request in server.requests)
    first_two = unsure_answers()[:2]
    assert '"m1 686000": one of ' + " | ".join(json.dumps(o) for o in (*first_two, "drop")) in v5
    assert "52,000" not in v5 and '"m2' not in v5  # the dropped number is not asked about
    assert '"m2 52,000"' in v4  # (v4 asks about it)


def test_mentions_v5_confirms_relabels_or_drops_a_kept_record_and_never_adds_one() -> None:
    from polex.pipeline.chunking import Chunk

    text = TEXT + DROPPED
    ctx = ArticleContext(Article("a1", text))
    listed = mention_first.candidates(ctx, QT, Chunk(0, len(text), 1, 1))
    v5 = mention_first.MENTION_PROMPTS["mentions.v5"]
    first, second = unsure_answers()[:2]
    for label, expected in (("drop", []), (first, [first]), (second, [second])):
        made = mention_first.records_from_answer(ctx, QT, listed, {"m1 686000": label}, v5)
        records = [record for record, _ in made]
        assert [r["value"] for r in records] == [*([686000] * len(expected)), 108.9]  # never 52,000
        assert [f"{r['indicator']}, {r['kind']}" for r in records[: len(expected)]] == expected
    server = FakeServer([answer({"m1 686000": "drop"})])  # end to end: dropped, and nothing added
    part = run(backend(server, strategy="mentions.v5"), Article("a1", text))
    assert [r["record"]["value"] for r in part["records"]["QuantitativeTarget"]] == [108.9]


def test_mentions_v5_reasks_a_third_label_that_v4_would_take() -> None:
    third = unsure_answers()[2]
    bad = answer({"m1 686000": third})
    server = FakeServer([bad, bad])
    part = run(backend(server, strategy="mentions.v5", max_reasks=1))
    assert len(server.requests) == 2  # outside v5's list: reasked
    first, _confident = part["records"]["QuantitativeTarget"]
    assert f"{first['record']['indicator']}, {first['record']['kind']}" == unsure_answers()[0]  # the guess
