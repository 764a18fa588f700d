"""What the QuantitativeTarget rules know, offered to the learned extractor as
features: which taxonomy aliases stand in the number's clause, sentence and the
sentence before (so that rare indicators are not empty), and the kind cues."""

from __future__ import annotations

import re
import tomllib
from bisect import bisect_left
from functools import lru_cache
from typing import Any

from polex.pipeline.learning.candidates import Candidate, unwrapped
from polex.pipeline.learning.features import counted_phrase_span, tokens
from polex.pipeline.learning.lexicon import Lexicon, build_lexicon
from polex.pipeline.periods import metadata_year, period_of_figure, relative_year
from polex.pipeline.quantities import Mention
from polex.pipeline.records import ArticleContext
from polex.pipeline.text import lowered_article
from polex.schemas.quantitative_target.cues import Clause, read_cues
from polex.schemas.quantitative_target.offline import BARE_RATE_ALIAS, SURVEYED_RATE_FROM
from polex.schemas.quantitative_target.taxonomy import CUES_FILE, alias_pattern, indicators


@lru_cache(maxsize=16)
def _article_aliases(text: str) -> tuple[tuple[int, int, str], ...]:
    """Every taxonomy alias of an article, found once: (start, end, indicator)."""
    pattern, owner = alias_pattern()
    found = pattern.finditer(text, lowered_article(text))
    return tuple((m.start(), m.end(), _alias_owner(m.group().lower(), owner)) for m in found)


# The bare "unemployment rate" names the registered rate before 2018 and the surveyed
# rate from 2018 on (guidelines 16b, 81): as a feature it is its own name, not the
# registered rate's, and the rules' vote (which reads the year) and the figure's era
# decide between the two.
UNSPECIFIED_RATE = "unemployment_rate_unspecified"


def _alias_owner(alias: str, owner: dict[str, str]) -> str:
    return UNSPECIFIED_RATE if alias == BARE_RATE_ALIAS else owner[alias]


@lru_cache(maxsize=16)
def _alias_starts(text: str) -> list[int]:
    return [s for s, _, _ in _article_aliases(text)]


def _aliases(text: str, start: int, end: int) -> list[tuple[int, str]]:
    """The aliases within text[start:end], found by bisection of the article's
    aliases (in order of their start) instead of a scan of all of them."""
    found = _article_aliases(text)
    starts = _alias_starts(text)
    low, high = bisect_left(starts, start), bisect_left(starts, end)
    return [(s, indicator) for s, e, indicator in found[low:high] if e <= end]


def features(ctx: ArticleContext, candidate: Candidate) -> dict[str, float]:
    mention = candidate.mention
    if mention is None:
        return {}
    text = ctx.text
    out: dict[str, float] = {}
    segment = _aliases(text, candidate.segment.start, candidate.segment.end)
    for _, indicator in segment:
        out[f"alias_clause={indicator}"] = 1.0
    if segment:
        nearest = min(segment, key=lambda item: abs(item[0] - mention.start))[1]
        out[f"alias_nearest={nearest}"] = 1.0
    # an alias in the phrase the number counts ("12,000 new urban jobs") names the
    # figure itself, more surely than one elsewhere in its clause
    counted = counted_phrase_span(text, mention.end, candidate.segment.end)
    if counted is not None:
        for _, indicator in _aliases(text, counted[0], counted[1]):
            out[f"alias_counted={indicator}"] = 1.0
            out["alias_counted"] = 1.0
    for where in _repeats(ctx, mention):
        out[f"repeated_{where}"] = 1.0
    for _, indicator in _aliases(text, candidate.sentence.start, candidate.sentence.end):
        out[f"alias_sentence={indicator}"] = 1.0
    if candidate.previous is not None:
        for _, indicator in _aliases(text, candidate.previous.start, candidate.previous.end):
            out[f"alias_previous={indicator}"] = 1.0
    cues = read_cues(text, mention, Clause(candidate.sentence, candidate.segment))
    for name in ("completion", "change", "negative", "target", "actual"):
        if getattr(cues, name):
            out[f"cue={name}"] = 1.0
    out[f"cue_kind={cues.inferred()}"] = 1.0
    scope = text[candidate.sentence.start : candidate.segment.end]
    for name, pattern in _MODALITY:
        if pattern.search(scope):
            out[f"modality={name}"] = 1.0
    tense, year = _period_tense(ctx, candidate)
    out[f"period_is={tense}"] = 1.0
    if year is not None:
        out[f"era={'from_2018' if year >= SURVEYED_RATE_FROM else 'before_2018'}"] = 1.0
    for word in _title_words(text):
        out[f"title={word}"] = 1.0
    return out


