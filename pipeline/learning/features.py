"""Features of a candidate: words and word pairs around the number and in its
clause, sentence and the sentence before; what the quantity engine read (unit,
scale, comparator, artefacts); and what the schema's own rules said about it.
Every feature is a string with value 1.0; the vocabulary is learned."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from itertools import pairwise

from polex.pipeline.learning.candidates import Candidate

FEATURE_VERSION = 4
_TOKEN = re.compile(r"[a-z]+(?:-[a-z]+)*|\d+(?:[.,]\d+)*|%")
WINDOW = 4


def tokens(text: str) -> list[str]:
    return ["#" if t[0].isdigit() else t for t in _TOKEN.findall(text.lower())]


def _bag(prefix: str, words: Iterable[str]) -> dict[str, float]:
    return {f"{prefix}{w}": 1.0 for w in words}


def _pairs(prefix: str, words: list[str]) -> dict[str, float]:
    return {f"{prefix}{a}_{b}": 1.0 for a, b in pairwise(words)}


def lemma(word: str) -> str:
    """A word without its plural ending ("fairs" -> "fair", "subsidies" ->
    "subsidy"), so that a phrase and a label match whatever their number."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


# Words that end the noun phrase after a number: verbs of being and having,
# modals, prepositions and conjunctions that open a new phrase.
_PHRASE_END = frozenset(
    {
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "will",
        "would",
        "shall",
        "should",
        "can",
        "could",
        "may",
        "must",
        "has",
        "have",
        "had",
        "in",
        "at",
        "by",
        "from",
        "to",
        "for",
        "with",
        "on",
        "during",
        "than",
        "over",
        "under",
        "within",
        "into",
        "since",
        "as",
        "who",
        "which",
        "that",
        "while",
        "after",
        "before",
        "between",
        "through",
        "across",
        "compared",
        "accounting",
        # what follows an amount rather than names it ("yuan a month", "yuan per
        # person", "US$"), and hedges ("or so", "about", "less")
        "a",
        "an",
        "per",
        "each",
        "every",
        "about",
        "around",
        "less",
        "throughout",
        "us",
    }
)
PHRASE_WORDS = 6
# Participles that stand before a noun as adjectives in this domain ("registered
# unemployed persons", "skilled workers"): inside a phrase they do not end it.
_ADJECTIVE_PARTICIPLES = frozenset(
    {"unemployed", "employed", "reemployed", "re-employed", "self-employed", "skilled", "disabled", "retired"}
)


def _verb_like(word: str) -> bool:
    """A past form or an adverb ("people transferred", "enterprises enjoyed such
    subsidies", "residents expected", "jobs recently"): after a noun it starts the
    clause's verb phrase, not more of the noun."""
    past_form = word.endswith("ed") and word not in _ADJECTIVE_PARTICIPLES
    return past_form or (len(word) > 4 and word.endswith("ly"))


def counted_phrase(words: list[str]) -> list[str]:
    """The noun phrase that names what a number counts: the words right after it up
    to a verb, a preposition, another number or PHRASE_WORDS words ("686000 new jobs
    were created" -> new, jobs; "33 on-site and online jobs fairs were held" ->
    on-site, and, online, jobs, fairs; "5000 people transferred" -> people)."""
    phrase: list[str] = []
    for word in words[:PHRASE_WORDS]:
        if word in _PHRASE_END or word == "#" or (phrase and _verb_like(word)):
            break
        phrase.append(word)
    return phrase


# Words between a noun phrase and the number it is measured by ("the number of new
# jobs reached 12,000", "loans of up to 100,000 yuan", "vacancies some 3000").
_LINKING = frozenset(
    {
        "of",
        "at",
        "to",
        "up",
        "by",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "reached",
        "reach",
        "reaching",
        "stood",
        "totaled",
        "totalled",
        "totaling",
        "totalling",
        "hit",
        "exceeded",
        "exceeding",
        "amounted",
        "some",
        "about",
        "around",
        "over",
        "nearly",
        "almost",
        "approximately",
        "than",
        "more",
        "less",
        "fewer",
        "least",
        "no",
        "the",
        "a",
        "an",
        "maximum",
        "minimum",
        "and",
        "with",
        "as",
        "many",
        "much",
    }
)


