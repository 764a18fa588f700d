"""Throughput of the offline backend on corpora made by repeating the seeds.

Each copy gets a unique closing line, so no cache inside the pipeline can serve a
repeated text. Corpora of growing size run side by side in one process, and the
figure that matters is the ratio of the cost per article at the largest size to
the cost at the smallest: about 1 when cost grows linearly with the corpus.
Absolute speeds depend on the machine and its load; quote ratios.

    python benchmarks/bench_offline.py [--sizes 250 1000 5000] [--out-dir DIR] [--engines learned rules]

With two engines, each size runs with the trained models (the default) and with
the hand-written rules (--rules-only) one after the other, so their speeds can be
compared as a ratio measured in one run.
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


def measure(size: int, work: Path, engine: str = "learned") -> dict[str, float | str]:
    corpus = make_corpus(work / f"corpus-{size}.jsonl", size)
    articles, errors = read_inputs([corpus])
    assert not errors and len(articles) == size
    plan = RunPlan(
        articles,
        [],
        list(discover().values()),
        OfflineBackend(rules_only=engine == "rules"),
        work / f"run-{engine}-{size}",
        "benchmark",
        concurrency=8,
    )
    started = time.perf_counter()
    result = run_sync(plan)
    seconds = time.perf_counter() - started
    assert result.manifest.totals.articles_ok == size
    records = sum(result.manifest.totals.records.values())
    return {
        "engine": engine,
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
    parser.add_argument("--engines", nargs="+", choices=["learned", "rules"], default=["learned"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.out_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = [measure(size, work, engine) for size in args.sizes for engine in args.engines]
    base = {
        engine: next(r["ms_per_article"] for r in rows if r["engine"] == engine) for engine in args.engines
    }
    columns = ("engine", "articles", "seconds", "art/s", "ms/art", "records")
    print(" ".join(f"{c:>9}" for c in columns) + f" {'cost ratio':>11}")
    for row in rows:
        print(
            f"{row['engine']:>9} {row['articles']:>9} {row['seconds']:>9.2f} "
            f"{row['articles_per_second']:>9.1f} {row['ms_per_article']:>9.2f} {row['records']:>9} "
            f"{float(row['ms_per_article']) / float(base[str(row['engine'])]):>11.2f}"
        )
    if len(args.engines) == 2:
        for size in args.sizes:
            learned, rules = (
                next(r for r in rows if r["articles"] == size and r["engine"] == e) for e in args.engines
            )
            ratio = float(learned["ms_per_article"]) / float(rules["ms_per_article"])
            print(f"{size} articles: {args.engines[0]} costs {ratio:.2f}x {args.engines[1]} per article")


if __name__ == "__main__":
    main()
