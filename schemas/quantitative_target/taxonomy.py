"""The indicator taxonomy and the kind cues, read from this folder's TOML files."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from polex.pipeline.text import CaselessPattern

HERE = Path(__file__).parent
INDICATORS_FILE = HERE / "indicators.toml"
CUES_FILE = HERE / "cues.toml"
EXCLUDE = "_exclude"


@dataclass(frozen=True)
class Indicator:
    id: str
    label: str
    unit: str
    force_unit: bool
    aliases: tuple[str, ...]
    alias_units: dict[str, str]


@lru_cache(maxsize=1)
def indicators() -> dict[str, Indicator]:
    raw: dict[str, Any] = tomllib.loads(INDICATORS_FILE.read_text("utf-8"))
    return {
        key: Indicator(
            key,
            entry["label"],
            entry["unit"],
            entry.get("force_unit", False),
            tuple(entry["aliases"]),
            {k.lower(): v for k, v in entry.get("alias_units", {}).items()},
        )
        for key, entry in raw.items()
        if key != "exclude"
    }


@lru_cache(maxsize=1)
def excluded_aliases() -> tuple[str, ...]:
    raw: dict[str, Any] = tomllib.loads(INDICATORS_FILE.read_text("utf-8"))
    return tuple(raw.get("exclude", {}).get("aliases", []))


@lru_cache(maxsize=1)
def alias_pattern() -> tuple[CaselessPattern, dict[str, str]]:
    """One pattern over every alias (longest first) and the id each alias maps to."""
    owner: dict[str, str] = {}
    for indicator in indicators().values():
        for alias in indicator.aliases:
            owner.setdefault(alias.lower(), indicator.id)
    for alias in excluded_aliases():
        owner.setdefault(alias.lower(), EXCLUDE)
    ordered = sorted(owner, key=len, reverse=True)
    pattern = CaselessPattern.compile(
        r"(?<![\w-])(" + "|".join(re.escape(a) for a in ordered) + r")(?![\w-])"
    )
    return pattern, owner


@dataclass(frozen=True)
class CueSet:
    """The cues of cues.toml. Where only whether any cue of a list is there matters,
    the list is one pattern; the change cues are kept apart because the first that
    matches is read further."""

    completion_after: CaselessPattern
    completion_before: CaselessPattern
    change_before: tuple[CaselessPattern, ...]
    change_after: tuple[CaselessPattern, ...]
    negative: CaselessPattern
    target: CaselessPattern
    actual: CaselessPattern


@lru_cache(maxsize=1)
def cues() -> CueSet:
    raw: dict[str, Any] = tomllib.loads(CUES_FILE.read_text("utf-8"))

    def compile_all(patterns: list[str]) -> tuple[CaselessPattern, ...]:
        return tuple(CaselessPattern.compile(p) for p in patterns)

    return CueSet(
        completion_after=CaselessPattern.any_of(raw["completion_rate"]["after"]),
        completion_before=CaselessPattern.any_of(raw["completion_rate"]["before"]),
        change_before=compile_all(raw["change"]["before"]),
        change_after=compile_all(raw["change"]["after"]),
        negative=CaselessPattern.any_of(raw["change"]["negative"]),
        target=CaselessPattern.any_of(raw["target"]["clause"]),
        actual=CaselessPattern.any_of(raw["actual"]["clause"]),
    )
