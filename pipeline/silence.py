"""Silence is an alarm: an article whose numbers of interest mostly go unclaimed by
any record has probably been missed (a collapsed answer, a model that cannot read),
not found empty. The run summary and the manifest say so, per article and overall,
and `polex run --fail-on-silence` turns it into a failing exit code."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

# An article is silent when more than this share of its numbers of interest is unclaimed.
SILENT_SHARE = 0.5


def is_silent(numbers_of_interest: int, unclaimed: int) -> bool:
    return numbers_of_interest > 0 and unclaimed / numbers_of_interest > SILENT_SHARE


class SilenceReport(BaseModel):
    """What the manifest records under totals.silence."""

    numbers_of_interest: int
    unclaimed: int
    silent_articles: list[str]
    warning: str | None


def silence_report(finished: Iterable[tuple[str, int, int]]) -> SilenceReport:
    """Over the articles that finished, given as (id, numbers of interest, numbers
    unclaimed): which are silent, and whether the run is."""
    numbers = unclaimed = 0
    silent: list[str] = []
    for article_id, count, missed in finished:
        numbers += count
        unclaimed += missed
        if is_silent(count, missed):
            silent.append(article_id)
    warning = None
    if silent or is_silent(numbers, unclaimed):
        warning = (
            f"{unclaimed} of {numbers} numbers of interest are claimed by no record; "
            f"{len(silent)} article(s) leave most of theirs unclaimed"
            + (f": {', '.join(silent[:10])}{' ...' if len(silent) > 10 else ''}" if silent else "")
        )
    return SilenceReport(
        numbers_of_interest=numbers, unclaimed=unclaimed, silent_articles=silent, warning=warning
    )
