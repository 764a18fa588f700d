"""Does an article cost more the later it comes in a run? One process runs the
offline learned extraction over N articles (the corpus ``bench_scale.py`` makes)
and prints, per chunk of articles: CPU milliseconds per article, the cyclic
garbage collector's collections (per generation) and the CPU time they took, the
number of objects the collector tracks, and the size of every ``functools`` cache
of polex's modules. Counts (collections, objects tracked, cache sizes and hit
rates) do not depend on the machine's load; CPU time does a little, so compare
chunks of one process.

    python benchmarks/bench_drift.py [--articles 6000] [--chunk 1000]
        [--mode run|extract] [--profile]

``--mode run`` (the default): ``runner.run_sync`` as ``polex run`` runs it (parts,
ledger, outputs); ``--mode extract``: ``runner.process_article`` alone, article
after article, in this thread (no run directory). ``--profile``: cProfile of the
first and the last chunk (``extract`` mode), the functions whose calls per
article differ most.

It only uses what the code of earlier commits has too, so it can measure an old
checkout: ``cd OLD && PYTHONPATH=OLD python NEW/benchmarks/bench_drift.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_scale import make_corpus  # noqa: E402  (the same corpus bench_scale.py measures)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def current_rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def system_seconds() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


class CollectorWatch:
    """Counts the cyclic collector's collections per generation and their CPU time."""

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            generation = info["generation"]
            self.collections[generation] += 1
            self.seconds[generation] += time.thread_time() - self._started

    def take(self) -> tuple[list[int], list[float]]:
        taken = (self.collections, self.seconds)
        self.collections, self.seconds = [0, 0, 0], [0.0, 0.0, 0.0]
        return taken


def polex_caches() -> dict[str, Any]:
    """Every ``functools`` cache found in polex's modules: name -> cache_info()."""
    found: dict[str, Any] = {}
    for name, module in sorted(sys.modules.items()):
        if not name.startswith("polex") or module is None:
            continue
        for attribute, value in vars(module).items():
            if callable(value) and hasattr(value, "cache_info") and getattr(value, "__module__", "") == name:
                found[f"{name.removeprefix('polex.')}.{attribute}"] = value.cache_info()
    return found


class Chunks:
    """Called once per finished article; prints a line per chunk of articles."""

    def __init__(self, chunk: int) -> None:
        self.chunk = chunk
        self.done = 0
        self.watch = CollectorWatch()
        self.cpu = cpu_seconds()
        self.system = system_seconds()
        self.previous_caches = polex_caches()
        self.rows: list[dict[str, Any]] = []
        print(
            f"{'articles':>9} {'cpu ms/art':>10} {'sys ms/art':>10} {'gc0':>5} {'gc1':>5} {'gc2':>4} "
            f"{'gc ms/art':>9} {'gc2 ms':>7} {'tracked':>9} {'RSS MB':>6}  caches (size, misses this chunk)"
        )

    def article_done(self, _: object = None) -> None:
        self.done += 1
        if self.done % self.chunk == 0:
            self.report()

    def report(self) -> None:
        cpu, system = cpu_seconds(), system_seconds()
        collections, seconds = self.watch.take()
        tracked = len(gc.get_objects())
        caches = polex_caches()
        changed = []
        for name, info in caches.items():
            before = self.previous_caches.get(name)
            misses = info.misses - (before.misses if before else 0)
            hits = info.hits - (before.hits if before else 0)
            if misses or (before and before.currsize != info.currsize):
                changed.append(f"{name.split('.')[-1]}={info.currsize}/{info.maxsize} m{misses} h{hits}")
        self.previous_caches = caches
        row = {
            "articles": self.done,
            "cpu_ms_per_article": 1000 * (cpu - self.cpu) / self.chunk,
            "sys_ms_per_article": 1000 * (system - self.system) / self.chunk,
            "collections": collections,
            "gc_ms_per_article": 1000 * sum(seconds) / self.chunk,
            "gc2_ms": 1000 * seconds[2],
            "tracked": tracked,
        }
        self.rows.append(row)
        self.cpu = cpu
        cells = (
            f"{self.done:>9} {row['cpu_ms_per_article']:>10.2f} {row['sys_ms_per_article']:>10.2f}",
            f"{collections[0]:>5} {collections[1]:>5} {collections[2]:>4}",
            f"{row['gc_ms_per_article']:>9.3f} {row['gc2_ms']:>7.1f} {tracked:>9} {current_rss_mb():>6.1f} ",
        )
        print(" ".join(cells), " ".join(changed), flush=True)
        # counting the tracked objects and the caches is not the articles' cost
        self.cpu, self.system = cpu_seconds(), system_seconds()


