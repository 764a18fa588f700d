"""Label lexicons: what a schema knows about the words of each label value (the
indicator taxonomy's labels and aliases, the category cues), turned into features
that every value shares. A classifier over a lexicon field scores each (candidate,
value) pair: weights tied to a value are learned from that value's examples, and
weights of the shared features ("one of this value's phrases stands in the
clause", "the nearest phrase is this value's", "the rules chose this value") are
learned from every example, so a value with few or no gold examples is not empty.

The pair model is a logistic regression on pairs; prediction is a softmax over the
values' scores (a conditional logit)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from pipeline.learning.candidates import Candidate
from pipeline.learning.features import tokens

# Words too common to tell labels apart.
_STOP = frozenset(
    {
        "a",
        "an",
        "and",
        "the",
        "of",
        "in",
        "on",
        "for",
        "to",
        "by",
        "with",
        "from",
        "at",
        "as",
        "or",
        "per",
        "its",
        "their",
        "this",
        "that",
        "be",
        "is",
        "are",
        "was",
        "were",
        "which",
        "who",
        "new",
        "total",
        "number",
        "people",
        "persons",
        "rate",
    }
)
WINDOW_CHARS = 60


@dataclass(frozen=True)
class Lexicon:
    field: str
    values: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]  # one per value
    label_tokens: tuple[frozenset[str], ...]


def build_lexicon(field: str, entries: dict[str, tuple[str, ...]], labels: dict[str, str]) -> Lexicon:
    """``entries``: value -> regular expressions; ``labels``: value -> its label text."""
    values = tuple(sorted(set(entries) | set(labels)))
    patterns = tuple(
        re.compile("|".join(f"(?:{p})" for p in entries.get(v, ())) or r"(?!x)x", re.IGNORECASE)
        for v in values
    )
    label_tokens = tuple(
        frozenset(t for t in tokens(labels.get(v, v.replace("_", " "))) if t not in _STOP and t != "#")
        for v in values
    )
    return Lexicon(field, values, patterns, label_tokens)


@dataclass(frozen=True)
class Hit:
    start: int
    end: int
    value: int  # index into Lexicon.values


def hits(lexicon: Lexicon, text: str) -> list[Hit]:
    found = [
        Hit(m.start(), m.end(), i)
        for i, pattern in enumerate(lexicon.patterns)
        for m in pattern.finditer(text)
    ]
    return sorted(found, key=lambda h: (h.start, -h.end))


@lru_cache(maxsize=4096)
def _tokens_of(text: str) -> frozenset[str]:
    return frozenset(tokens(text))


def shared_features(
    lexicon: Lexicon, text: str, candidate: Candidate, article_hits: Sequence[Hit], rule_value: str | None
) -> list[dict[str, float]]:
    """For each value of the lexicon, the value-independent features of the pair."""
    anchor = candidate.mention.start if candidate.mention is not None else candidate.start
    sentence, segment, previous = candidate.sentence, candidate.segment, candidate.previous
    in_sentence = [h for h in article_hits if sentence.start <= h.start < sentence.end]
    nearest = min(in_sentence, key=lambda h: abs(h.start - anchor), default=None)
    in_segment = [h for h in in_sentence if segment.start <= h.start < segment.end]
    nearest_segment = min(in_segment, key=lambda h: abs(h.start - anchor), default=None)
    window = text[max(sentence.start, anchor - WINDOW_CHARS) : min(sentence.end, anchor + WINDOW_CHARS)]
    window_tokens = _tokens_of(window)
    out: list[dict[str, float]] = []
    for i, value in enumerate(lexicon.values):
        features: dict[str, float] = {}
        mine = [h for h in in_sentence if h.value == i]
        if any(segment.start <= h.start < segment.end for h in mine):
            features["lex:clause"] = 1.0
        if mine:
            features["lex:sentence"] = 1.0
        if any(h.start >= anchor and h.start - anchor <= WINDOW_CHARS for h in mine):
            features["lex:after"] = 1.0
        if any(h.start < anchor and anchor - h.end <= WINDOW_CHARS for h in mine):
            features["lex:before"] = 1.0
        if nearest is not None and nearest.value == i:
            features["lex:nearest"] = 1.0
        if nearest_segment is not None and nearest_segment.value == i:
            features["lex:nearest_clause"] = 1.0
        if previous is not None and any(
            previous.start <= h.start < previous.end and h.value == i for h in article_hits
        ):
            features["lex:previous"] = 1.0
        overlap = len(window_tokens & lexicon.label_tokens[i])
        if overlap:
            features[f"lex:overlap={min(overlap, 3)}"] = 1.0
        if rule_value == value:
            features["lex:rule"] = 1.0
        out.append(features)
    return out
