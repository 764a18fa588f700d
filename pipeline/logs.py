"""Logging for the CLI: every log record, from any library, has secrets redacted
when it is created, and instructor's per-attempt error logs are quieted (the
manifest accounts for every attempt, and those logs would repeat server messages
that can echo an API key)."""

from __future__ import annotations

import logging
from typing import Any

from polex.pipeline.redact import redact

_configured = False


def configure(level: int = logging.WARNING) -> None:
    global _configured
    if _configured:
        return
    factory = logging.getLogRecordFactory()

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.msg = redact(record.getMessage())
        record.args = None
        return record

    logging.setLogRecordFactory(redacting_factory)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("instructor").setLevel(logging.CRITICAL)
    _configured = True
