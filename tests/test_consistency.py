from __future__ import annotations

from typing import Any

from polex.pipeline.records import Article, ArticleContext
from polex.schemas.quantitative_target.consistency import check_consistency, check_growth

CTX = ArticleContext(Article("c", "x"))


def rec(
    value: float,
    kind: str,
    unit: str = "persons",
    period: str | None = "2021",
    text: str = "new jobs",
    indicator: str = "new_urban_jobs",
) -> dict[str, Any]:
    return {
        "indicator": indicator,
        "indicator_text": text,
        "value": value,
        "unit": unit,
        "kind": kind,
        "period": period,
        "region": "Liaoning",
    }


def codes(flags: list[list[Any]]) -> list[set[str]]:
    return [{f.code for f in fs} for fs in flags]


def test_completion_rate_must_agree_with_actual_over_target() -> None:
    good = [rec(484000, "actual"), rec(420000, "target"), rec(115.2, "completion_rate", "percent")]
    assert codes(check_consistency(good, CTX)) == [set(), set(), set()]
    bad = [rec(484000, "actual"), rec(420000, "target"), rec(125.0, "completion_rate", "percent")]
    assert all("inconsistent_completion" in c for c in codes(check_consistency(bad, CTX)))


def test_two_different_actual_levels_conflict() -> None:
    flags = codes(check_consistency([rec(484000, "actual"), rec(795000, "actual")], CTX))
    assert flags == [{"conflicting_actuals"}, {"conflicting_actuals"}]
    breakdown = [rec(795000, "actual"), rec(707000, "actual", text="employed in units")]
    assert codes(check_consistency(breakdown, CTX)) == [set(), set()]


def test_a_cumulative_figure_cannot_shrink() -> None:
    series = [
        rec(600000, "actual", period="2021-01/2021-10"),
        rec(590000, "actual", period="2021-01/2021-11"),
    ]
    assert codes(check_consistency(series, CTX)) == [{"shrinking_cumulative"}, {"shrinking_cumulative"}]


def test_growth_must_agree_with_two_levels() -> None:
    records = [
        rec(100, "actual", period="2020"),
        rec(110, "actual", period="2021"),
        rec(20.0, "change", "percent", period="2021"),
    ]
    assert codes(check_growth(records, CTX))[2] == {"inconsistent_change"}
    records[2]["value"] = 10.0
    assert codes(check_growth(records, CTX)) == [set(), set(), set()]
