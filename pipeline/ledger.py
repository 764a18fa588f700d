"""What a run remembers of each article it has seen, kept on disk so that memory
does not grow with the number of articles: the article's manifest entry and the
sha256 of its part file are spooled to an anonymous temporary file as each article
is settled (finished, resumed, or left pending), in any order, and read back in
input order for the outputs and the manifest. In memory: one file offset per
article."""

from __future__ import annotations

import json
import tempfile
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from polex.pipeline.artifacts import ArticleEntry

_UNSETTLED = -1


@dataclass(frozen=True)
class Settled:
    """One article as the ledger gives it back: its manifest entry and, when the
    article has a part file, that file's sha256."""

    entry: ArticleEntry
    digest: str | None


class Ledger:
    """Positions are handed out in input order (``reserve``); each is settled once
    (``settle``); ``in_order`` reads them back by position."""

    def __init__(self, directory: Path) -> None:
        # closed by __exit__: the ledger is used as a context manager
        self._spool = tempfile.TemporaryFile(mode="w+b", dir=directory, prefix=".polex-ledger-")  # noqa: SIM115
        self._offsets = array("q")  # position -> offset of its line in the spool

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._spool.close()

    def __len__(self) -> int:
        return len(self._offsets)

    def reserve(self) -> int:
        """The position of the next article in input order."""
        self._offsets.append(_UNSETTLED)
        return len(self._offsets) - 1

    def is_settled(self, position: int) -> bool:
        return self._offsets[position] != _UNSETTLED

    def settle(self, position: int, entry: ArticleEntry, digest: str | None) -> None:
        line = json.dumps([digest, entry.model_dump_json(by_alias=True, exclude_unset=True)]) + "\n"
        self._spool.seek(0, 2)
        self._offsets[position] = self._spool.tell()
        self._spool.write(line.encode("utf-8"))

    def in_order(self) -> Iterator[Settled]:
        """Every settled article, in input order."""
        for offset in self._offsets:
            if offset == _UNSETTLED:
                continue
            self._spool.seek(offset)
            digest, entry = json.loads(self._spool.readline())
            yield Settled(ArticleEntry.model_validate_json(entry), digest)
