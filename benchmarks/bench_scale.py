"""Scale of the offline run: cost per article, peak memory and the cached re-run,
at growing corpus sizes, side by side in one invocation.

The corpus repeats the seeds and the corpus's dev articles (never test) under new
ids, each copy with a unique closing line so nothing can be served from a cache.
Each size runs in a fresh process (so peak RSS is that size's own): a first run,
then the same command again with every article finished (the cached re-run).

    python benchmarks/bench_scale.py [--sizes 250 2000 20000] [--out-dir DIR]

The run reads its inputs as ``polex run`` does, one article at a time
(``inputs.Inputs``). Figures: CPU milliseconds per article of the first run and
their ratio to the smallest size (flat cost is about 1.0; CPU time depends less
than wall time on what else the machine runs, but still moves with it: on a loaded
2-core machine the same articles cost 13-18 ms); peak RSS, the RSS before the
run (interpreter, libraries and models, after a warm-up run of 5 articles that
keeps one-time costs out of every size's figures) and how much the run adds to it; the cached
re-run's seconds, wall and CPU (reading the inputs included), per 1,000 articles
and as a fraction of the first run; the seconds it takes to read the inputs alone
(wall and CPU); and what the cached re-run takes beyond reading the inputs, scaled
to 5,000 articles (wall and CPU: issue 12's goal is 5 s).
Last, the CPU milliseconds per article of the run's first and last 250
articles and their ratio: the same process, so whether an article costs more the
later it comes shows without comparing processes run at different moments.
Quote ratios: absolute speeds depend on the machine and its load, and the load
drifts over a long run: give the smallest size again after the largest
(``--sizes 250 20000 250``) and compare the largest with both.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def source_articles() -> list[tuple[str, str]]:
    """(id, text) of the seeds and of the corpus's dev split."""
    found = [(p.stem, p.read_text("utf-8")) for p in sorted((ROOT / "seeds").glob("*.txt"))]
    corpus = ROOT / "evals" / "corpus"
    for line in (corpus / "manifest.jsonl").read_text("utf-8").splitlines():
        row = json.loads(line)
        article = corpus / "articles" / f"{row['id']}.txt"
        if row["split"] == "dev" and article.is_file():
            found.append((row["id"], article.read_text("utf-8")))
    return found


def make_corpus(path: Path, size: int) -> Path:
    sources = source_articles()
    with path.open("w", encoding="utf-8") as out:
        for i in range(size):
            stem, text = sources[i % len(sources)]
            out.write(
                json.dumps({"id": f"{stem}-{i}", "text": text + f"\n(Copy {i} of the corpus.)\n"}) + "\n"
            )
    return path


def current_rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class ChunkClock:
    """CPU milliseconds per article of the first and of the last ``chunk`` articles
    a run finishes, in the same process: a cost that grows as the run goes on shows
    here without comparing two processes measured at different moments. Both chunks
    start at a finished article (the first after the first article, so the run's
    start-up is in neither)."""

    def __init__(self, size: int, chunk: int = 250) -> None:
        self.chunk = max(1, min(chunk, size - 1))
        self.size = size
        self.done = 0
        self.marks: dict[int, float] = {}

    def article_done(self, _: object) -> None:
        self.done += 1
        if self.done in (1, 1 + self.chunk, self.size - self.chunk, self.size):
            self.marks[self.done] = cpu_seconds()

    def first_and_last_ms(self) -> tuple[float, float]:
        first = self.marks[1 + self.chunk] - self.marks[1]
        last = self.marks[self.size] - self.marks[self.size - self.chunk]
        return 1000 * first / self.chunk, 1000 * last / self.chunk


