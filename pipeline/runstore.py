"""The run directory: one JSON part per finished article (written atomically, so a
killed run leaves whole parts or none), and the outputs rebuilt from the parts at
the end of every run: a JSONL and a CSV per schema, rejected.jsonl, errors.jsonl,
unclaimed.jsonl and manifest.json. Every file is replaced atomically."""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.redact import redact
from pipeline.spec import SchemaSpec


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


# mkstemp creates 0600 files; outputs get the permissions any new file would get.
_FILE_MODE = 0o666 & ~_umask()


class RunDirError(Exception):
    """The run directory cannot be used; the message names it."""


def atomic_write(path: Path, content: str) -> None:
    """Write via a temporary file and rename, so a reader (or a killed run) sees the
    old file or the new one, never half of one. Secrets are redacted here, the one
    door every run file goes through."""
    content = redact(content)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _unwritable(path, exc) from exc
    os.fchmod(fd, _FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):  # a full disk, a quota, a vanished directory
            raise _unwritable(path, exc) from exc
        raise


def _unwritable(path: Path, exc: OSError) -> RunDirError:
    return RunDirError(
        f"cannot write {path}: {exc.strerror or exc}; what was written before is intact "
        "(finished articles are saved): fix the cause and run the same command to resume"
    )


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, ensure_ascii=False, indent=1) + "\n")


# Characters some line readers (str.splitlines, JavaScript) treat as line ends: written
# escaped so that every record stays on its own line for any reader.
_LINE_BREAKING = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def jsonl_line(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False).translate(_LINE_BREAKING) + "\n"


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    atomic_write(path, "".join(jsonl_line(r) for r in rows))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    # split on "\n" only: U+2028 or U+0085 inside a JSON string is not a line end
    return [json.loads(line) for line in path.read_text("utf-8").split("\n") if line.strip()]


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

    def previous_settings(self) -> tuple[str, str] | None:
        """(settings key, description) of the run this directory already holds."""
        path = self.root / "manifest.json"
        if not path.is_file():
            return None
        try:
            manifest = json.loads(path.read_text("utf-8"))
            backend = manifest["backend"]
            described = f"backend {backend.get('backend')}, model {backend.get('model')}, "
            return str(manifest["settings_key"]), described + f"schemas {', '.join(manifest['schemas'])}"
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # each part still carries its own settings key

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

    def read_part(self, article_id: str) -> dict[str, Any] | None:
        path = self.part_path(article_id)
        if not path.is_file():
            return None
        try:
            part: dict[str, Any] = json.loads(path.read_text("utf-8"))
        except (OSError, json.JSONDecodeError):
            return None  # never trust a damaged part: the article is redone
        return part if part.get("article_id") == article_id else None

    def write_part(self, part: dict[str, Any]) -> None:
        write_json(self.part_path(part["article_id"]), part)

    def write_outputs(
        self, parts: list[dict[str, Any]], specs: list[SchemaSpec], input_errors: list[dict[str, Any]]
    ) -> dict[str, Path]:
        written: dict[str, Path] = {}
        for spec in specs:
            rows = [row for part in parts for row in part.get("records", {}).get(spec.name, [])]
            jsonl = self.root / f"{spec.name}.jsonl"
            write_jsonl(jsonl, rows)
            atomic_write(self.root / f"{spec.name}.csv", _csv(rows, spec))
            written[spec.name] = jsonl
        write_jsonl(self.root / "rejected.jsonl", (r for p in parts for r in p.get("rejected", [])))
        errors = [*input_errors]
        errors += [
            {
                "article_id": p["article_id"],
                "source": p.get("source"),
                "stage": "extract",
                "error": p["error"],
            }
            for p in parts
            if p.get("status") == "failed"
        ]
        write_jsonl(self.root / "errors.jsonl", errors)
        write_jsonl(
            self.root / "unclaimed.jsonl",
            ({"article_id": p["article_id"], **m} for p in parts for m in p.get("unclaimed", [])),
        )
        return written


def _csv(rows: list[dict[str, Any]], spec: SchemaSpec) -> str:
    fields = list(spec.model.model_fields)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["article_id", *fields, "confidence", "char_start", "char_end", "alignment", "flags"])
    for row in rows:
        record = row["record"]
        values = [
            ";".join(map(str, v)) if isinstance(v, list) else ("" if v is None else v)
            for v in (record.get(f) for f in fields)
        ]
        flags = ";".join(f["code"] for f in row.get("flags", []))
        confidence = row.get("confidence")
        cells = [
            row["article_id"],
            *values,
            "" if confidence is None else confidence,
            row["char_start"],
            row["char_end"],
            row["alignment"],
            flags,
        ]
        writer.writerow([_inert(cell) for cell in cells])
    return buffer.getvalue()


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(cell: Any) -> Any:
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe
    (OWASP's advice); numbers are written as they are."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS):
        return "'" + cell
    return cell