def _repeats(ctx: ArticleContext, mention: Mention) -> set[str]:
    """Where else the article states the same figure (the same value in the same
    unit): "earlier" and/or "later". A headline figure restated in the body is one
    record, its headline (guidelines rule 35), so the repeat decides which one."""
    found: set[str] = set()
    for other in ctx.mentions:
        same = other.value == mention.value and other.unit == mention.unit
        if same and other.of_interest and other.start != mention.start:
            found.add("earlier" if other.start < mention.start else "later")
    return found


@lru_cache(maxsize=64)
def _title_words(text: str) -> frozenset[str]:
    """The words of the article's first line: a plan or a notice states goals, a
    report states results, whatever the clause says."""
    return frozenset(tokens(text.lstrip().split("\n", 1)[0][:200]))


# How a clause frames its figure: a plan or goal, or a report of what happened.
_MODALITY = (
    ("future", re.compile(r"\b(?:will|shall|would|going to|(?:is|are) to)\b", re.IGNORECASE)),
    (
        "intent",
        re.compile(
            r"\b(?:strive|striving|aims?|aiming|plans?|planned|planning|seeks?|vow(?:s|ed)?|pledged?|"
            r"hopes?|expects?|expected|set to|to reach|to create|to add|to keep|to control|ensure|"
            r"targets?|goals?|tasks?)\b",
            re.IGNORECASE,
        ),
    ),
    ("by_year", re.compile(r"\bby (?:the end of )?(?:(?:19|20)\d\d|this year|the year)", re.IGNORECASE)),
    ("perfect", re.compile(r"\b(?:has|have|had) (?:been|already|\w+ed)\b", re.IGNORECASE)),
    ("past", re.compile(r"\b(?:was|were|last year|so far|as of|up to now)\b", re.IGNORECASE)),
)
_YEAR_IN_PERIOD = re.compile(r"(?:19|20)\d\d")


def _period_tense(ctx: ArticleContext, candidate: Candidate) -> tuple[str, int | None]:
    """Whether the figure's period ends after the year the article speaks from (a
    figure for a later year is a goal), in it, before it, or is unknown; and the
    figure's year: the last year of its period, else the article's year, else None."""
    now = relative_year(ctx.text, metadata_year(ctx.article.metadata))
    spans = [candidate.segment, candidate.sentence, *([candidate.previous] if candidate.previous else [])]
    period = period_of_figure(unwrapped(ctx.text), [(s.start, s.end) for s in spans], now)
    years = [int(y) for y in _YEAR_IN_PERIOD.findall(period or "")]
    year = years[-1] if years else now
    if now is None or not years:
        return "unknown", year
    if years[-1] > now:
        return "later", year
    return ("same" if years[-1] == now else "earlier"), year


@lru_cache(maxsize=1)
def lexicon() -> dict[str, Lexicon]:
    """The taxonomy as a label lexicon: each indicator's aliases and label words."""
    table = indicators()
    entries = {
        i.id: tuple(re.escape(a.lower()) for a in i.aliases if a.lower() != BARE_RATE_ALIAS)
        for i in table.values()
    }
    labels = {i.id: re.sub(r"\(.*?\)", "", i.label) for i in table.values()}
    raw: dict[str, Any] = tomllib.loads(CUES_FILE.read_text("utf-8"))
    kinds = {
        "target": (*raw["target"]["clause"], *raw["lexicon"]["target"]),
        "actual": tuple(raw["actual"]["clause"]),
        "change": tuple(raw["lexicon"]["change"]),
        "completion_rate": tuple(raw["lexicon"]["completion_rate"]),
    }
    return {
        "indicator": build_lexicon("indicator", entries, labels),
        "kind": build_lexicon("kind", kinds, {k: k.replace("_", " ") for k in kinds}),
    }
