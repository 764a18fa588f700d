"""Keeps secrets out of everything a run writes. A server may echo an API key in an
error message ("Incorrect API key provided: sk-..."); the run store passes every
file it writes through ``redact`` so such text never reaches a manifest, a part or
errors.jsonl. A URL carrying credentials (``user:pw@host``, ``?api-key=...``) is
written with them masked, wherever it appears (the manifest's command line too)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SECRET_NAMES = re.compile(r"(API_KEY|TOKEN|SECRET|PASSWORD)", re.IGNORECASE)
_SECRET_PARAMETERS = re.compile(r"(key|token|secret|password|signature|sig|auth)", re.IGNORECASE)
_MIN_SECRET_LENGTH = 8
MASK = "[REDACTED]"
_extra: dict[str, str] = {}


def register_secret(value: str | None, replacement: str = MASK) -> None:
    """Add a secret that did not come from the environment (e.g. a key in settings)."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        _extra[value] = replacement


def masked_url(url: str) -> str:
    """``url`` with its password and any key-like query values replaced by the mask."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{MASK}@{host}"
    query = [
        (name, MASK if _SECRET_PARAMETERS.search(name) else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="[]"), parts.fragment))


def register_url(url: str | None) -> str | None:
    """Register the credentials inside ``url`` as secrets; returns the masked URL."""
    if not url:
        return url
    masked = masked_url(url)
    if masked != url:
        _extra[url] = masked
        parts = urlsplit(url)
        register_secret(parts.password)
        for name, value in parse_qsl(parts.query):
            if _SECRET_PARAMETERS.search(name):
                register_secret(value)
    return masked


def _replacements() -> list[tuple[str, str]]:
    found = {
        v: MASK for k, v in os.environ.items() if _SECRET_NAMES.search(k) and len(v) >= _MIN_SECRET_LENGTH
    }
    found.update(_extra)
    return sorted(found.items(), key=lambda item: len(item[0]), reverse=True)


def redact(text: str) -> str:
    return redactor()(text)


def redactor() -> Callable[[str], str]:
    """``redact`` with the secrets looked up once, for writing many pieces of one file."""
    replacements = _replacements()

    def apply(text: str) -> str:
        for secret, replacement in replacements:
            text = text.replace(secret, replacement)
        return text

    return apply
