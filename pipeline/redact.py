"""Keeps secrets out of everything a run writes. A server may echo an API key in an
error message ("Incorrect API key provided: sk-..."); the run store passes every
file it writes through ``redact`` so such text never reaches a manifest, a part or
errors.jsonl."""

from __future__ import annotations

import os
import re

_SECRET_NAMES = re.compile(r"(API_KEY|TOKEN|SECRET|PASSWORD)", re.IGNORECASE)
_MIN_SECRET_LENGTH = 8
_extra: set[str] = set()


def register_secret(value: str | None) -> None:
    """Add a secret that did not come from the environment (e.g. a key in settings)."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        _extra.add(value)


def secret_values() -> list[str]:
    found = {v for k, v in os.environ.items() if _SECRET_NAMES.search(k) and len(v) >= _MIN_SECRET_LENGTH}
    return sorted(found | _extra, key=len, reverse=True)


def redact(text: str) -> str:
    for secret in secret_values():
        text = text.replace(secret, "[REDACTED]")
    return text