def articles_of(corpus: Path) -> Iterator[Any]:
    from polex.pipeline.inputs import Inputs

    return iter(Inputs([corpus]))


def run_mode(corpus: Path, work: Path, chunks: Chunks) -> None:
    from polex.pipeline.backends.offline import OfflineBackend
    from polex.pipeline.inputs import Inputs
    from polex.pipeline.registry import discover
    from polex.pipeline.runner import RunPlan, run_sync

    specs = list(discover().values())
    plan = RunPlan(Inputs([corpus]), [], specs, OfflineBackend(), work / "run", "drift")
    run_sync(plan, chunks.article_done)
    # after the last article: the outputs rebuilt from the parts, the totals, the manifest
    after = cpu_seconds() - chunks.cpu
    print(f"after the last article (outputs, totals, manifest): {1000 * after / chunks.done:.2f} cpu ms/art")


def extract_mode(corpus: Path, chunks: Chunks, profile: bool, total: int) -> None:
    from polex.pipeline.backends.offline import OfflineBackend
    from polex.pipeline.registry import discover
    from polex.pipeline.runner import process_article

    specs = list(discover().values())
    backend = OfflineBackend()
    profiles: dict[str, cProfile.Profile] = {}
    last_start = total - chunks.chunk
    profiler: cProfile.Profile | None = None
    for i, article in enumerate(articles_of(corpus)):
        if profile and i in (0, last_start):
            profiler = profiles.setdefault("first" if i == 0 else "last", cProfile.Profile())
            profiler.enable()
        asyncio.run(process_article(article, specs, backend))
        if profiler is not None and (i + 1) % chunks.chunk == 0:
            profiler.disable()
            profiler = None
        chunks.article_done()
    if profile:
        compare_profiles(profiles["first"], profiles["last"], chunks.chunk)


def compare_profiles(first: cProfile.Profile, last: cProfile.Profile, per: int) -> None:
    """The functions whose calls or own time per article differ most between the chunks."""

    def table(profile: cProfile.Profile) -> dict[str, tuple[float, float]]:
        stats: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
        return {
            f"{Path(file).name}:{line}({name})": (calls / per, own / per * 1000)
            for (file, line, name), (_, calls, own, _cum, _) in stats.items()
        }

    a, b = table(first), table(last)
    names = set(a) | set(b)
    print("\nfunctions whose calls per article differ (first chunk -> last chunk):")
    calls = sorted(names, key=lambda n: -abs(b.get(n, (0, 0))[0] - a.get(n, (0, 0))[0]))
    for name in calls[:15]:
        print(f"  {a.get(name, (0, 0))[0]:>10.2f} -> {b.get(name, (0, 0))[0]:>10.2f}  {name}")
    print("\nfunctions whose own ms per article grew most (first chunk -> last chunk):")
    grown = sorted(names, key=lambda n: -(b.get(n, (0, 0))[1] - a.get(n, (0, 0))[1]))
    for name in grown[:15]:
        print(f"  {a.get(name, (0, 0))[1]:>8.3f} -> {b.get(name, (0, 0))[1]:>8.3f}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=6000)
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--mode", choices=("run", "extract"), default="run")
    parser.add_argument("--profile", action="store_true", help="cProfile the first and last chunk (extract)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = make_corpus(work / "corpus.jsonl", args.articles)
        warm_up = make_corpus(work / "warm-up.jsonl", 5)
        if args.mode == "run":
            run_mode(warm_up, work / "warm", Chunks(10**9))
        else:
            extract_mode(warm_up, Chunks(10**9), False, 5)
        print(f"{sys.argv[0]} from {Path(sys.modules['polex'].__file__ or '').parent}, mode {args.mode}")
        chunks = Chunks(args.chunk)
        if args.mode == "run":
            run_mode(corpus, work, chunks)
        else:
            extract_mode(corpus, chunks, args.profile, args.articles)


if __name__ == "__main__":
    main()
