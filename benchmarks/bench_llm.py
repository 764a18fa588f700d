"""Measure the LLM path on the labelled corpus: serve a GGUF on loopback with
llama-cpp-python's server (or use --base-url), run `polex run` once per strategy on
the chosen articles, score each run with `polex eval`, and append one Markdown
table row per run (plus the offline default on the same articles, for reference).

    python benchmarks/bench_llm.py --gguf MODEL.gguf --split test --origin official_english \
        --limit 4 --strategy free --strategy mentions --results /work/notes/bench_llm/qwen.md

On dev articles the offline default has been trained on the very articles scored;
`--held-out` trains it again without them (seeds and the other dev articles) and
runs every row, the offline one and the mention-first guesses, with that model, so
that a dev comparison is one on unseen articles:

    python benchmarks/bench_llm.py --gguf MODEL.gguf --ids ID ... --held-out \
        --strategy mentions.v2 --strategy mentions.v3 --results dev.md

A run stopped before its end (the machine too loaded to finish in time) is scored on
the articles it finished, from its folder and recorded responses, without a model:

    python benchmarks/bench_llm.py --stopped RUN_DIR --model-name NAME --results FILE.md

With --ids it is scored on those of the finished articles only, so that runs stopped
at different points are compared on the same articles.

Measuring instruments (model files) are never dependencies of the product or its
tests. Scoring on the test split is how figures are reported; nothing here tunes.
Seconds per article are wall-clock on whatever else the machine is doing."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "evals" / "corpus"
SCHEMA = "QuantitativeTarget"
SCHEMA_MODULE = "quantitative_target"
STRATEGIES = ["free", "mentions", "mentions.v2", "mentions.v3", "mentions.v4", "mentions.v5"]
HEADER = (
    "| model | strategy | mode | articles | lenient F1 (95% CI) | strict F1 (95% CI) | value precision "
    "| records | rejected | repairs | tokens in / out | completion tokens / article | s / article |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
)


@dataclass(frozen=True)
class Row:
    model: str
    strategy: str
    mode: str
    articles: int
    lenient: tuple[float, list[float]]
    strict: tuple[float, list[float]]
    value_precision: float | None
    records: int
    rejected: int
    repairs: int
    tokens_in: int
    tokens_out: int
    seconds: float

    def markdown(self) -> str:
        def f1(score: tuple[float, list[float]]) -> str:
            low, high = score[1]
            return f"{score[0]:.3f} ({low:.2f}-{high:.2f})"

        precision = "n/a" if self.value_precision is None else f"{self.value_precision:.3f}"
        n = max(1, self.articles)
        return (
            f"| {self.model} | {self.strategy} | {self.mode} | {self.articles} | {f1(self.lenient)} "
            f"| {f1(self.strict)} | {precision} | {self.records} | {self.rejected} | {self.repairs} "
            f"| {self.tokens_in} / {self.tokens_out} | {self.tokens_out / n:.0f} | {self.seconds / n:.1f} |"
        )


def choose_articles(split: str | None, origin: str | None, ids: list[str], limit: int | None) -> list[str]:
    rows = [json.loads(line) for line in (CORPUS / "manifest.jsonl").read_text().splitlines() if line.strip()]
    if ids:
        known = {r["id"] for r in rows}
        unknown = [i for i in ids if i not in known]
        if unknown:
            sys.exit(f"unknown article id(s) in --ids: {', '.join(unknown)}")
        chosen = ids
    else:
        chosen = [
            r["id"]
            for r in rows
            if (split is None or r["split"] == split) and (origin is None or r["origin"] == origin)
        ]
    return chosen[:limit] if limit else chosen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(gguf: Path, n_ctx: int, threads: int, log: Path) -> Any:
    """llama-cpp-python's OpenAI-compatible server on a free loopback port."""
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads), "--verbose", "False"]
    with log.open("w") as sink:
        server = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/v1"
            for _ in range(600):
                if server.poll() is not None:
                    sys.exit(f"the server exited ({server.returncode}); see {log}")
                try:
                    urllib.request.urlopen(f"{url}/models", timeout=2)
                    break
                except OSError:
                    time.sleep(1)
            else:
                sys.exit(f"the server did not answer within 600 s; see {log}")
            yield url
        finally:
            server.terminate()  # a server busy with a request may not stop when asked
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


