"""Reads articles from files, folders of .txt/.md/.jsonl, or JSONL of {id, text,
metadata}. Every problem with one input becomes an error naming that input (file,
and line for JSONL) while the others are read; only a path that does not exist at
all stops the run before it starts."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polex.pipeline.errors import PolexError
from polex.pipeline.records import Article

if TYPE_CHECKING:
    import sqlite3

TEXT_SUFFIXES = {".txt", ".md"}
JSONL_SUFFIXES = {".jsonl"}
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
# Tried in order after UTF-8: the encodings Chinese news files come in.
CHINESE_ENCODINGS = ("gb18030", "big5")
# Largest share of non-ASCII bytes read as Western (cp1252, Latin-1) text.
MAX_WESTERN_NON_ASCII = 0.2


@dataclass(frozen=True)
class InputProblem:
    source: str
    article_id: str | None
    message: str
    duplicate: bool = False  # a readable article whose id an earlier one has

    def as_dict(self) -> dict[str, str | None]:
        return {"article_id": self.article_id, "source": self.source, "stage": "input", "error": self.message}


class InputError(PolexError):
    """The inputs cannot be read at all (a path that does not exist, nothing to read)."""


class UndecodableInput(PolexError, ValueError):
    pass


_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# Searched (re's own cache compiles them once) only for text that is not UTF-8.
_CJK = r"[\u3400-\u9fff\uf900-\ufaff]"
_LATIN_ISOLATED_CJK = r"(?<=[A-Za-z])[\u3400-\u9fff\uf900-\ufaff](?![\u3400-\u9fff\uf900-\ufaff])"


def _utf16_without_bom(raw: bytes) -> str | None:
    """Mostly-ASCII UTF-16 has a NUL in every other byte: BE at even, LE at odd offsets."""
    head = raw[:8192]
    if len(head) < 4 or len(raw) % 2:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    half = len(head) // 2
    if even > 0.6 * half and odd < 0.05 * half:
        return "utf-16-be"
    if odd > 0.6 * half and even < 0.05 * half:
        return "utf-16-le"
    return None


def _looks_like_misread_latin(text: str) -> bool:
    """Western text read as GB18030 turns each accented letter and the letter after
    it into one CJK character wedged between Latin letters ("Qu閎ec"); Chinese text
    has runs of CJK characters."""
    cjk = len(re.findall(_CJK, text))
    return cjk > 0 and len(re.findall(_LATIN_ISOLATED_CJK, text)) * 2 > cjk


def decode(raw: bytes) -> tuple[str, str]:
    """(text, encoding): a BOM's encoding, UTF-8, BOM-less UTF-16, the Chinese
    encodings, then Western (cp1252, Latin-1) for text the Chinese ones misread."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                return raw[len(bom) :].decode(encoding), encoding.replace("-le", "").replace("-be", "")
            except UnicodeDecodeError as exc:
                raise UndecodableInput(
                    f"starts with a {encoding.upper()} byte-order mark but is not {encoding.upper()}"
                ) from exc
    utf16 = _utf16_without_bom(raw) if b"\x00" in raw[:8192] else None
    if utf16:
        try:
            return raw.decode(utf16), utf16
        except UnicodeDecodeError:
            pass
    if b"\x00" in raw[:8192]:
        raise UndecodableInput("binary file (contains NUL bytes), not text")
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    chinese = _chinese(raw)
    if chinese and not _looks_like_misread_latin(chinese[0]):
        return chinese
    # Western text is mostly ASCII with an accented letter here and there
    if sum(byte >= 0x80 for byte in raw) <= MAX_WESTERN_NON_ASCII * len(raw):
        try:
            return raw.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:  # bytes cp1252 leaves undefined
            return raw.decode("latin-1"), "latin-1"
    raise UndecodableInput(f"not valid UTF-8, UTF-16, {', '.join(CHINESE_ENCODINGS).upper()} or Western text")


def _chinese(raw: bytes) -> tuple[str, str] | None:
    from charset_normalizer import from_bytes  # only for text that is not UTF-8: not at start-up

    best = from_bytes(raw, cp_isolation=list(CHINESE_ENCODINGS)).best()
    if best is not None and best.encoding in {e.replace("-", "_") for e in CHINESE_ENCODINGS} | set(
        CHINESE_ENCODINGS
    ):
        return str(best), best.encoding
    for encoding in CHINESE_ENCODINGS:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return None


