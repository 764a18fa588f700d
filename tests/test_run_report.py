"""The HTML run report, in headless Chromium: it loads with no console errors, a
click on a span shows its record, and a screenshot is taken. Exports beside it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.runstore import read_jsonl
from tests.browser import browser_missing, chromium
from tests.conftest import GOLD, SEEDS


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("report") / "run"
    cli = CliRunner()
    assert cli.invoke(app, ["run", str(SEEDS), "--out", str(run), "--backend", "offline"]).exit_code == 0
    made = cli.invoke(app, ["report", str(run), "--gold", str(GOLD), "--articles", str(SEEDS)])
    assert made.exit_code == 0, made.output
    return run


def test_the_page_is_self_contained(report: Path) -> None:
    page = (report / "report.html").read_text()
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page)
    assert "fetch(" not in page and "XMLHttpRequest" not in page


def test_parquet_exports_hold_every_record(report: Path) -> None:
    import pyarrow.parquet as pq

    for name in ("QuantitativeTarget", "PolicyMeasure", "FundingAllocation"):
        table = pq.read_table(report / f"{name}.parquet")
        assert table.num_rows == len(read_jsonl(report / f"{name}.jsonl"))
        assert {"article_id", "evidence", "char_start", "flags"} <= set(table.column_names)


@pytest.mark.browser
@pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing()))
def test_in_chromium_it_loads_cleanly_and_a_click_shows_the_record(report: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    with chromium() as driver:
        driver.get((report / "report.html").as_uri())
        assert "Scores against gold" in driver.find_element(By.ID, "summary").text
        assert driver.find_element(By.ID, "targets-chart").get_attribute("height")
        driver.find_element(By.ID, "tab-articles").click()
        rows = driver.find_elements(By.CSS_SELECTOR, "tr.article-row")
        assert len(rows) == 5
        # sortable by F1: clicking the header orders the rows by it
        driver.find_element(By.XPATH, "//th[starts-with(text(), 'lenient F1')]").click()
        f1 = [
            float(r.find_elements(By.TAG_NAME, "td")[-1].text)
            for r in driver.find_elements(By.CSS_SELECTOR, "tr.article-row")
        ]
        assert f1 == sorted(f1)
        target = next(
            r
            for r in driver.find_elements(By.CSS_SELECTOR, "tr.article-row")
            if r.text.startswith("000_f717e4e5ad01f3aa")
        )
        target.click()
        span = next(
            s
            for s in driver.find_elements(By.CSS_SELECTOR, ".article-text .mark")
            if s.text.startswith("686000 new jobs")
        )
        span.click()
        detail = driver.find_element(By.ID, "detail").text
        assert "QuantitativeTarget" in detail and "686000" in detail and "new_urban_jobs" in detail
        assert "correct" in detail
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == [], json.dumps(errors)