# `polex` with the schema's trained model replaced by the one at argv[1] (--held-out)
WITH_MODEL = (
    "import dataclasses, pathlib, sys\n"
    f"import polex.schemas.{SCHEMA_MODULE} as schema\n"
    "schema.SPEC = dataclasses.replace(schema.SPEC, learned_model=pathlib.Path(sys.argv.pop(1)))\n"
    "from polex.pipeline.cli import main\n"
    "main()\n"
)
HELD_OUT_MODEL: Path | None = None  # set by --held-out


def polex(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "polex.pipeline"]
    if HELD_OUT_MODEL is not None:
        command = [sys.executable, "-c", WITH_MODEL, str(HELD_OUT_MODEL)]
    return subprocess.run([*command, *args], cwd=ROOT, capture_output=True, text=True, check=False)


def train_held_out(ids: list[str], path: Path) -> Path:
    """The schema's model trained on its usual gold (seeds and dev) without ``ids``."""
    from polex.evals.training import training_articles
    from polex.pipeline.learning.train import train
    from polex.pipeline.registry import select

    (spec,) = select([SCHEMA])
    examples = [g for g in training_articles(spec.name) if g.article.id not in set(ids)]
    model, _ = train(spec, examples, info={"articles": [g.article.id for g in examples]})
    model.save(path)
    return path


def gold_of(ids: list[str], folder: Path) -> Path:
    """A gold folder holding the chosen articles' gold only: `polex eval` scores every
    gold article, and one the run did not extract would count as all-missing."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.json"):
        stale.unlink()
    for article_id in ids:
        source = CORPUS / "gold" / f"{article_id}.json"
        if source.is_file():
            shutil.copyfile(source, folder / source.name)
    return folder


def score(run_dir: Path, gold: Path, model: str, strategy: str, mode: str, seconds: float) -> Row:
    scored = polex(
        "eval",
        str(run_dir),
        "--gold",
        str(gold),
        "--articles",
        str(CORPUS / "articles"),
        "--manifest",
        str(CORPUS / "manifest.jsonl"),
    )
    if not (run_dir / "eval.json").is_file():
        sys.exit(f"polex eval failed on {run_dir}:\n{scored.stdout}\n{scored.stderr}")
    report = json.loads((run_dir / "eval.json").read_text())["schemas"][SCHEMA]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    totals = manifest["totals"]
    usage = parts_usage(run_dir)
    records, intervals = report["records"], report["intervals_95"]
    value = report["fields"].get("value", {})
    return Row(
        model=model,
        strategy=strategy,
        mode=mode,
        articles=totals["articles_ok"] + totals["articles_failed"],
        lenient=(records["lenient"]["macro"]["f1"], intervals["lenient"]["macro_f1"]),
        strict=(records["strict"]["macro"]["f1"], intervals["strict"]["macro_f1"]),
        value_precision=value.get("precision")
        if value.get("correct", 0) + value.get("incorrect", 0)
        else None,
        records=sum(totals["records"].values()),
        rejected=totals["rejected"],
        repairs=usage["repairs"],
        tokens_in=usage["prompt_tokens"],
        tokens_out=usage["completion_tokens"],
        seconds=seconds,
    )


def parts_usage(run_dir: Path) -> dict[str, int]:
    """Tokens and repairs summed over the run's article parts (the same as the
    manifest's usage for a run made in one go; also right for a resumed one)."""
    totals = {"prompt_tokens": 0, "completion_tokens": 0, "repairs": 0}
    for part in (run_dir / "parts").glob("*.json"):
        usage = json.loads(part.read_text())["usage"]
        totals["prompt_tokens"] += usage["prompt_tokens"]
        totals["completion_tokens"] += usage["completion_tokens"]
        totals["repairs"] += sum((usage.get("repairs") or {}).values())
    return totals


