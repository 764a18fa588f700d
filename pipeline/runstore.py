"""The run directory: one JSON part per finished article (written atomically, so a
killed run leaves whole parts or none), and the outputs rebuilt from the parts at
the end of every run: a JSONL and a CSV per schema, rejected.jsonl, errors.jsonl,
unclaimed.jsonl and manifest.json. The outputs are streamed, one part at a time, so
memory does not grow with the number of articles; every file is replaced atomically."""

from __future__ import annotations

import csv
import fcntl
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from polex.pipeline.artifacts import ArticleEntry, ManifestHead, OutputsStamp, Part, RecordRow, RunManifest
from polex.pipeline.errors import PolexError
from polex.pipeline.files import atomic_open
from polex.pipeline.files import atomic_write as _atomic_write
from polex.pipeline.redact import redact, redactor
from polex.pipeline.spec import SchemaSpec


class RunDirError(PolexError):
    """The run directory cannot be used; the message names it."""


class UntrustedPart(PolexError):
    """A part file that cannot be read as a part; the message says what is wrong."""


def atomic_write(path: Path, content: str) -> None:
    """Replace a run file atomically (``polex.pipeline.files``). Secrets are redacted here,
    the one door every run file goes through."""
    _replace(path, redact(content))


def _replace(path: Path, content: str) -> None:
    try:
        _atomic_write(path, content)
    except OSError as exc:  # a full disk, a quota, a vanished directory
        raise _unwritable(path, exc) from exc


def _unwritable(path: Path, exc: OSError) -> RunDirError:
    return RunDirError(
        f"cannot write {path}: {exc.strerror or exc}; what was written before is intact "
        "(finished articles are saved): fix the cause and run the same command to resume"
    )


def json_text(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, json_text(data))


# Characters some line readers (str.splitlines, JavaScript) treat as line ends: written
# escaped so that every record stays on its own line for any reader.
_LINE_BREAKING = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def jsonl_line(row: dict[str, Any]) -> str:
    text = json.dumps(row, ensure_ascii=False)
    # translate looks every character up in its table: only for a line that needs it
    if "\u2028" in text or "\u2029" in text or "\x85" in text:
        text = text.translate(_LINE_BREAKING)
    return text + "\n"


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    atomic_write(path, "".join(jsonl_line(r) for r in rows))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    # split on "\n" only: U+2028 or U+0085 inside a JSON string is not a line end
    return [json.loads(line) for line in path.read_text("utf-8").split("\n") if line.strip()]