def measure_one(size: int, work: Path) -> dict[str, float]:
    """One size, in this process: a first run, then the cached re-run; the inputs are
    read by the run itself, one article at a time (``polex run`` reads them so)."""
    from polex.pipeline.backends.offline import OfflineBackend
    from polex.pipeline.inputs import Inputs
    from polex.pipeline.registry import discover
    from polex.pipeline.runner import RunPlan, run_sync

    work.mkdir(parents=True, exist_ok=True)
    corpus = make_corpus(work / f"corpus-{size}.jsonl", size)
    out = work / f"run-{size}"
    specs = list(discover().values())
    figures: dict[str, float] = {"articles": size}
    # a warm-up run, so the one-time costs (models read, patterns compiled) are in no size's figure
    warm_up = make_corpus(work / f"warm-up-{size}.jsonl", 5)
    run_sync(RunPlan(Inputs([warm_up]), [], specs, OfflineBackend(), work / f"warm-up-{size}", "warm-up"))
    figures["rss_before_run_mb"] = current_rss_mb()
    for attempt in ("first", "cached"):
        started = time.perf_counter()
        started_cpu = cpu_seconds()
        plan = RunPlan(Inputs([corpus]), [], specs, OfflineBackend(), out, "benchmark")
        clock = ChunkClock(size)
        result = run_sync(plan, clock.article_done)
        figures[f"{attempt}_run_s"] = time.perf_counter() - started
        figures[f"{attempt}_run_cpu_s"] = cpu_seconds() - started_cpu
        totals = result.totals
        assert totals.articles_ok == size
        assert totals.articles_resumed == (size if attempt == "cached" else 0)
        if attempt == "first":
            figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            figures["records"] = sum(totals.records.values())
            first_ms, last_ms = clock.first_and_last_ms()
            figures["first_chunk_cpu_ms"], figures["last_chunk_cpu_ms"] = first_ms, last_ms
    started, started_cpu = time.perf_counter(), cpu_seconds()
    assert sum(1 for _ in Inputs([corpus])) == size
    figures["inputs_s"] = time.perf_counter() - started
    figures["inputs_cpu_s"] = cpu_seconds() - started_cpu
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 2000, 20000])
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one size here
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one, args.out_dir)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = args.out_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = []
        for position, size in enumerate(args.sizes):  # a size may be given twice (before and after)
            child = [
                sys.executable,
                __file__,
                "--one",
                str(size),
                "--out-dir",
                str(work / f"{position}-{size}"),
            ]
            done = subprocess.run(child, capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    base = 1000 * rows[0]["first_run_cpu_s"] / rows[0]["articles"]
    header = (
        "articles",
        "first s",
        "cpu ms/art",
        "cost ratio",
        "peak RSS MB",
        "before run MB",
        "run adds MB",
        "cached s",
        "cached cpu s",
        "cached s/1000",
        "cached/first",
        "inputs s",
        "inputs cpu s",
        "beyond s/5000",
        "beyond cpu/5000",
        "first 250 ms",
        "last 250 ms",
        "last/first",
    )
    print(" ".join(f"{h:>13}" for h in header))
    for row in rows:
        ms = 1000 * row["first_run_cpu_s"] / row["articles"]
        cells = (
            f"{row['articles']:.0f}",
            f"{row['first_run_s']:.2f}",
            f"{ms:.2f}",
            f"{ms / base:.2f}",
            f"{row['peak_rss_mb']:.0f}",
            f"{row['rss_before_run_mb']:.0f}",
            f"{row['peak_rss_mb'] - row['rss_before_run_mb']:.0f}",
            f"{row['cached_run_s']:.2f}",
            f"{row['cached_run_cpu_s']:.2f}",
            f"{1000 * row['cached_run_s'] / row['articles']:.2f}",
            f"{row['cached_run_s'] / row['first_run_s']:.3f}",
            f"{row['inputs_s']:.2f}",
            f"{row['inputs_cpu_s']:.2f}",
            f"{5000 * (row['cached_run_s'] - row['inputs_s']) / row['articles']:.2f}",
            f"{5000 * (row['cached_run_cpu_s'] - row['inputs_cpu_s']) / row['articles']:.2f}",
            f"{row['first_chunk_cpu_ms']:.2f}",
            f"{row['last_chunk_cpu_ms']:.2f}",
            f"{row['last_chunk_cpu_ms'] / row['first_chunk_cpu_ms']:.2f}",
        )
        print(" ".join(f"{c:>13}" for c in cells))


if __name__ == "__main__":
    main()
