"""The HTML run report, in headless Chromium: it loads with no console errors, a
click on a span shows its record, and a screenshot is taken. Exports beside it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from polex.pipeline.cli import app
from polex.pipeline.runstore import read_jsonl
from tests.browser import browser_missing, chromium
from tests.conftest import GOLD, SEEDS, needs


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
@needs(browser_missing())
def test_in_chromium_it_loads_cleanly_and_a_click_shows_the_record(report: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    with chromium() as driver:
        driver.get((report / "report.html").as_uri())
        assert "Scores against gold" in driver.find_element(By.ID, "summary").text
        assert driver.find_element(By.ID, "chart-QuantitativeTarget").get_attribute("height")
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


# A schema defined only here: no code of the report knows its name or its fields.
FIGURE_SCHEMA = '''
from pathlib import Path
from typing import Any
from typing import Literal

from pydantic import BaseModel, Field

from polex.pipeline.spec import FieldScore, SchemaSpec, Scoring


class LabourFigure(BaseModel):
    """A number of the article and its scale."""

    evidence: str = Field(description="The words holding the number, verbatim.")
    value: float = Field(description="The number.")
    scale: Literal["percent", "count"] = Field(description="percent or count.")
    region: str | None = Field(default=None, description="The jurisdiction, or null.")


def rules(ctx):
    return [
        (LabourFigure(evidence=m.text, value=m.value, scale="percent" if m.unit == "percent" else "count"), m.start)
        for m in ctx.mentions
        if m.of_interest
    ]


SPEC = SchemaSpec(
    name="LabourFigure",
    version=1,
    model=LabourFigure,
    prompt=Path(__file__).with_name("labour_figure.v1.md"),
    offline=rules,
    quantity_field="value",
    scoring=Scoring(
        fields=(
            FieldScore("value", "numeric", key=True),
            FieldScore("scale", "exact", key=True),
            FieldScore("region", "region"),
            FieldScore("evidence", "span"),
        ),
        anchors=("value", "evidence"),
    ),
)
'''
FIGURE_ARTICLE = "000_f717e4e5ad01f3aa"


@pytest.fixture(scope="module")
def figure_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of LabourFigure only, scored against two gold records, and its report."""
    root = tmp_path_factory.mktemp("figure")
    schemas = root / "lab_schemas"
    schemas.mkdir()
    (schemas / "labour_figure.py").write_text(FIGURE_SCHEMA)
    (schemas / "labour_figure.v1.md").write_text("List every {{ schema_name }}.\n=== user ===\n{{ text }}\n")
    gold = root / "gold"
    gold.mkdir()
    (gold / f"{FIGURE_ARTICLE}.json").write_text(
        json.dumps(
            {
                "article_id": FIGURE_ARTICLE,
                "LabourFigure": [
                    {"evidence": "108.9%", "value": 108.9, "scale": "percent"},
                    {"evidence": "686000 new jobs", "value": 686000, "scale": "count"},
                ],
            }
        )
    )
    run = root / "run"
    cli = CliRunner()
    extra = ["--schema-dir", str(schemas)]
    ran = cli.invoke(
        app,
        [
            "run",
            str(SEEDS / f"{FIGURE_ARTICLE}.txt"),
            "--out",
            str(run),
            "--backend",
            "offline",
            "--schema",
            "LabourFigure",
            *extra,
        ],
    )
    assert ran.exit_code == 0, ran.output
    made = cli.invoke(app, ["report", str(run), "--gold", str(gold), "--articles", str(SEEDS), *extra])
    assert made.exit_code == 0, made.output
    return run


def _page_data(run: Path) -> dict[str, Any]:
    """The data the page embeds (the JSON after `const DATA = `)."""
    page = (run / "report.html").read_text()
    data, _ = json.JSONDecoder().raw_decode(page.split("const DATA = ", 1)[1])
    assert isinstance(data, dict)
    return data


def test_a_schema_unknown_to_the_report_gets_its_table_facets_colours_and_chart(figure_report: Path) -> None:
    data = _page_data(figure_report)
    [view] = data["schemas"]
    assert view["name"] == "LabourFigure"
    assert view["columns"] == ["evidence", "value", "scale", "region"]
    assert [(f["field"], f["allowed"]) for f in view["facets"]] == [("scale", ["percent", "count"])]
    assert view["colour_field"] == "scale" and set(view["value_colours"]) == {"percent", "count"}
    assert view["counts"]["scale"]["percent"] >= 2
    assert view["chart"]["groups"] and {
        b["value_of"] for g in view["chart"]["groups"] for b in g["bars"]
    } == {
        "percent",
        "count",
    }
    marks = [m for m in data["articles"][0]["marks"] if m["schema"] == "LabourFigure"]
    assert {m["status"] for m in marks} == {"correct", "spurious"}
    percent = next(m for m in marks if m["fields"]["value"] == 108.9)
    assert view["value_colours"]["percent"] in percent["style"]


@pytest.mark.browser
@needs(browser_missing())
def test_in_chromium_a_new_schema_is_filtered_listed_and_highlighted(figure_report: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    with chromium() as driver:
        driver.get((figure_report / "report.html").as_uri())
        assert driver.find_element(By.ID, "chart-LabourFigure").get_attribute("height")
        driver.find_element(By.ID, "tab-records").click()
        rows = driver.find_elements(By.CSS_SELECTOR, "#records-LabourFigure tr.record-row")
        assert len(rows) > 2

        def shown() -> list[str]:
            return [r.text for r in rows if r.is_displayed()]

        Select(driver.find_element(By.ID, "filter-LabourFigure-scale")).select_by_value("percent")
        assert shown() and all(" percent" in text for text in shown())
        Select(driver.find_element(By.ID, "filter-status")).select_by_value("correct")
        [row] = [r for r in rows if r.is_displayed()]
        assert "108.9" in row.text
        row.click()  # opens the article on that record
        detail = driver.find_element(By.ID, "detail").text
        assert "LabourFigure" in detail and "108.9" in detail and "correct" in detail
        spans = driver.find_elements(By.CSS_SELECTOR, ".article-text .mark")
        drawn = [s.text for s in spans if "filtered" not in (s.get_attribute("class") or "")]
        assert drawn and all("108.9" in text for text in drawn)  # the filters reach the highlighting
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == [], json.dumps(errors)


def test_each_shipped_schema_is_coloured_by_its_own_key_field() -> None:
    from polex.evals.schema_view import colour_field_of, facets_of
    from polex.pipeline.registry import discover

    colour_fields = {name: colour_field_of(spec, facets_of(spec)) for name, spec in discover().items()}
    assert colour_fields == {
        "QuantitativeTarget": "kind",
        "FundingAllocation": "action",
        "PolicyMeasure": "category",
    }
    target_groups = next(f for f in facets_of(discover()["PolicyMeasure"]) if f.field == "target_groups")
    assert target_groups.many and "youth" in target_groups.allowed
