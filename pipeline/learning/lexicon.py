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
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

from polex.pipeline.learning.candidates import Candidate
from polex.pipeline.learning.features import counted_phrase_span, lemma, measured_phrase, tokens

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
    label_tokens: tuple[frozenset[str], ...]
    combined: re.Pattern[str]  # every phrase in one pass, longest first, no groups (fast)
    phrases: tuple[tuple[str, int], ...]  # the same order: (phrase, value index)
    plain: dict[str, int]  # a phrase with no regex syntax -> its value (the first one listed)
    token_values: dict[str, tuple[int, ...]]  # label word -> values whose label has it
    index: dict[str, int]
    lemma_values: dict[str, tuple[int, ...]]  # label word without its plural -> values

    @cached_property
    def phrases_starting(self) -> tuple[dict[str, tuple[tuple[str, int], ...]], tuple[tuple[str, int], ...]]:
        """``phrases`` by the character a match can start with, each list in the
        order of ``phrases``: a character -> the phrases that can start with it and
        those whose start ``first_characters`` cannot tell; and the latter alone (for
        any other character). Which phrase a hit is needs only try these."""
        firsts = [(item, first_characters(item[0])) for item in self.phrases]
        unknown = tuple(item for item, first in firsts if first is None)
        characters = sorted({c for _, first in firsts if first is not None for c in first})
        by_character = {
            c: tuple(item for item, first in firsts if first is None or c in first) for c in characters
        }
        return by_character, unknown


# What a phrase's first character is, when a simple reading of its start tells.
_QUANTIFIERS = ("?", "*", "{")


def first_characters(phrase: str) -> frozenset[str] | None:
    """The characters a match of the regular expression ``phrase`` can start with:
    each top-level alternative's first literal letter, digit or space (after a
    leading ``\\b``), or the first characters of the alternatives of a ``(?:...)``
    group it starts with; None when its start is anything else (a class, an escape,
    an optional first character: it can start with anything)."""
    found: set[str] = set()
    alternatives = _top_level(phrase)
    if alternatives is None:
        return None
    for alternative in alternatives:
        if alternative.startswith("\\b"):
            alternative = alternative[2:]
        if alternative.startswith("(?:"):
            end = _group_end(alternative)
            if end is None or alternative[end + 1 : end + 2] in _QUANTIFIERS:
                return None
            inner = first_characters(alternative[3:end])
            if inner is None:
                return None
            found |= inner
            continue
        first = alternative[:1]
        if not (first.isascii() and (first.isalnum() or first == " ")) or alternative[1:2] in _QUANTIFIERS:
            return None
        found.add(first)
    return frozenset(found)


def _depths(pattern: str) -> Iterator[tuple[int, str, int]]:
    """(index, character, group depth after it) of every character of ``pattern``
    that is neither escaped nor inside a character class."""
    depth, i = 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i = _class_end(pattern, i) + 1
            continue
        depth += (c == "(") - (c == ")")
        yield i, c, depth
        i += 1


def _top_level(pattern: str) -> list[str] | None:
    """``pattern`` split at its top-level ``|`` (not inside a group or a class, not
    escaped); None when its groups do not balance."""
    pieces: list[str] = []
    start, depth = 0, 0
    for i, c, depth in _depths(pattern):
        if depth < 0:
            return None
        if c == "|" and depth == 0:
            pieces.append(pattern[start:i])
            start = i + 1
    if depth != 0:
        return None
    pieces.append(pattern[start:])
    return pieces


def _group_end(pattern: str) -> int | None:
    """The index of the ``)`` that closes the group opening ``pattern``."""
    return next((i for i, c, depth in _depths(pattern) if c == ")" and depth == 0), None)


def _class_end(pattern: str, start: int) -> int:
    """The index of the ``]`` that closes the class opening at ``start`` (a ``]``
    right after ``[`` or ``[^`` is a member)."""
    i = start + 1
    if pattern[i : i + 1] == "^":
        i += 1
    if pattern[i : i + 1] == "]":
        i += 1
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] == "]":
            return i
        i += 1
    return len(pattern)


