"""Atomic file writes, the one way polex replaces a file: the content goes to a
temporary file beside the target, is flushed and fsynced, and is renamed over the
target, so a reader (or a run killed at any point) sees the old file or the new
one, never half of one. Run files and the response cache both write through here."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


# mkstemp creates 0600 files; what we write gets the permissions any new file would get.
_FILE_MODE = 0o666 & ~_umask()


@contextmanager
def atomic_open(path: Path) -> Iterator[TextIO]:
    """A text handle (UTF-8, no newline translation) whose content replaces ``path``
    when the block ends without an error; on an error the target is untouched and
    the temporary file removed. OSError (a full disk, a vanished folder) propagates."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            os.fchmod(handle.fileno(), _FILE_MODE)
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, content: str) -> None:
    """Replace ``path`` with ``content`` atomically (see ``atomic_open``)."""
    with atomic_open(path) as handle:
        handle.write(content)
