"""A record type added as one folder outside the project flows through run, gold
check and eval with no change to the pipeline or the harness; changing its prompt
invalidates exactly its own cache entries."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polex.pipeline.cli import app
from polex.pipeline.runstore import read_jsonl
from tests.conftest import SEEDS
from tests.fake_openai import FakeServer, completion

ARTICLE = "000_f717e4e5ad01f3aa"

SCHEMA = '''
"""PercentFigure: every percentage of an article (a researcher's own schema)."""
from pathlib import Path

from pydantic import BaseModel, Field

from polex.pipeline.checks import number_in_evidence
from polex.pipeline.spec import FieldScore, SchemaSpec, Scoring


class PercentFigure(BaseModel):
    """One percentage written in the article."""

    evidence: str = Field(description="The clause holding the percentage, verbatim.")
    value: float = Field(description="The percentage as a number: '108.9%' -> 108.9.")


def rules(ctx):
    return [(PercentFigure(evidence=m.text, value=m.value), m.start)
            for m in ctx.mentions if m.of_interest and m.unit == "percent"]


SPEC = SchemaSpec(
    name="PercentFigure",
    version=1,
    model=PercentFigure,
    prompt=Path(__file__).with_name("percent_figure.v1.md"),
    checks=(number_in_evidence("value", unit="percent"),),
    offline=rules,
    quantity_field="value",
    scoring=Scoring(fields=(FieldScore("value", "numeric", key=True), FieldScore("evidence", "span")),
                    anchors=("value", "evidence")),
)
'''

PROMPT = "List every {{ schema_name }} of this article.\n=== user ===\n<article>\n{{ text }}\n</article>\n"


def make_schema_dir(root: Path, prompt: str = PROMPT) -> Path:
    folder = root / "lab_schemas"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "percent_figure.py").write_text(textwrap.dedent(SCHEMA))
    (folder / "percent_figure.v1.md").write_text(prompt)
    return folder


def test_a_schema_in_a_temporary_directory_flows_through_run_gold_check_and_eval(tmp_path: Path) -> None:
    schemas = make_schema_dir(tmp_path)
    cli = CliRunner()
    listed = cli.invoke(app, ["schemas", "--schema-dir", str(schemas)])
    assert listed.exit_code == 0 and "PercentFigure.v1" in listed.output

    run = tmp_path / "run"
    ran = cli.invoke(
        app,
        [
            "run",
            str(SEEDS / f"{ARTICLE}.txt"),
            "--out",
            str(run),
            "--backend",
            "offline",
            "--schema",
            "PercentFigure",
            "--schema-dir",
            str(schemas),
        ],
    )
    assert ran.exit_code == 0, ran.output
    values = sorted(r["record"]["value"] for r in read_jsonl(run / "PercentFigure.jsonl"))
    assert values == [9.88, 108.9]

    gold = tmp_path / "gold"
    gold.mkdir()
    (gold / f"{ARTICLE}.json").write_text(
        json.dumps(
            {
                "article_id": ARTICLE,
                "PercentFigure": [
                    {"evidence": "108.9%", "value": 108.9},
                    {"evidence": "9.88%", "value": 9.88},
                    {"evidence": "22600", "value": 22600},
                ],
            }
        )
    )
    check = cli.invoke(
        app, ["gold", "check", "--gold", str(gold), "--articles", str(SEEDS), "--schema-dir", str(schemas)]
    )
    assert check.exit_code == 1
    assert f"{ARTICLE}.json: PercentFigure[2]: value must be a figure in percent" in check.output

    (gold / f"{ARTICLE}.json").write_text(
        json.dumps(
            {
                "article_id": ARTICLE,
                "PercentFigure": [
                    {"evidence": "108.9%", "value": 108.9},
                    {"evidence": "9.88%", "value": 9.88},
                ],
            }
        )
    )
    assert (
        cli.invoke(
            app,
            ["gold", "check", "--gold", str(gold), "--articles", str(SEEDS), "--schema-dir", str(schemas)],
        ).exit_code
        == 0
    )
    scored = cli.invoke(
        app,
        [
            "eval",
            str(run),
            "--gold",
            str(gold),
            "--schema-dir",
            str(schemas),
            "--fail-under",
            "PercentFigure.strict_f1=1.0",
        ],
    )
    assert scored.exit_code == 0, scored.output
    assert json.loads((run / "eval.json").read_text())["headline"]["PercentFigure.lenient_f1"] == 1.0


def test_changing_a_template_invalidates_exactly_its_own_cache_entries(tmp_path: Path) -> None:
    answers = {
        "PercentFigure": completion([{"evidence": "108.9%", "value": 108.9}]),
        "QuantitativeTarget": completion([]),
    }
    server = FakeServer(
        lambda body: answers["PercentFigure" if "PercentFigure" in json.dumps(body) else "QuantitativeTarget"]
    )

    def run(schemas: Path, out: str) -> dict:  # type: ignore[type-arg]
        from polex.pipeline.backends.openai_compat import LLMSettings, OpenAICompatBackend
        from polex.pipeline.inputs import read_inputs
        from polex.pipeline.registry import select
        from polex.pipeline.runner import RunPlan, run_sync

        backend = OpenAICompatBackend(
            LLMSettings(
                model="fake", base_url="http://fake/v1", cache_dir=tmp_path / "cache", strategy="free"
            ),
            transport=server.transport(),
        )
        articles, _ = read_inputs([SEEDS / f"{ARTICLE}.txt"])
        specs = select(["QuantitativeTarget", "PercentFigure"], [schemas])
        return run_sync(RunPlan(articles, [], specs, backend, tmp_path / out)).manifest.to_json_dict()

    first = run(make_schema_dir(tmp_path / "v1"), "r1")
    assert first["totals"]["usage_this_run"]["requests"] == 2
    same = run(make_schema_dir(tmp_path / "v1"), "r2")
    assert same["totals"]["usage_this_run"]["requests"] == 0
    changed = run(make_schema_dir(tmp_path / "v2", PROMPT.replace("List every", "Find all")), "r3")
    assert changed["totals"]["usage_this_run"]["requests"] == 1  # only PercentFigure asked again
    assert changed["totals"]["usage_this_run"]["cache_hits"] == 1
    assert (
        changed["schemas"]["PercentFigure"]["prompt_sha256"]
        != first["schemas"]["PercentFigure"]["prompt_sha256"]
    )
    assert changed["schemas"]["QuantitativeTarget"] == first["schemas"]["QuantitativeTarget"]


def test_a_schema_from_an_installed_package_is_found_through_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.metadata

    from polex.pipeline import registry

    folder = make_schema_dir(tmp_path)
    monkeypatch.syspath_prepend(str(folder))
    point = importlib.metadata.EntryPoint("percent", "percent_figure:SPEC", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(
        registry.importlib.metadata,
        "entry_points",
        lambda group: [point] if group == registry.ENTRY_POINT_GROUP else [],
    )
    assert "PercentFigure" in registry.discover()
    broken = importlib.metadata.EntryPoint("broken", "no_such_module:SPEC", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry.importlib.metadata, "entry_points", lambda group: [broken])
    with pytest.raises(registry.SchemaError, match="entry point broken"):
        registry.discover()