def score_stopped(run_dir: Path, model: str, work: Path, only: list[str]) -> tuple[Row, list[str]]:
    """Score a `polex run` that was stopped: its command is resumed on the articles it
    finished (those of ``only``, when given), answering from its recorded responses
    only (`--replay`: no request, a miss fails), which writes its outputs for those
    articles; then they are scored against their gold. Seconds are the
    finished articles' own (started to finished)."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    parts = [json.loads(p.read_text()) for p in sorted((run_dir / "parts").glob("*.json"))]
    if only:
        missing = sorted(set(only) - {p["article_id"] for p in parts})
        if missing:
            sys.exit(f"{run_dir} did not finish: {' '.join(missing)}")
        parts = [p for p in parts if p["article_id"] in set(only)]
    if not parts:
        sys.exit(f"{run_dir} holds no finished article")
    words = iter(manifest["command"][2:])  # after the program and "run"
    options: list[str] = []
    for word in words:
        if word == "--cache-dir":
            options += ["--replay", next(words)]
        elif word == "--force":
            continue
        elif word.startswith("--"):
            options += [word, next(words)]
    resumed = polex("run", *[p["source"] for p in parts], *options)
    if resumed.returncode not in (0, 1):
        sys.exit(f"resuming {run_dir} failed:\n{resumed.stdout}\n{resumed.stderr}")
    ids = [p["article_id"] for p in parts]
    gold = gold_of(ids, work / "gold-stopped")
    seconds = sum(
        (datetime.fromisoformat(p["finished"]) - datetime.fromisoformat(p["started"])).total_seconds()
        for p in parts
    )
    command = manifest["command"]
    strategy = command[command.index("--strategy") + 1] if "--strategy" in command else "free"
    mode = command[command.index("--mode") + 1] if "--mode" in command else "?"
    return score(run_dir, gold, model, strategy, mode, seconds), ids


def run_llm(
    url: str, model: str, strategy: str, mode: str, files: list[str], out: Path, gold: Path, args: Any
) -> Row:
    """One `polex run` of the LLM path; its responses are recorded in OUT-responses/
    (emptied first, so nothing is replayed) for reading what the model answered."""
    responses = out.with_name(out.name + "-responses")
    shutil.rmtree(responses, ignore_errors=True)
    started = time.monotonic()
    result = polex(
        "run",
        *files,
        "--out",
        str(out),
        "--force",
        "--backend",
        "openai",
        "--base-url",
        url,
        "--model",
        "local",
        "--mode",
        mode,
        "--strategy",
        strategy,
        "--schema",
        SCHEMA,
        "--cache-dir",
        str(responses),
        "--concurrency",
        "1",
        "--max-tokens",
        str(args.max_tokens),
        "--max-reasks",
        str(args.max_reasks),
        "--timeout",
        str(args.timeout),
        "--retries",
        "1",
    )
    seconds = time.monotonic() - started
    if not (out / "manifest.json").is_file():
        sys.exit(f"polex run failed:\n{result.stdout}\n{result.stderr}")
    return score(out, gold, model, strategy, mode, seconds)


def run_offline(files: list[str], out: Path, gold: Path) -> Row:
    started = time.monotonic()
    polex("run", *files, "--out", str(out), "--force", "--backend", "offline", "--schema", SCHEMA)
    return score(out, gold, "offline default", "-", "-", time.monotonic() - started)


def stop_on_sigterm(_signum: int, _frame: Any) -> None:
    """`kill` ends the benchmark like Ctrl-C, so that its server is stopped too."""
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--offline-only", action="store_true", help="the offline default's row only (stopped runs' articles)"
    )
    source.add_argument("--gguf", type=Path, help="GGUF file to serve on loopback")
    source.add_argument("--base-url", help="an OpenAI-compatible endpoint already running")
    source.add_argument(
        "--stopped", type=Path, help="score a stopped run's folder on the articles it finished"
    )
    parser.add_argument("--model-name", help="name for the table (default: the GGUF's file name)")
    parser.add_argument("--split", choices=["dev", "test"])
    parser.add_argument("--origin", choices=["official_english", "machine_translated"])
    parser.add_argument("--ids", nargs="*", default=[], help="article ids instead of a split")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--strategy", action="append", choices=STRATEGIES)
    parser.add_argument("--mode", default="json_object_schema")
    parser.add_argument("--max-tokens", type=int, default=2048)
    parser.add_argument("--max-reasks", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--n-ctx", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-offline", action="store_true", help="skip the offline reference row")
    held_out = parser.add_mutually_exclusive_group()
    held_out.add_argument(
        "--held-out",
        action="store_true",
        help="train the offline default without the chosen articles and run every row with it",
    )
    held_out.add_argument(
        "--offline-model",
        type=Path,
        help="run every row with this trained model (e.g. the held-out.npz of an earlier --held-out run)",
    )
    parser.add_argument("--work", type=Path, default=Path("runs/bench_llm"))
    parser.add_argument("--results", type=Path, required=True, help="Markdown file the rows are appended to")
    args = parser.parse_args()
    global HELD_OUT_MODEL
    HELD_OUT_MODEL = args.offline_model

    if args.stopped:
        work = args.work if args.work.is_absolute() else ROOT / args.work
        row, finished = score_stopped(args.stopped, args.model_name or "endpoint", work, args.ids)
        command = " ".join(["python", "benchmarks/bench_llm.py", *sys.argv[1:]])
        with args.results.open("a") as table:
            table.write(
                f"<!-- {time.strftime('%Y-%m-%d %H:%M')} UTC; {command}; finished: {' '.join(finished)} -->\n"
            )
            table.write(row.markdown() + "\n")
        print(row.markdown())
        return

    ids = choose_articles(args.split, args.origin, args.ids, args.limit)
    if not ids:
        sys.exit("no article chosen")
    files = [str(CORPUS / "articles" / f"{i}.txt") for i in ids]
    model = args.model_name or (args.gguf.name if args.gguf else "endpoint")
    work = args.work if args.work.is_absolute() else ROOT / args.work
    work.mkdir(parents=True, exist_ok=True)
    gold = gold_of(ids, work / "gold")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    if not args.results.exists() or not args.results.read_text().strip():
        args.results.write_text(HEADER)
    command = " ".join(["python", "benchmarks/bench_llm.py", *sys.argv[1:]])
    with args.results.open("a") as table:
        table.write(f"<!-- {time.strftime('%Y-%m-%d %H:%M')} UTC; {command}; articles: {' '.join(ids)} -->\n")
    if args.held_out:
        HELD_OUT_MODEL = train_held_out(ids, work / "held-out.npz")
        with args.results.open("a") as table:
            table.write(f"<!-- offline model trained without these articles: {HELD_OUT_MODEL} -->\n")
    elif HELD_OUT_MODEL is not None:
        with args.results.open("a") as table:
            table.write(f"<!-- offline model: {HELD_OUT_MODEL} -->\n")
    if not args.no_offline:
        row = run_offline(files, work / "offline", gold)
        with args.results.open("a") as table:
            table.write(row.markdown() + "\n")
        print(row.markdown(), flush=True)

    def measure(url: str) -> None:
        for strategy in args.strategy or ["free", "mentions"]:
            slug = f"{model}-{strategy}-{args.mode}".replace("/", "_")
            row = run_llm(url, model, strategy, args.mode, files, work / slug, gold, args)
            with args.results.open("a") as table:
                table.write(row.markdown() + "\n")
            print(row.markdown(), flush=True)

    if args.offline_only:
        return
    if args.gguf:
        os.environ.setdefault("OPENAI_API_KEY", "not-needed-for-local-servers")
        with served(args.gguf, args.n_ctx, args.threads, work / f"{model}-server.log") as url:
            measure(url)
    else:
        measure(args.base_url)


if __name__ == "__main__":
    main()
