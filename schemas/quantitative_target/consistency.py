"""Consistency checks between the QuantitativeTargets of one article. They never
change a record; disagreements become flags on every record involved."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from typing import Any

from polex.pipeline.records import ArticleContext, Finding, flag

Record = dict[str, Any]


def _group(records: list[Record]) -> dict[tuple[Any, ...], list[int]]:
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        groups[(r["indicator"], r.get("period"), r.get("region"))].append(i)
    return groups


def check_consistency(records: list[Record], ctx: ArticleContext) -> list[list[Finding]]:
    del ctx
    out: list[list[Finding]] = [[] for _ in records]
    for (indicator, period, _region), idx in _group(records).items():
        if indicator == "other":
            continue
        by_kind: dict[str, list[int]] = defaultdict(list)
        for i in idx:
            by_kind[records[i]["kind"]].append(i)
        _completion(records, by_kind, out)
        _conflicting_levels(records, by_kind, out, indicator, period)
    _shrinking_cumulative(records, out)
    return out


def _completion(records: list[Record], by_kind: dict[str, list[int]], out: list[list[Finding]]) -> None:
    """A completion rate must agree with actual / target (within one point)."""
    for c in by_kind.get("completion_rate", []):
        for a in by_kind.get("actual", []):
            for t in by_kind.get("target", []):
                actual, target = records[a], records[t]
                if actual["unit"] != target["unit"] or not target["value"]:
                    continue
                implied = actual["value"] / target["value"] * 100
                stated = records[c]["value"]
                if abs(implied - stated) > 1.0:
                    msg = (
                        f"completion rate {stated:g}% disagrees with actual {actual['value']:g} / target "
                        f"{target['value']:g} = {implied:.1f}%"
                    )
                    for i in (c, a, t):
                        out[i].append(flag("inconsistent_completion", msg))


def _conflicting_levels(
    records: list[Record],
    by_kind: dict[str, list[int]],
    out: list[list[Finding]],
    indicator: str,
    period: Any,
) -> None:
    """Two different actual levels of one indicator, unit and period in one article."""
    if period is None:
        return
    actuals = by_kind.get("actual", [])
    for n, a in enumerate(actuals):
        for b in actuals[n + 1 :]:
            ra, rb = records[a], records[b]
            if ra["unit"] != rb["unit"] or ra["unit"] == "percent" or math.isclose(ra["value"], rb["value"]):
                continue
            if ra.get("indicator_text", "").lower() != rb.get("indicator_text", "").lower():
                continue  # a breakdown ("707,000 of them in units"), not a conflict
            msg = f"two actual {indicator} levels for {period}: {ra['value']:g} and {rb['value']:g}"
            out[a].append(flag("conflicting_actuals", msg))
            out[b].append(flag("conflicting_actuals", msg))


def _months(period: str) -> tuple[str, int, int] | None:
    if "/" not in period or len(period) != 15:
        return None
    start, end = period.split("/")
    if start[:4] != end[:4]:
        return None
    return start[:4], int(start[5:7]), int(end[5:7])


def _shrinking_cumulative(records: list[Record], out: list[list[Finding]]) -> None:
    """A year-to-date figure cannot be smaller for a longer stretch of the same year."""
    series: dict[tuple[Any, ...], list[tuple[int, int]]] = defaultdict(list)
    for i, r in enumerate(records):
        months = _months(r.get("period") or "")
        if r["kind"] == "actual" and r["unit"] not in ("percent", "percentage_points", "ratio") and months:
            year, first, last = months
            if first == 1:
                series[(r["indicator"], r["unit"], r.get("region"), year)].append((last, i))
    for points in series.values():
        points.sort()
        for (m1, i1), (m2, i2) in itertools.pairwise(points):
            if m2 > m1 and records[i2]["value"] < records[i1]["value"]:
                msg = (
                    f"cumulative figure shrinks: {records[i1]['value']:g} to month {m1} but "
                    f"{records[i2]['value']:g} to month {m2}"
                )
                out[i1].append(flag("shrinking_cumulative", msg))
                out[i2].append(flag("shrinking_cumulative", msg))


def check_growth(records: list[Record], ctx: ArticleContext) -> list[list[Finding]]:
    """A year-on-year change in percent must agree with the two levels it compares."""
    del ctx
    out: list[list[Finding]] = [[] for _ in records]
    levels: dict[tuple[Any, ...], int] = {}
    for i, r in enumerate(records):
        period = r.get("period") or ""
        if r["kind"] == "actual" and len(period) == 4 and r["unit"] not in ("percent", "percentage_points"):
            levels[(r["indicator"], r.get("region"), int(period))] = i
    for i, r in enumerate(records):
        period = r.get("period") or ""
        if r["kind"] != "change" or r["unit"] != "percent" or len(period) != 4:
            continue
        now = levels.get((r["indicator"], r.get("region"), int(period)))
        before = levels.get((r["indicator"], r.get("region"), int(period) - 1))
        if now is None or before is None or not records[before]["value"]:
            continue
        implied = (records[now]["value"] / records[before]["value"] - 1) * 100
        if abs(implied - r["value"]) > 0.5:
            msg = (
                f"change {r['value']:g}% disagrees with the levels {records[before]['value']:g} -> "
                f"{records[now]['value']:g} ({implied:.2f}%)"
            )
            for j in (i, now, before):
                out[j].append(flag("inconsistent_change", msg))
    return out
