"""Fuzz: hypothesis-generated articles (random Unicode, huge and garbled numbers,
nested quotes, no punctuation) through the offline backend and `polex eval`: no
traceback, every article accounted for (ok, or an error naming it in errors.jsonl).
Bounded to a few dozen examples so that it runs in CI in seconds; time is not
asserted (a loaded machine must stay green), the bound on work per number is
(tests/test_hostile_inputs.py)."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from polex.pipeline.cli import app
from polex.pipeline.runstore import read_jsonl

NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(
        ["56 1 10,000", "1.2 million", "108.9%", "4.5%", "10,000", "０１２３", "²³", "Ⅻ", "1e309"]
    ),
)
PHRASES = st.sampled_from(
    ["new urban jobs", "registered unemployment rate", "within", "will create", "completing", "“", "”",
     '"', "'", "«", "(", ")", "\n", "\u2028", "\x00", "in 2023", "the 14th Five-Year Plan", "Hubei", ",", " "]
)  # fmt: skip
PIECES = st.one_of(NUMBERS, PHRASES, st.text(max_size=30))
ARTICLES = st.lists(st.lists(PIECES, min_size=1, max_size=60).map(" ".join), min_size=1, max_size=4)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(texts=ARTICLES)
def test_random_articles_never_crash_the_offline_run_or_the_eval(tmp_path: Path, texts: list[str]) -> None:
    work = Path(tmp_path) / f"case{abs(hash(tuple(texts)))}"
    work.mkdir()
    source = work / "in.jsonl"
    source.write_text("".join(json.dumps({"id": f"a{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    run = work / "run"
    cli = CliRunner()
    result = cli.invoke(app, ["run", str(source), "--out", str(run), "--backend", "offline"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 1), result.output
    manifest = json.loads((run / "manifest.json").read_text("utf-8"))
    assert manifest["status"] == "complete"
    statuses = {a["id"]: a["status"] for a in manifest["articles"]}
    errors = {e["article_id"] for e in read_jsonl(run / "errors.jsonl")}
    for i in range(len(texts)):
        status = statuses.get(f"a{i}")
        assert status == "ok" or f"a{i}" in errors, (status, texts[i][:80])
    gold = work / "gold"
    gold.mkdir()
    (gold / "a0.json").write_text(json.dumps({"article_id": "a0", "QuantitativeTarget": []}))
    scored = cli.invoke(app, ["eval", str(run), "--gold", str(gold)])
    assert scored.exception is None or isinstance(scored.exception, SystemExit), scored.exception
    assert scored.exit_code in (0, 2), scored.output