def build_lexicon(field: str, entries: dict[str, tuple[str, ...]], labels: dict[str, str]) -> Lexicon:
    """``entries``: value -> regular expressions in lower case (matched against the
    lowercased text); ``labels``: value -> its label text."""
    values = tuple(sorted(set(entries) | set(labels)))
    label_tokens = tuple(
        frozenset(t for t in tokens(labels.get(v, v.replace("_", " "))) if t not in _STOP and t != "#")
        for v in values
    )
    phrases = sorted(
        ((phrase, i) for i, v in enumerate(values) for phrase in entries.get(v, ())),
        key=lambda item: (-len(item[0]), item[1], item[0]),
    )
    # Phrases start at a word's start: the look-behind rejects most positions at once.
    alternatives = "|".join(f"(?:{phrase})" for phrase, _ in phrases)
    # Matched against the lowercased text without IGNORECASE (several times faster):
    # phrases are written in lower case.
    combined = re.compile(rf"(?<![\w-])(?:{alternatives or '(?!x)x'})")
    token_values: dict[str, list[int]] = {}
    for i, words in enumerate(label_tokens):
        for word in words:
            token_values.setdefault(word, []).append(i)
    lemma_values: dict[str, list[int]] = {}
    for i, words in enumerate(label_tokens):
        for word in sorted({lemma(w) for w in words}):
            lemma_values.setdefault(word, []).append(i)
    return Lexicon(
        field,
        values,
        label_tokens,
        combined,
        tuple(phrases),
        _plain_phrases(phrases),
        {w: tuple(v) for w, v in token_values.items()},
        {v: i for i, v in enumerate(values)},
        {w: tuple(v) for w, v in lemma_values.items()},
    )


def _plain_phrases(phrases: list[tuple[str, int]]) -> dict[str, int]:
    """Phrases that are literal text (an escaped alias): their match names them."""
    plain: dict[str, int] = {}
    for phrase, value in phrases:
        literal = re.sub(r"\\(.)", r"\1", phrase)
        if re.escape(literal) == phrase:
            plain.setdefault(literal, value)
    return plain


@dataclass(frozen=True)
class Hit:
    start: int
    end: int
    value: int  # index into Lexicon.values


def hits(lexicon: Lexicon, text: str) -> list[Hit]:
    """Every phrase of the lexicon in ``text`` in one pass; where phrases of several
    values start at one place, the longest wins (as the taxonomy's rules do)."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a character whose lower case is longer ("İ"): keep it as is
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    found: list[Hit] = []
    by_character, unknown = lexicon.phrases_starting
    for m in lexicon.combined.finditer(lowered):
        start, end = m.span()
        if end == start:
            continue
        known = lexicon.plain.get(m.group())
        if known is not None:
            found.append(Hit(start, end, known))
            continue
        # which phrase matched: the first, in the combined pattern's order, that
        # matches here with the same end (group-free matching is much faster);
        # only the phrases that can start with the character here are tried
        for phrase, value in by_character.get(lowered[start], unknown):
            again = _phrase_pattern(phrase).match(lowered, start)
            if again is not None and again.end() == end:
                found.append(Hit(start, end, value))
                break
    return found


@lru_cache(maxsize=4096)
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A phrase compiled when a match first needs it: most phrases are plain text,
    named by their match, and compiling all of them cost every run's start-up."""
    return re.compile(phrase)


@lru_cache(maxsize=512)
def _tokens_of(text: str) -> frozenset[str]:
    """The words of a window, read once per article (its candidates share windows);
    a few articles' worth, so the cache stops growing early in a run."""
    return frozenset(tokens(text))


def _starting_within(article_hits: Sequence[Hit], start: int, end: int) -> Sequence[Hit]:
    """The hits that start in [start, end), found by bisection: ``hits`` returns them
    in order of their start, and a candidate would otherwise scan every hit of the article."""
    low = bisect_left(article_hits, start, key=lambda hit: hit.start)
    high = bisect_left(article_hits, end, lo=low, key=lambda hit: hit.start)
    return article_hits[low:high]


