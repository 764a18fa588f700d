"""Offline rules of FundingAllocation: every yuan amount that is not an income, with
its action from the verbs of its clause, the recipients named there, and the
number of beneficiaries when another figure in the sentence counts people or
enterprises."""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from polex.pipeline.periods import article_year, period_at
from polex.pipeline.places import article_region
from polex.pipeline.records import ArticleContext
from polex.pipeline.text import containing, segments, sentences

RULES_FILE = Path(__file__).with_name("rules.toml")
_BENEFICIARY_UNITS = {"persons", "person_times", "enterprises", "households"}


@lru_cache(maxsize=1)
def rules() -> dict[str, Any]:
    return tomllib.loads(RULES_FILE.read_text("utf-8"))


def _first_match(table: dict[str, list[str]], text: str) -> str | None:
    for name, patterns in table.items():
        if any(re.search(p, text, re.IGNORECASE) for p in patterns):
            return name
    return None


def extract(ctx: ArticleContext) -> list[tuple[Any, int]]:
    from polex.schemas.funding_allocation import FundingAllocation

    text = ctx.text
    region = article_region(text)
    year = article_year(text, ctx.article.metadata)
    found: list[tuple[Any, int]] = []
    for mention in ctx.mentions:
        if not mention.of_interest or mention.unit != "yuan":
            continue
        sentence = containing(sentences(text), mention.start)
        if sentence is None:
            continue
        segment = containing(segments(sentence, text), mention.start) or sentence
        if _first_match({"x": rules()["not_funding"]["cues"]}, sentence.text):
            continue
        action = _first_match(rules()["actions"], segment.text) or _first_match(
            rules()["actions"], sentence.text
        )
        others = [
            m
            for m in ctx.mentions_in(sentence.start, sentence.end)
            if m.of_interest and m is not mention and m.unit in _BENEFICIARY_UNITS
        ]
        beneficiaries = min(others, key=lambda m: abs(m.start - mention.start)) if others else None
        found.append(
            (
                FundingAllocation(
                    evidence=segment.text,
                    amount=mention.value,
                    action=action or "other",  # type: ignore[arg-type]
                    purpose=" ".join(segment.text.replace(mention.text, "").split()[:12]),
                    recipients=_first_match(rules()["recipients"], sentence.text),
                    beneficiaries=beneficiaries.value
                    if beneficiaries
                    and beneficiaries.start >= segment.start
                    and beneficiaries.end <= segment.end
                    else None,
                    beneficiary_unit=beneficiaries.unit
                    if beneficiaries
                    and beneficiaries.start >= segment.start
                    and beneficiaries.end <= segment.end
                    else None,  # type: ignore[arg-type]
                    comparator=mention.comparator,
                    period=period_at(text, sentence.start, sentence.end, year),
                    region=region,
                ),
                segment.start,
            )
        )
    return found