def shown(text: str) -> str:
    """A file name as UTF-8 text: bytes that are not UTF-8 (kept by the OS as
    surrogate escapes) become \\xNN, so ids, messages and outputs can be written."""
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def _expand(paths: Iterable[Path], exclude: Path | None = None) -> list[Path]:
    files: list[Path] = []
    skipped = exclude.resolve() if exclude else None
    for path in paths:
        if not path.exists():
            raise InputError(f"input {shown(str(path))} does not exist")
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in TEXT_SUFFIXES | JSONL_SUFFIXES
                and not (skipped and p.resolve().is_relative_to(skipped))
            )
            if not found:
                raise InputError(f"input folder {path} has no .txt, .md or .jsonl files")
            files.extend(found)
        else:
            files.append(path)
    return files


def _check_text(text: str, source: str) -> str | None:
    if not text:
        return f"{source}: empty file"
    if not text.strip():
        return f"{source}: only whitespace, no text"
    return None


def _read_text_file(path: Path, max_bytes: int) -> tuple[Article | None, InputProblem | None]:
    article_id = shown(path.stem)
    source = shown(str(path))
    size = path.stat().st_size
    if size > max_bytes:
        return None, InputProblem(
            source,
            article_id,
            f"{source}: {size / 1e6:.1f} MB is over the limit of "
            f"{max_bytes / 1e6:.1f} MB (raise it with --max-bytes)",
        )
    try:
        text, encoding = decode(path.read_bytes())
    except (UndecodableInput, OSError) as exc:
        return None, InputProblem(source, article_id, f"{source}: {exc}")
    problem = _check_text(text, source)
    if problem:
        return None, InputProblem(source, article_id, problem)
    return Article(article_id, text, source=source, encoding=encoding), None


def _jsonl_lines(path: Path) -> Iterator[bytes]:
    """The lines of a JSONL file, read one at a time (a file of any size is never
    held whole), without their "\n" and the first line without a UTF-8 BOM."""
    with path.open("rb") as handle:  # binary lines end at "\n" only
        for number, raw_line in enumerate(handle):
            line = raw_line.removesuffix(b"\n")
            yield line.removeprefix(b"\xef\xbb\xbf") if number == 0 else line


def _read_jsonl(path: Path, max_bytes: int) -> Iterator[Article | InputProblem]:
    source = shown(str(path))
    try:
        lines = _jsonl_lines(path)
        first = next(lines, None)
    except OSError as exc:
        yield InputProblem(source, None, f"{source}: {exc}")
        return
    if first is None:
        return
    # JSON Lines are UTF-8 and end at "\n" only: a U+2028 inside a string is text, and
    # a bad byte costs its own line, not the file.
    numbered = enumerate(itertools.chain([first], lines), start=1)
    while True:
        try:
            number, raw_line = next(numbered)
        except StopIteration:
            return
        except OSError as exc:  # the file became unreadable part of the way through
            yield InputProblem(source, None, f"{source}: {exc}")
            return
        item = _jsonl_item(f"{source}:{number}", raw_line, max_bytes)
        if item is not None:
            yield item


