"""The labelled corpus: its manifest, article ids and the dev/test split.

The split rule is fixed here, before any article was labelled: articles are
added unassigned, then `python -m polex.evals.corpus split` assigns every unassigned
article, origin by origin, ranking them by SHA-256("polex-split-v1:" + id) and
giving the first ones to `test` until that origin's test share is as close to
TEST_SHARE as it can be. Ids derive from the source URL and the rank from the id,
so nobody chooses an article's side; an assigned article never changes side.
(A first rule, a per-article hash threshold, was replaced before any labelling:
it put 6 of 25 machine-translated articles in test.)
Rules, aliases, cues, prompts, few-shot examples and trained models may be
changed only by looking at `dev` articles and the seeds; `test` is read only by
the scorer (tests/test_corpus.py checks that no rule file quotes a test article).

    python -m polex.evals.corpus add --url URL --title T --published 2021-12-24 \
        --origin machine_translated --note "..." --text FILE
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from polex.pipeline.errors import PolexError

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
MANIFEST_NAME = "manifest.jsonl"
SPLIT_SALT = "polex-split-v1:"
TEST_SHARE = 0.4

Origin = Literal["official_english", "machine_translated"]
Split = Literal["dev", "test", "seed", "unassigned"]
ORIGIN_PREFIX: dict[str, str] = {"official_english": "en", "machine_translated": "mt"}


class CorpusError(PolexError):
    """A manifest or article of the corpus that cannot be used; the message names it."""


class CorpusEntry(BaseModel):
    """One article of the corpus, as recorded in manifest.jsonl."""

    model_config = ConfigDict(extra="forbid")

    id: str
    url: str = Field(description="Where the text was taken from.")
    title: str
    published: str | None = Field(description="Publication date as the source gives it (YYYY-MM-DD).")
    origin: Origin
    split: Split
    note: str = Field(default="", description="Where it came from and anything done to it.")
    batch: int = Field(default=1, description="Which `split` run assigned it (0: not yet assigned).")


def article_id(url: str, origin: str) -> str:
    if origin not in ORIGIN_PREFIX:
        raise CorpusError(f"origin {origin!r} is not one of {sorted(ORIGIN_PREFIX)}")
    return f"{ORIGIN_PREFIX[origin]}_{hashlib.sha256(url.encode('utf-8')).hexdigest()[:12]}"


def split_rank(identifier: str) -> str:
    return hashlib.sha256((SPLIT_SALT + identifier).encode("utf-8")).hexdigest()


def assign_splits(entries: list[CorpusEntry]) -> list[CorpusEntry]:
    """Every unassigned entry gets dev or test by the rule above, and the next batch
    number; others keep theirs."""
    out = list(entries)
    batch = max((e.batch for e in out if e.split != "unassigned"), default=0) + 1
    for origin in ORIGIN_PREFIX:
        mine = [i for i, e in enumerate(out) if e.origin == origin]
        new = sorted((i for i in mine if out[i].split == "unassigned"), key=lambda i: split_rank(out[i].id))
        have_test = sum(out[i].split == "test" for i in mine)
        wanted = round(TEST_SHARE * len(mine)) - have_test
        for rank, i in enumerate(new):
            out[i] = out[i].model_copy(update={"split": "test" if rank < wanted else "dev", "batch": batch})
    return out


def write_manifest(path: Path, entries: list[CorpusEntry]) -> None:
    path.write_text("".join(e.model_dump_json() + "\n" for e in entries), "utf-8")


def load_manifest(path: Path) -> list[CorpusEntry]:
    """Reads manifest.jsonl; every row must validate and its id must derive from its URL."""
    if not path.is_file():
        raise CorpusError(f"corpus manifest {path} does not exist")
    entries: list[CorpusEntry] = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = CorpusEntry.model_validate_json(line)
        except ValueError as exc:
            raise CorpusError(f"{path}:{number}: not a manifest row ({exc})") from exc
        if entry.split != "seed" and entry.id != article_id(entry.url, entry.origin):
            raise CorpusError(f"{path}:{number}: id {entry.id} does not derive from its URL and origin")
        entries.append(entry)
    return entries


def splits(path: Path) -> dict[str, CorpusEntry]:
    return {entry.id: entry for entry in load_manifest(path)}


def add(
    url: str,
    title: str,
    published: str | None,
    origin: str,
    note: str,
    text_file: Path,
    corpus_dir: Path = CORPUS_DIR,
) -> CorpusEntry:
    """Copies the text byte for byte into articles/<id>.txt and appends a manifest row."""
    identifier = article_id(url, origin)
    manifest = corpus_dir / MANIFEST_NAME
    existing = load_manifest(manifest) if manifest.is_file() else []
    if any(e.url == url or e.id == identifier for e in existing):
        raise CorpusError(f"{url} is already in the corpus")
    data = text_file.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{text_file} is not UTF-8") from exc
    if not data.strip():
        raise CorpusError(f"{text_file} is empty")
    entry = CorpusEntry(
        id=identifier,
        url=url,
        title=title,
        published=published or None,
        origin=origin,
        split="unassigned",
        batch=0,
        note=note,
    )  # type: ignore[arg-type]
    (corpus_dir / "articles").mkdir(parents=True, exist_ok=True)
    (corpus_dir / "articles" / f"{identifier}.txt").write_bytes(data)
    with manifest.open("a", encoding="utf-8") as handle:
        handle.write(entry.model_dump_json() + "\n")
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m polex.evals.corpus")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser = sub.add_parser("add", help="add one article to the corpus")
    add_parser.add_argument("--url", required=True)
    add_parser.add_argument("--title", required=True)
    add_parser.add_argument("--published", default=None)
    add_parser.add_argument("--origin", required=True, choices=sorted(ORIGIN_PREFIX))
    add_parser.add_argument("--note", default="")
    add_parser.add_argument("--text", required=True, type=Path)
    add_parser.add_argument("--corpus-dir", type=Path, default=CORPUS_DIR)
    split_parser = sub.add_parser("split", help="assign dev/test to every unassigned article")
    split_parser.add_argument("--corpus-dir", type=Path, default=CORPUS_DIR)
    args = parser.parse_args(argv)
    if args.command == "split":
        manifest = args.corpus_dir / MANIFEST_NAME
        entries = assign_splits(load_manifest(manifest))
        write_manifest(manifest, entries)
        for origin in ORIGIN_PREFIX:
            mine = [e for e in entries if e.origin == origin]
            print(f"{origin}: {sum(e.split == 'test' for e in mine)} test of {len(mine)}")
        return 0
    try:
        entry = add(args.url, args.title, args.published, args.origin, args.note, args.text, args.corpus_dir)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"added {entry.id} ({entry.origin})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