def measured_phrase(left: list[str], right: list[str]) -> list[str]:
    """The noun phrase a number measures: its counted phrase after it, or, when none
    follows, the noun phrase before it, across linking words ("the number of new jobs
    reached 12,000" -> new, jobs; "loans of up to 100,000 yuan" -> loans), in text
    order. Numbers and "%" are never part of it."""
    phrase = [w for w in counted_phrase(right) if w != "%"]
    if phrase:
        return phrase
    words = list(reversed(left))
    while words and words[0] in _LINKING:
        words.pop(0)
    found: list[str] = []
    for word in words[:PHRASE_WORDS]:
        if word in _PHRASE_END or word in _LINKING or word == "#" or word == "%":
            break
        found.append(word)
    return list(reversed(found))


def counted_phrase_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Where the counted phrase of the number that ends at ``start`` stands in
    ``text[start:end]`` (its clause after the number), as offsets into ``text``; None
    when the number is followed by no such phrase."""
    matches = list(_TOKEN.finditer(text[start:end].lower()))
    words = ["#" if m.group()[0].isdigit() else m.group() for m in matches]
    length = len(counted_phrase(words))
    if not length:
        return None
    return start + matches[0].start(), start + matches[length - 1].end()


def mention_features(text: str, candidate: Candidate) -> dict[str, float]:
    mention = candidate.mention
    assert mention is not None
    sentence, segment = candidate.sentence, candidate.segment
    left_segment = tokens(text[segment.start : mention.start])
    right_segment = tokens(text[mention.end : segment.end])
    left_sentence = tokens(text[sentence.start : segment.start])
    right_sentence = tokens(text[segment.end : sentence.end])
    out: dict[str, float] = {"bias": 1.0}
    out.update(_bag("ls=", left_segment))
    out.update(_bag("rs=", right_segment))
    out.update(_bag("lS=", left_sentence))
    out.update(_bag("rS=", right_sentence))
    out.update(_pairs("bl=", left_segment))
    out.update(_pairs("br=", right_segment))
    for i, word in enumerate(reversed(left_segment[-WINDOW:]), 1):
        out[f"l{i}={word}"] = 1.0
    for i, word in enumerate(right_segment[:WINDOW], 1):
        out[f"r{i}={word}"] = 1.0
    phrase = [lemma(w) for w in measured_phrase(left_segment, right_segment)]
    out.update(_bag("np=", phrase))
    if phrase:
        out[f"head={phrase[-1]}"] = 1.0
    if candidate.previous is not None:
        out.update(_bag("p=", tokens(candidate.previous.text)))
    out.update(_bag("m=", tokens(mention.text)))
    out[f"unit={mention.unit}"] = 1.0
    out[f"unit_explicit={mention.unit_explicit}"] = 1.0
    out[f"comparator={mention.comparator}"] = 1.0
    magnitude = math.floor(math.log10(abs(mention.value))) if mention.value else -9
    out[f"magnitude={max(-3, min(magnitude, 12))}"] = 1.0
    out[f"integer={float(mention.value).is_integer()}"] = 1.0
    out[f"unit_magnitude={mention.unit}_{max(-3, min(magnitude, 12))}"] = 1.0
    if mention.high is not None:
        out["range"] = 1.0
    for artefact in mention.artefacts:
        out[f"artefact={artefact.kind}"] = 1.0
    out[f"position={min(4, 5 * candidate.start // max(1, len(text)))}"] = 1.0
    return out


def sentence_features(text: str, candidate: Candidate) -> dict[str, float]:
    words = tokens(candidate.sentence.text)
    out: dict[str, float] = {"bias": 1.0}
    out.update(_bag("w=", words))
    out.update(_pairs("b=", words))
    for i, word in enumerate(words[:3]):
        out[f"first{i}={word}"] = 1.0
    if candidate.previous is not None:
        out.update(_bag("p=", tokens(candidate.previous.text)))
    out[f"numbers={min(3, words.count('#'))}"] = 1.0
    out[f"length={min(6, len(words) // 10)}"] = 1.0
    out[f"position={min(4, 5 * candidate.start // max(1, len(text)))}"] = 1.0
    return out