def shared_features(
    lexicon: Lexicon, text: str, candidate: Candidate, article_hits: Sequence[Hit], rule_value: str | None
) -> list[dict[str, float]]:
    """For each value of the lexicon, the value-independent features of the pair.
    Work is per hit and per window word, not per value: most values have none."""
    anchor = candidate.mention.start if candidate.mention is not None else candidate.start
    sentence, segment, previous = candidate.sentence, candidate.segment, candidate.previous
    out: list[dict[str, float]] = [{} for _ in lexicon.values]
    in_sentence = _starting_within(article_hits, sentence.start, sentence.end)
    for hit in in_sentence:
        features = out[hit.value]
        features["lex:sentence"] = 1.0
        if segment.start <= hit.start < segment.end:
            features["lex:clause"] = 1.0
        if hit.start >= anchor and hit.start - anchor <= WINDOW_CHARS:
            features["lex:after"] = 1.0
        if hit.start < anchor and anchor - hit.end <= WINDOW_CHARS:
            features["lex:before"] = 1.0
    nearest = min(in_sentence, key=lambda h: abs(h.start - anchor), default=None)
    if nearest is not None:
        out[nearest.value]["lex:nearest"] = 1.0
    in_segment = [h for h in in_sentence if segment.start <= h.start < segment.end]
    nearest_segment = min(in_segment, key=lambda h: abs(h.start - anchor), default=None)
    if nearest_segment is not None:
        out[nearest_segment.value]["lex:nearest_clause"] = 1.0
    if previous is not None:
        for hit in _starting_within(article_hits, previous.start, previous.end):
            out[hit.value]["lex:previous"] = 1.0
    window = text[max(sentence.start, anchor - WINDOW_CHARS) : min(sentence.end, anchor + WINDOW_CHARS)]
    for i, overlap in _label_overlaps(_tokens_of(window), lexicon.token_values).items():
        out[i][f"lex:overlap={min(overlap, 3)}"] = 1.0
    if candidate.mention is not None:
        _counted_phrase_features(lexicon, text, candidate, article_hits, out)
    else:
        _sentence_hit_features(lexicon, text, candidate, in_sentence, out)
    if rule_value is not None and rule_value in lexicon.index:
        out[lexicon.index[rule_value]]["lex:rule"] = 1.0
    return out


def _counted_phrase_features(
    lexicon: Lexicon,
    text: str,
    candidate: Candidate,
    article_hits: Sequence[Hit],
    out: list[dict[str, float]],
) -> None:
    """How many words of each value's label the noun phrase the number measures
    holds (``measured_phrase``: after the number, else before it; plurals ignored:
    "jobs fairs" names job_fairs_and_postings), whether its
    head word is one of them, and whether one of the value's phrases stands in it
    ("12,000 new urban jobs")."""
    assert candidate.mention is not None
    span = counted_phrase_span(text, candidate.mention.end, candidate.segment.end)
    if span is not None:
        for hit in _starting_within(article_hits, span[0], span[1]):
            out[hit.value]["lex:counted"] = 1.0
    before = text[candidate.segment.start : candidate.mention.start]
    after = text[candidate.mention.end : candidate.segment.end]
    phrase = [lemma(w) for w in measured_phrase(tokens(before), tokens(after))]
    if not phrase:
        return
    for i, overlap in _label_overlaps(set(phrase), lexicon.lemma_values).items():
        out[i][f"lex:phrase_overlap={min(overlap, 3)}"] = 1.0
    for i in lexicon.lemma_values.get(phrase[-1], ()):
        out[i]["lex:phrase_head"] = 1.0


def _sentence_hit_features(
    lexicon: Lexicon,
    text: str,
    candidate: Candidate,
    in_sentence: Sequence[Hit],
    out: list[dict[str, float]],
) -> None:
    """For a sentence candidate, read over the whole sentence (the window and the
    nearest hit above see only its start): how many of each value's phrases it
    holds (1, 2, 3 or more), whether the value holds the most of them, and how many
    words of each value's label it holds."""
    counts: dict[int, int] = {}
    for hit in in_sentence:
        counts[hit.value] = counts.get(hit.value, 0) + 1
    most = max(counts.values(), default=0)
    for value, count in counts.items():
        out[value][f"lex:hits={min(count, 3)}"] = 1.0
        if count == most:
            out[value]["lex:most"] = 1.0
    words = _tokens_of(text[candidate.sentence.start : candidate.sentence.end])
    for i, overlap in _label_overlaps(words, lexicon.token_values).items():
        out[i][f"lex:sentence_overlap={min(overlap, 3)}"] = 1.0


def _label_overlaps(words: Iterable[str], values_of: dict[str, tuple[int, ...]]) -> dict[int, int]:
    """For each value, how many of ``words`` its label holds (``values_of``: word ->
    the values whose label has it)."""
    overlaps: dict[int, int] = {}
    for word in words:
        for i in values_of.get(word, ()):
            overlaps[i] = overlaps.get(i, 0) + 1
    return overlaps