def file_digest(path: Path) -> str | None:
    """sha256 of a file, None when it cannot be read."""
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def _safe_name(article_id: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", article_id)[:80]
    if cleaned != article_id:
        cleaned += "-" + hashlib.sha256(article_id.encode()).hexdigest()[:8]
    return cleaned


class RunStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.parts = root / "parts"

    def prepare(self) -> None:
        """Create the directory and prove it is writable before any work starts."""
        try:
            self.parts.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise RunDirError(f"output directory {self.root} is not writable: {exc.strerror or exc}") from exc

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Held for the whole run: a second run into the same directory is refused."""
        with open(self.root / ".polex.lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                raise RunDirError(
                    f"another polex run is writing to {self.root} ({holder}); "
                    "wait for it to finish or choose another --out"
                ) from exc
            handle.seek(0)
            handle.truncate()
            handle.write(redact(f"pid {os.getpid()}: {' '.join(sys.argv)}")[:500])
            handle.flush()
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def previous_manifest(self) -> ManifestHead | None:
        """What a new run needs of the manifest this directory already holds (its
        settings and its outputs' stamp); None when there is none or it is unreadable."""
        path = self.root / "manifest.json"
        if not path.is_file():
            return None
        try:
            return ManifestHead.model_validate_json(path.read_bytes())
        except (OSError, ValidationError):
            return None  # each part still carries its own settings key

    @staticmethod
    def previous_settings_description(head: ManifestHead) -> str:
        """The settings of a previous run, in words, for an error message."""
        backend = head.backend
        described = f"backend {backend.get('backend')}, model {backend.get('model')}, "
        return described + f"schemas {', '.join(head.schemas)}"

    def clear(self) -> None:
        """Remove the parts and outputs of the run held here (``--force``)."""
        for path in self.parts.glob("*.json"):
            path.unlink()
        for pattern in (
            "*.jsonl",
            "*.csv",
            "*.parquet",
            "manifest.json",
            "report.html",
            "eval.json",
            "eval.md",
        ):
            for path in self.root.glob(pattern):
                path.unlink()

    def part_path(self, article_id: str) -> Path:
        return self.parts / f"{_safe_name(article_id)}.json"

    def read_part(self, article_id: str) -> tuple[Part, str] | None:
        """The part of ``article_id`` and the sha256 of its file; None when there is
        none. Raises UntrustedPart when the file is damaged, has the wrong shape or
        holds another article."""
        path = self.part_path(article_id)
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise UntrustedPart(f"cannot read {path}: {exc.strerror or exc}") from exc
        try:
            part = Part.model_validate_json(content)
        except ValidationError as exc:  # torn JSON, bad UTF-8, or not the shape of a part
            first = exc.errors()[0]
            where = ".".join(str(step) for step in first["loc"]) or "the top level"
            raise UntrustedPart(
                f"{path} is not a valid part ({where}: {first['msg']}; {exc.error_count()} problem(s))"
            ) from exc
        if part.article_id != article_id:
            raise UntrustedPart(f"{path} holds article {part.article_id!r}, not {article_id!r}")
        return part, hashlib.sha256(content).hexdigest()

    def write_part(self, part: Part) -> str:
        """Save ``part``; returns the sha256 of the file written."""
        content = redact(part.to_json_text())
        _replace(self.part_path(part.article_id), content)
        return hashlib.sha256(content.encode("utf-8")).hexdigest()

    def trusted_part(self, article_id: str) -> Part:
        """The part of an article this run has finished (for the export)."""
        try:
            found = self.read_part(article_id)
        except UntrustedPart as exc:
            raise RunDirError(f"a part changed while the run was writing its outputs: {exc}") from exc
        if found is None:
            raise RunDirError(f"the part of {article_id} vanished from {self.parts} during the run")
        return found[0]

    def write_manifest(self, manifest: RunManifest, entries: Iterable[ArticleEntry]) -> None:
        """Write ``manifest.json``: ``manifest`` (its own ``articles`` empty) with
        ``entries`` streamed in as its articles, one at a time, so a manifest of any
        number of articles is never held whole. Replaced atomically."""
        if manifest.articles:
            raise ValueError("the manifest's entries are given as entries, not in the manifest")
        text = manifest.to_json_text()
        marker = '\n "articles": []'
        head, found, tail = text.partition(marker)
        if not found:
            raise ValueError("the manifest's articles field is not where the writer expects it")
        clean = redactor()
        try:
            with atomic_open(self.root / "manifest.json") as handle:
                handle.write(clean(head + '\n "articles": ['))
                separator = "\n"
                for entry in entries:
                    # at depth 2 in the manifest: indented by two more spaces
                    indented = "  " + entry.to_json_text().rstrip("\n").replace("\n", "\n  ")
                    handle.write(clean(separator + indented))
                    separator = ",\n"
                handle.write(clean(("\n ]" if separator != "\n" else "]") + tail))
        except OSError as exc:
            raise _unwritable(self.root / "manifest.json", exc) from exc

    def outputs_intact(self, stamp: OutputsStamp, key: str) -> bool:
        """Whether the outputs here were made from the same parts (``key``) and are
        unchanged since: then a re-run has nothing to rewrite."""
        return stamp.key == key and all(
            file_digest(self.root / name) == digest for name, digest in stamp.files.items()
        )

    def output_paths(self, specs: list[SchemaSpec]) -> dict[str, Path]:
        """The JSONL file of each schema."""
        return {spec.name: self.root / f"{spec.name}.jsonl" for spec in specs}

    def write_outputs(
        self, parts: Iterable[Part], specs: list[SchemaSpec], input_errors: list[dict[str, Any]]
    ) -> WrittenOutputs:
        """Stream ``parts`` (in article order) into the outputs: each part's rows are
        written and dropped before the next part is read. Each file is replaced
        atomically when all parts are written, so a killed export leaves the old
        files whole."""
        try:
            return self._write_outputs(parts, specs, input_errors)
        except OSError as exc:
            raise _unwritable(self.root, exc) from exc

    def _write_outputs(
        self, parts: Iterable[Part], specs: list[SchemaSpec], input_errors: list[dict[str, Any]]
    ) -> WrittenOutputs:
        clean = redactor()
        digests: dict[str, _Sha256Writer] = {}
        with ExitStack() as stack:

            def open_output(name: str) -> _Sha256Writer:
                writer = _Sha256Writer(stack.enter_context(atomic_open(self.root / name)))
                digests[name] = writer
                return writer

            jsonl = {s.name: open_output(f"{s.name}.jsonl") for s in specs}
            tables = {s.name: _CsvTable(open_output(f"{s.name}.csv"), s, clean) for s in specs}
            rejected = open_output("rejected.jsonl")
            errors = open_output("errors.jsonl")
            unclaimed = open_output("unclaimed.jsonl")
            errors.write(clean("".join(jsonl_line(e) for e in input_errors)))
            for part in parts:
                for spec in specs:
                    rows = part.records.get(spec.name, [])
                    if rows:
                        jsonl[spec.name].write(clean("".join(jsonl_line(r.to_json_dict()) for r in rows)))
                        tables[spec.name].write(rows)
                if part.rejected:
                    rejected.write(clean("".join(jsonl_line(r.to_json_dict()) for r in part.rejected)))
                if part.status == "failed":
                    error = {
                        "article_id": part.article_id,
                        "source": part.source,
                        "stage": "extract",
                        "error": part.error,
                    }
                    errors.write(clean(jsonl_line(error)))
                if part.unclaimed:
                    lines = (
                        jsonl_line({"article_id": part.article_id, **m.to_json_dict()})
                        for m in part.unclaimed
                    )
                    unclaimed.write(clean("".join(lines)))
        return WrittenOutputs(
            self.output_paths(specs), {name: writer.hexdigest() for name, writer in digests.items()}
        )


@dataclass(frozen=True)
class WrittenOutputs:
    paths: dict[str, Path]  # the JSONL file of each schema
    digests: dict[str, str]  # file name -> sha256 of every output written


class _Sha256Writer:
    """Writes text through to ``handle`` and keeps the sha256 of its UTF-8 bytes."""

    def __init__(self, handle: TextIO) -> None:
        self.handle = handle
        self.sha256 = hashlib.sha256()

    def write(self, text: str) -> int:
        self.sha256.update(text.encode("utf-8"))
        return self.handle.write(text)

    def hexdigest(self) -> str:
        return self.sha256.hexdigest()


class _CsvTable:
    """A schema's CSV: one row per record, list fields joined with ';'."""

    def __init__(self, handle: _Sha256Writer, spec: SchemaSpec, clean: Callable[[str], str]) -> None:
        self.fields = list(spec.model.model_fields)
        self.handle = handle
        self.clean = clean
        self.buffer = _LineBuffer()
        self.writer = csv.writer(self.buffer)
        header = ["article_id", *self.fields, "confidence", "char_start", "char_end", "alignment", "flags"]
        self.writer.writerow(header)
        self._flush()

    def write(self, rows: list[RecordRow]) -> None:
        for row in rows:
            record = row.record
            values = [
                ";".join(map(str, v)) if isinstance(v, list) else ("" if v is None else v)
                for v in (record.get(f) for f in self.fields)
            ]
            cells = [
                row.article_id,
                *values,
                "" if row.confidence is None else row.confidence,
                row.char_start,
                row.char_end,
                row.alignment,
                ";".join(f.code for f in row.flags),
            ]
            self.writer.writerow([_inert(cell) for cell in cells])
        self._flush()

    def _flush(self) -> None:
        self.handle.write(self.clean("".join(self.buffer.lines)))
        self.buffer.lines.clear()


class _LineBuffer:
    """What csv.writer writes to: the rows of one part, until they are flushed."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.lines.append(text)
        return len(text)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(cell: Any) -> Any:
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe
    (OWASP's advice); numbers are written as they are."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS):
        return "'" + cell
    return cell
