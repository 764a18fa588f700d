"""The labelled corpus: its manifest, its split rule, its gold, and the wall between
the test split and everything that is tuned or trained."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from polex.evals.corpus import CORPUS_DIR, MANIFEST_NAME, CorpusEntry, assign_splits, load_manifest
from polex.evals.gold import check_gold
from polex.evals.training import training_articles
from polex.pipeline.learning.model import LearnedModel
from polex.pipeline.registry import discover
from tests.conftest import ROOT

MANIFEST = CORPUS_DIR / MANIFEST_NAME
ENTRIES = load_manifest(MANIFEST)
TEST_IDS = {e.id for e in ENTRIES if e.split == "test"}
SHINGLE_WORDS = 8
TUNED = ("schemas", "prompts", "pipeline/data")


def test_the_corpus_has_the_size_and_mix_the_protocol_needs() -> None:
    origins = [e.origin for e in ENTRIES]
    assert len(ENTRIES) >= 40
    assert origins.count("machine_translated") >= 15 and origins.count("official_english") >= 15
    for entry in ENTRIES:
        assert (CORPUS_DIR / "articles" / f"{entry.id}.txt").is_file(), entry.id
        assert (CORPUS_DIR / "gold" / f"{entry.id}.json").is_file(), entry.id
        assert entry.url.startswith("http"), entry.id


def test_the_split_is_the_rule_applied_to_the_ids_batch_by_batch_and_stratified_by_origin() -> None:
    replay: list[CorpusEntry] = []
    for batch in sorted({e.batch for e in ENTRIES}):
        added = [
            e.model_copy(update={"split": "unassigned", "batch": 0}) for e in ENTRIES if e.batch == batch
        ]
        replay = assign_splits([*replay, *added])
    assert {e.id: (e.split, e.batch) for e in replay} == {e.id: (e.split, e.batch) for e in ENTRIES}
    for origin in ("machine_translated", "official_english"):
        mine = [e for e in ENTRIES if e.origin == origin]
        share = sum(e.split == "test" for e in mine) / len(mine)
        assert 0.35 <= share <= 0.45, (origin, share)


def test_an_assigned_article_never_changes_side_when_articles_are_added() -> None:
    extra = [
        CorpusEntry(
            id=f"mt_new{i}",
            url=f"http://x/{i}",
            title="t",
            published=None,
            origin="machine_translated",
            split="unassigned",
        )
        for i in range(7)
    ]
    again = assign_splits([*ENTRIES, *extra])
    assert [e.split for e in again[: len(ENTRIES)]] == [e.split for e in ENTRIES]
    assert all(e.split in ("dev", "test") for e in again)


def test_every_corpus_gold_record_is_grounded_in_its_article() -> None:
    specs = list(discover([]).values())
    problems, checked = check_gold(CORPUS_DIR / "gold", CORPUS_DIR / "articles", specs)
    errors = [str(p) for p in problems if p.severity == "error"]
    assert checked > 400 and errors == []


def _shingles(text: str) -> set[str]:
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}


def test_no_rule_prompt_or_data_file_quotes_a_test_article() -> None:
    test_shingles: dict[str, str] = {}
    for article_id in sorted(TEST_IDS):
        for shingle in _shingles((CORPUS_DIR / "articles" / f"{article_id}.txt").read_text("utf-8")):
            test_shingles[shingle] = article_id
    assert test_shingles
    for folder in TUNED:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in (".py", ".toml", ".md", ".json", ".txt", ".jinja"):
                continue
            quoted = _shingles(path.read_text("utf-8")) & set(test_shingles)
            assert not quoted, f"{path} quotes test article {test_shingles[next(iter(quoted))]}"


def test_no_corpus_article_repeats_another_or_a_seed() -> None:
    """The same story twice (a seed copied into the corpus, one page found under two
    addresses) would let a model train on what it is scored on: no two texts may share
    a fifth of their word shingles (the closest distinct pair today shares under 20 %)."""
    texts = {e.id: (CORPUS_DIR / "articles" / f"{e.id}.txt").read_text("utf-8") for e in ENTRIES}
    texts |= {f"seed {p.name}": p.read_text("utf-8") for p in sorted((ROOT / "seeds").glob("*.txt"))}
    shingles = {name: _shingles(text) for name, text in texts.items()}
    names = sorted(shingles)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = len(shingles[a] & shingles[b]) / max(1, min(len(shingles[a]), len(shingles[b])))
            assert shared < 0.2, f"{a} and {b} share {shared:.0%} of their shingles"


@pytest.mark.parametrize("path", sorted((ROOT / "schemas").rglob("learned.npz")), ids=lambda p: p.parent.name)
def test_no_shipped_model_learned_from_a_test_article(path: Path) -> None:
    trained_on = set(LearnedModel.load(path).info["articles"])
    assert trained_on and not trained_on & TEST_IDS


def test_a_copy_of_the_corpus_gold_elsewhere_cannot_bring_test_articles_into_training(tmp_path: Path) -> None:
    import shutil

    from polex.evals.training import GoldSource

    shutil.copytree(CORPUS_DIR / "gold", tmp_path / "gold")
    source = (GoldSource(tmp_path / "gold", CORPUS_DIR / "articles", None),)
    ids = {g.article.id for g in training_articles("QuantitativeTarget", source)}
    assert ids and not ids & TEST_IDS


def test_training_data_never_includes_the_test_split() -> None:
    for schema in ("QuantitativeTarget", "PolicyMeasure", "FundingAllocation"):
        ids = {g.article.id for g in training_articles(schema)}
        assert ids and not ids & TEST_IDS
        assert {e.id for e in ENTRIES if e.split == "dev"} <= ids