def _jsonl_item(where: str, raw_line: bytes, max_bytes: int) -> Article | InputProblem | None:
    """The article of one JSONL line, the problem with it, or None for a blank line."""
    try:
        line = raw_line.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = f"byte {raw_line[exc.start]:#04x} at column {exc.start + 1}"
        return InputProblem(where, None, f"{where}: not valid UTF-8 ({bad})")
    if not line.strip():
        return None
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        return InputProblem(where, None, f"{where}: malformed JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(item, dict) or "id" not in item or "text" not in item:
        return InputProblem(where, None, f"{where}: each line must be an object with 'id' and 'text'")
    if isinstance(item["id"], bool) or not isinstance(item["id"], str | int) or item["id"] == "":
        return InputProblem(where, None, f"{where}: 'id' must be a non-empty string or an integer")
    article_id = str(item["id"])
    text = item["text"]
    if not isinstance(text, str):
        return InputProblem(where, article_id, f"{where}: 'text' must be a string")
    problem = _check_text(text, where)
    if problem is None and len(text.encode("utf-8")) > max_bytes:
        problem = f"{where}: text is over the limit of {max_bytes / 1e6:.1f} MB (raise it with --max-bytes)"
    if problem:
        return InputProblem(where, article_id, problem)
    raw_metadata = item.get("metadata")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    return Article(article_id, text, source=where, metadata=metadata)


SPILL_AT = 1_000  # ids held in memory before they move to disk
# SQLite's page cache of the ids on disk, in KiB (its default is 2 MB); a lookup the
# cache misses reads the file (mostly from the OS's file cache)
SEEN_IDS_CACHE_KIB = 256


class SeenIds:
    """The article ids a reading has seen, each with its source (ids and sources
    only, never texts): in a dict while there are few, then moved, ``spill_at`` at a
    time, into a private temporary SQLite database on disk (deleted when closed), so
    that the memory it takes does not grow with the number of articles."""

    def __init__(self, spill_at: int = SPILL_AT) -> None:
        self.spill_at = spill_at
        self._recent: dict[str, str] = {}
        self._database: sqlite3.Connection | None = None

    def source_of(self, article_id: str) -> str | None:
        """Where ``article_id`` was first seen, or None when it was not."""
        found = self._recent.get(article_id)
        if found is None and self._database is not None:
            row = self._database.execute("SELECT source FROM seen WHERE id = ?", (article_id,)).fetchone()
            found = None if row is None else str(row[0])
        return found

    def add(self, article_id: str, source: str) -> None:
        self._recent[article_id] = source
        if len(self._recent) >= self.spill_at:
            self._spill()

    @property
    def on_disk(self) -> int:
        """How many ids have moved to disk."""
        if self._database is None:
            return 0
        return int(self._database.execute("SELECT count(*) FROM seen").fetchone()[0])

    def _spill(self) -> None:
        if self._database is None:
            import sqlite3  # only a reading of more than ``spill_at`` articles needs it

            # "": a temporary database in a file of its own, deleted when closed;
            # its page cache (SEEN_IDS_CACHE_KIB) bounds what stays in memory
            self._database = sqlite3.connect("", check_same_thread=False)
            self._database.execute(f"PRAGMA cache_size = -{SEEN_IDS_CACHE_KIB}")
            self._database.execute(
                "CREATE TABLE seen (id TEXT PRIMARY KEY, source TEXT NOT NULL) WITHOUT ROWID"
            )
        with self._database:
            self._database.executemany("INSERT INTO seen VALUES (?, ?)", self._recent.items())
        self._recent.clear()

    def close(self) -> None:
        if self._database is not None:
            self._database.close()
            self._database = None


class Inputs:
    """The articles of files, folders and JSONL files, read lazily in input order:
    iterating reads the inputs (again), one article at a time, so a run over any
    number of articles holds the text of only those it is working on. Yields each
    readable article and an ``InputProblem`` for each unreadable one, in place; a
    later article whose id was already seen is a problem naming both sources.
    Files under ``exclude`` (the run directory, when it sits inside an input folder)
    are not read. A path that does not exist, or no file at all, is an
    ``InputError`` at once."""

    def __init__(
        self, paths: Iterable[Path], max_bytes: int = DEFAULT_MAX_BYTES, exclude: Path | None = None
    ) -> None:
        self.files = _expand(paths, exclude)
        if not self.files:
            raise InputError("no inputs given")
        self.max_bytes = max_bytes

    def __iter__(self) -> Iterator[Article | InputProblem]:
        seen = SeenIds(SPILL_AT)
        try:
            for item in self._items():
                if isinstance(item, Article):
                    first_source = seen.source_of(item.id)
                    if first_source is not None:
                        yield _duplicate(item, first_source)
                        continue
                    seen.add(item.id, item.source)
                yield item
        finally:
            seen.close()

    def _items(self) -> Iterator[Article | InputProblem]:
        for path in self.files:
            if path.suffix.lower() in JSONL_SUFFIXES:
                yield from _read_jsonl(path, self.max_bytes)
            else:
                article, problem = _read_text_file(path, self.max_bytes)
                if article:
                    yield article
                if problem:
                    yield problem

    def count(self) -> int:
        """How many articles the inputs hold at most (a file each, a non-blank line
        of each JSONL file), counted without decoding them: for a progress bar."""
        total = 0
        for path in self.files:
            if path.suffix.lower() not in JSONL_SUFFIXES:
                total += 1
                continue
            with contextlib.suppress(OSError):  # reading it will report the problem
                total += sum(1 for line in _jsonl_lines(path) if line.strip())
        return total


def _duplicate(article: Article, first_source: str) -> InputProblem:
    return InputProblem(
        article.source,
        article.id,
        f"duplicate article id '{article.id}' in {article.source}; first seen in {first_source} (kept)",
        duplicate=True,
    )


def read_inputs(
    paths: Iterable[Path], max_bytes: int = DEFAULT_MAX_BYTES, exclude: Path | None = None
) -> tuple[list[Article], list[InputProblem]]:
    """All readable articles of ``Inputs(paths, max_bytes, exclude)`` in a list, and
    the problems: those of unreadable inputs first, then the duplicate ids."""
    articles: list[Article] = []
    unreadable: list[InputProblem] = []
    duplicates: list[InputProblem] = []
    for item in Inputs(paths, max_bytes, exclude):
        if isinstance(item, Article):
            articles.append(item)
        elif item.duplicate:
            duplicates.append(item)
        else:
            unreadable.append(item)
    return articles, unreadable + duplicates
