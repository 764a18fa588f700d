from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
GOLD = ROOT / "evals" / "gold"


@pytest.fixture(autouse=True)
def _no_endpoint_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach a public API: whatever the machine has configured is hidden."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL", "POLEX_SCHEMA_PATH"):
        monkeypatch.delenv(name, raising=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("POLEX_ALLOW_PUBLIC_API") == "1":
        return
    skip = pytest.mark.skip(reason="calls a public API; set POLEX_ALLOW_PUBLIC_API=1 to run")
    for item in items:
        if "public_api" in item.keywords:
            item.add_marker(skip)


def needs(missing: str | None) -> pytest.MarkDecorator:
    """Skips a test whose tool is missing, saying which (``missing`` is the reason or
    None). In CI (``CI`` set) a missing tool is a failure, never a skip: the test runs
    and fails on it."""
    return pytest.mark.skipif(missing is not None and not os.environ.get("CI"), reason=str(missing))


def seed_text(article_id: str) -> str:
    return (SEEDS / f"{article_id}.txt").read_text(encoding="utf-8")
