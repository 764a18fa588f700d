"""The category cues of categories.toml as a label lexicon for the learned extractor."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from typing import Any

from polex.pipeline.learning.lexicon import Lexicon, build_lexicon
from polex.schemas.policy_measure.offline import CATEGORIES_FILE


@lru_cache(maxsize=1)
def lexicon() -> dict[str, Lexicon]:
    raw: dict[str, Any] = tomllib.loads(CATEGORIES_FILE.read_text("utf-8"))
    entries = {name: tuple(entry["cues"]) for name, entry in raw["categories"].items()}
    labels = {name: name.replace("_", " ") for name in entries}
    return {"category": build_lexicon("category", entries, labels)}
