"""Throughput of the offline backend on corpora made by repeating the seeds.

Each copy gets a unique closing line, so no cache inside the pipeline can serve a
repeated text. Corpora of growing size run side by side in one process, and the
figure that matters is the ratio of the cost per article at the largest size to
the cost at the smallest: about 1 when cost grows linearly with the corpus.
Absolute speeds depend on the machine and its load; quote ratios.

    python benchmarks/bench_offline.py [--sizes 250 1000 5000] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from pipeline.backends.offline import OfflineBackend
from pipeline.inputs import read_inputs
from pipeline.registry import discover
from pipeline.runner import RunPlan, run_sync

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def make_corpus(path: Path, size: int) -> Path:
    seeds = sorted(SEEDS.glob("*.txt"))
    with path.open("w", encoding="utf-8") as out:
        for i in range(size):
            seed = seeds[i % len(seeds)]
            text = seed.read_text("utf-8") + f"\n(Copy {i} of the corpus.)\n"
            out.write(json.dumps({"id": f"{seed.stem}-{i}", "text": text}) + "\n")
    return path


def measure(size: int, work: Path) -> dict[str, float]:
    corpus = make_corpus(work / f"corpus-{size}.jsonl", size)
    articles, errors = read_inputs([corpus])
    assert not errors and len(articles) == size
    plan = RunPlan(
        articles,
        [],
        list(discover().values()),
        OfflineBackend(),
        work / f"run-{size}",
        "benchmark",
        concurrency=8,
    )
    started = time.perf_counter()
    result = run_sync(plan)
    seconds = time.perf_counter() - started
    assert result.manifest["totals"]["articles_ok"] == size
    records = sum(result.manifest["totals"]["records"].values())
    return {
        "articles": size,
        "seconds": seconds,
        "articles_per_second": size / seconds,
        "ms_per_article": 1000 * seconds / size,
        "records": records,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 1000, 5000])
    parser.add_argument("--out-dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.out_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = [measure(size, work) for size in args.sizes]
    base = rows[0]["ms_per_article"]
    print(f"{'articles':>9} {'seconds':>9} {'art/s':>8} {'ms/art':>8} {'records':>8} {'cost ratio':>11}")
    for row in rows:
        print(
            f"{row['articles']:>9} {row['seconds']:>9.2f} {row['articles_per_second']:>8.1f} "
            f"{row['ms_per_article']:>8.2f} {row['records']:>8} {row['ms_per_article'] / base:>11.2f}"
        )
    print(
        f"cost per article at {rows[-1]['articles']} vs {rows[0]['articles']} articles: "
        f"{rows[-1]['ms_per_article'] / base:.2f}x (1.00 = linear growth)"
    )


if __name__ == "__main__":
    main()
