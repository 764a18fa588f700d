"""Throughput of the offline backend on corpora made by repeating the seeds.

Each copy gets a unique closing line, so no cache inside the pipeline can serve a
repeated text. Corpora of growing size run side by side in one process, and the
figure that matters is the ratio of the cost per article at the largest size to
the cost at the smallest: about 1 when cost grows linearly with the corpus.
Absolute speeds depend on the machine and its load; quote ratios.

    python benchmarks/bench_offline.py [--sizes 250 1000 5000] [--out-dir DIR]
        [--engines learned rules] [--workers 1 2] [--no-startup]

With two engines, each size runs with the trained models (the default) and with
the hand-written rules (--rules-only) one after the other, so their speeds can be
compared as a ratio measured in one run.

Each size also runs with every number of worker processes of ``--workers``
(``polex run --workers N``): the speed-up of N workers over 1 is a ratio of wall
times measured in the same run; it needs free cores, and on a machine shared with
other programs it shows how many are free. ``cpu art/s`` is articles per CPU-second
of all the run's processes (workers included): the articles/s of one core, whatever
else runs on the machine, and with N workers, how much the hand-over to the workers
costs (the same figure as with 1: none).

Last, the start-up of ``polex run`` on one article (a fresh interpreter, offline
backend): its wall and CPU seconds, and how much of it is importing modules
(measured in a second run with ``python -X importtime``).

With ``--against DIR`` (a checkout of other code: ``git archive COMMIT | tar -x -C
DIR``), each size and engine also runs end to end as ``polex run`` (a fresh process,
start-up included) alternately with this code and DIR's, ``--rounds`` times each,
and so does the start-up on one article (``--startup-runs`` times each): the figures
to quote are the ratios of their medians, measured side by side in one run (each
code first in every other round), printed with the load average before and after.
``--inputs PATH...`` also runs those articles (e.g. ``evals/corpus/articles``) end
to end alternately; ``--compiled``
runs both codes from compiled bytecode, as an installed wheel does (this sandbox sets
``PYTHONDONTWRITEBYTECODE=1``: each start compiles polex's modules from source; the
bytecode goes to a private ``PYTHONPYCACHEPREFIX``, written by one warm-up run of
each code); ``--compare-only`` skips the measurements of this code alone.

    python benchmarks/bench_offline.py --against DIR --compare-only --sizes 250
        --rounds 3 --startup-runs 9 [--inputs evals/corpus/articles] [--compiled]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from polex.pipeline.backends import BackendOptions
from polex.pipeline.backends.offline import OfflineBackend
from polex.pipeline.inputs import Inputs
from polex.pipeline.registry import discover
from polex.pipeline.runner import RunPlan, run_sync
from polex.pipeline.workers import WorkerSetup

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def make_corpus(path: Path, size: int) -> Path:
    seeds = sorted(SEEDS.glob("*.txt"))
    with path.open("w", encoding="utf-8") as out:
        for i in range(size):
            seed = seeds[i % len(seeds)]
            text = seed.read_text("utf-8") + f"\n(Copy {i} of the corpus.)\n"
            out.write(json.dumps({"id": f"{seed.stem}-{i}", "text": text}) + "\n")
    return path


def measure(size: int, work: Path, engine: str = "learned", workers: int = 1) -> dict[str, float | str]:
    corpus = make_corpus(work / f"corpus-{size}.jsonl", size)
    rules_only = engine == "rules"
    plan = RunPlan(
        Inputs([corpus]),  # read by the run, one article at a time, as `polex run` does
        [],
        list(discover().values()),
        OfflineBackend(rules_only=rules_only),
        work / f"run-{engine}-{size}-{workers}",
        "benchmark",
        concurrency=8,
        workers=WorkerSetup(workers, "offline", BackendOptions(rules_only=rules_only))
        if workers > 1
        else None,
    )
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    result = run_sync(plan)
    seconds = time.perf_counter() - started
    while multiprocessing.active_children():  # reaps the stopped workers: their CPU time counts
        time.sleep(0.05)
    cpu_seconds = _cpu_seconds() - cpu_started
    assert result.manifest.totals.articles_ok == size
    records = sum(result.manifest.totals.records.values())
    return {
        "engine": engine,
        "workers": workers,
        "articles": size,
        "seconds": seconds,
        "articles_per_second": size / seconds,
        "articles_per_cpu_second": size / cpu_seconds,
        "ms_per_article": 1000 * seconds / size,
        "records": records,
    }


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have ended (the workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


ONE_ARTICLE = sorted(SEEDS.glob("*.txt"))[0]


def _polex_run_once(work: Path, *python_options: str) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (the child's) and stderr of ``polex run`` on one article."""
    out = work / f"startup-{time.monotonic_ns()}"
    command = [
        sys.executable,
        *python_options,
        "-m",
        "polex.pipeline",
        "run",
        str(ONE_ARTICLE),
        "--out",
        str(out),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "--backend", "offline"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stderr


def _import_seconds(importtime_log: str) -> float:
    """Seconds spent importing: the cumulative time of every top-level import."""
    total_us = 0
    for line in importtime_log.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        if not name.startswith("  "):  # nested imports are inside their parent's figure
            total_us += int(cumulative)
    return total_us / 1e6


def _code_env(code: Path | None, bytecode: Path | None = None) -> dict[str, str]:
    """The environment of a subprocess that runs this code (None) or ``code``'s; with
    ``bytecode``, compiled modules are written to and read from that folder."""
    env = {**os.environ, "COLUMNS": "100"}
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH", "")]))
    if bytecode is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(bytecode)
    return env


def _cli_cpu_seconds(arguments: list[str], code: Path | None, bytecode: Path | None = None) -> float:
    """CPU seconds (user + system) of one ``polex run`` in a fresh process of this
    code or ``code``'s."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-m", "polex.pipeline", "run", *arguments, "--backend", "offline"],
        capture_output=True,
        text=True,
        env=_code_env(code, bytecode),
        cwd=SEEDS.parents[1],  # outside both trees: the import path decides whose code runs
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def compare(
    work: Path,
    against: Path,
    sizes: list[int],
    engines: list[str],
    rounds: int,
    startup_runs: int,
    inputs: list[Path],
    compiled: bool = False,
) -> None:
    """End-to-end CPU per article and start-up, alternately with this code and ``against``'s."""
    codes: dict[str, Path | None] = {"this": None, "other": against}
    bytecode = {label: work / f"bytecode-{label}" if compiled else None for label in codes}
    print(f"comparing with {against}{' (compiled bytecode)' if compiled else ''}; {_load()}")
    if compiled:  # one warm-up run of each code writes its bytecode
        for label, code in codes.items():
            _cli_cpu_seconds([str(ONE_ARTICLE), "--out", str(work / f"warm-{label}")], code, bytecode[label])
    runs: list[tuple[str, list[str], int]] = []
    for size in sizes:
        corpus = make_corpus(work / f"corpus-{size}.jsonl", size)
        runs += [
            (f"{size} seed copies, {engine}", [str(corpus), *_engine(engine)], size) for engine in engines
        ]
    for path in inputs:
        count = sum(1 for _ in path.rglob("*.txt")) if path.is_dir() else 1
        runs += [
            (f"{path} ({count} articles), {engine}", [str(path), *_engine(engine)], count)
            for engine in engines
        ]
    for name, arguments, count in runs:
        ms: dict[str, list[float]] = {"this": [], "other": []}
        for round_ in range(rounds):
            for label, code in _in_turn(codes, round_):
                out = work / f"compare-{label}-{len(ms[label])}-{time.monotonic_ns()}"
                cpu = _cli_cpu_seconds([*arguments, "--out", str(out)], code, bytecode[label])
                ms[label].append(1000 * cpu / count)
        this, other = statistics.median(ms["this"]), statistics.median(ms["other"])
        print(
            f"{name}, end to end: this code {this:.2f} CPU ms/article "
            f"({_listed(ms['this'])}), {against} {other:.2f} ({_listed(ms['other'])}): "
            f"{other / this:.2f}x the articles per CPU-second"
        )
    seconds: dict[str, list[float]] = {"this": [], "other": []}
    for run in range(startup_runs):
        for label, code in _in_turn(codes, run):
            out = work / f"compare-startup-{label}-{run}"
            seconds[label].append(
                _cli_cpu_seconds([str(ONE_ARTICLE), "--out", str(out)], code, bytecode[label])
            )
    this, other = statistics.median(seconds["this"]), statistics.median(seconds["other"])
    print(
        f"start-up on one article: this code {this:.3f} CPU s ({_listed(seconds['this'])}), "
        f"{against} {other:.3f} ({_listed(seconds['other'])}) (medians of {startup_runs}, "
        f"alternated): {other / this:.2f}x as fast; {_load()}"
    )


def _in_turn(codes: dict[str, Path | None], round_: int) -> list[tuple[str, Path | None]]:
    """The codes in turn, the first one first in even rounds and last in odd ones
    (neither always runs first, after the other has warmed the caches)."""
    turn = list(codes.items())
    return turn if round_ % 2 == 0 else turn[::-1]


def _engine(engine: str) -> list[str]:
    return ["--rules-only"] if engine == "rules" else []


def _listed(values: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in values)


def measure_startup(work: Path, runs: int = 3) -> dict[str, float]:
    timings = [_polex_run_once(work) for _ in range(runs)]
    traced_wall, _, importtime_log = _polex_run_once(work, "-X", "importtime")
    return {
        "wall": statistics.median(t[0] for t in timings),
        "cpu": statistics.median(t[1] for t in timings),
        "import_share": _import_seconds(importtime_log) / traced_wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 1000, 5000])
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--engines", nargs="+", choices=["learned", "rules"], default=["learned"])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-startup", action="store_true", help="Skip the start-up measurement.")
    parser.add_argument(
        "--against", type=Path, default=None, help="A checkout of other code to compare with, alternately."
    )
    parser.add_argument("--rounds", type=int, default=3, help="With --against: runs of each size and code.")
    parser.add_argument("--startup-runs", type=int, default=5, help="With --against: start-ups of each code.")
    parser.add_argument(
        "--inputs", type=Path, nargs="*", default=[], help="With --against: articles also run end to end."
    )
    parser.add_argument("--compiled", action="store_true", help="With --against: from compiled bytecode.")
    parser.add_argument("--compare-only", action="store_true", help="With --against: only the comparison.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.out_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.against is not None:
            compare(
                work,
                args.against.resolve(),
                args.sizes,
                args.engines,
                args.rounds,
                args.startup_runs,
                [p.resolve() for p in args.inputs],
                args.compiled,
            )
            if args.compare_only:
                return
        rows = [
            measure(size, work, engine, workers)
            for size in args.sizes
            for engine in args.engines
            for workers in args.workers
        ]
        startup = None if args.no_startup else measure_startup(work)
    base = {
        (engine, workers): next(
            r["ms_per_article"] for r in rows if r["engine"] == engine and r["workers"] == workers
        )
        for engine in args.engines
        for workers in args.workers
    }
    columns = ("engine", "workers", "articles", "seconds", "art/s", "cpu art/s", "ms/art", "records")
    print(" ".join(f"{c:>9}" for c in columns) + f" {'cost ratio':>11}")
    for row in rows:
        print(
            f"{row['engine']:>9} {row['workers']:>9} {row['articles']:>9} {row['seconds']:>9.2f} "
            f"{row['articles_per_second']:>9.1f} {row['articles_per_cpu_second']:>9.1f} "
            f"{row['ms_per_article']:>9.2f} {row['records']:>9} "
            f"{float(row['ms_per_article']) / float(base[(str(row['engine']), int(row['workers']))]):>11.2f}"
        )

    def row_of(size: int, engine: str, workers: int) -> dict[str, float | str]:
        return next(
            r for r in rows if r["articles"] == size and r["engine"] == engine and r["workers"] == workers
        )

    if len(args.engines) == 2:
        for size in args.sizes:
            learned, rules = (row_of(size, e, args.workers[0]) for e in args.engines)
            ratio = float(learned["ms_per_article"]) / float(rules["ms_per_article"])
            print(f"{size} articles: {args.engines[0]} costs {ratio:.2f}x {args.engines[1]} per article")
    if 1 in args.workers:
        for workers in (w for w in args.workers if w > 1):
            for size in args.sizes:
                for engine in args.engines:
                    one, many = row_of(size, engine, 1), row_of(size, engine, workers)
                    speedup = float(one["seconds"]) / float(many["seconds"])
                    cost = float(one["articles_per_cpu_second"]) / float(many["articles_per_cpu_second"])
                    print(
                        f"{size} articles, {engine}: {workers} workers run {speedup:.2f}x as fast as 1, "
                        f"at {cost:.2f}x the CPU time per article"
                    )
    if startup is not None:
        print(
            f"start-up of `polex run` on one article (offline): {startup['wall']:.2f} s wall, "
            f"{startup['cpu']:.2f} s CPU (median of 3); importing modules is "
            f"{100 * startup['import_share']:.0f} % of it"
        )


if __name__ == "__main__":
    main()
