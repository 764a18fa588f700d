"""Wall and CPU time of `polex train` (every schema, the seeds and the corpus's dev
split), with each number of worker processes of ``--jobs``, and with ``--against
DIR`` the same training by other code (a checkout: ``git archive COMMIT | tar -x -C
DIR``), side by side in one run: each configuration ``--rounds`` times, the order
rotating every round. Every run writes its models to a temporary folder; the
script fails unless every configuration saved byte-identical models. Absolute
times depend on the machine and its load (printed before and after): quote ratios.

    python benchmarks/bench_train.py [--jobs 1 2] [--against DIR] [--rounds 1]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from polex.pipeline.registry import select

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Config:
    name: str
    code: Path  # the checkout whose `polex` package runs
    jobs: int | None  # None: the code has no --jobs option


def train_once(config: Config, out_dir: Path) -> tuple[float, float, dict[str, str]]:
    """(wall s, CPU s of the process and its workers, sha256 per schema's model)."""
    launcher = (
        f"import sys; sys.path.insert(0, {str(config.code)!r}); from polex.pipeline.cli import main; main()"
    )
    digests = {}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    for spec in select([], []):
        out = out_dir / f"{spec.name}.npz"
        command = [sys.executable, "-c", launcher, "train", "--schema", spec.name, "--out", str(out)]
        if config.jobs is not None:
            command += ["--jobs", str(config.jobs)]
        subprocess.run(command, check=True, cwd=config.code, capture_output=True)
        digests[spec.name] = hashlib.sha256(out.read_bytes()).hexdigest()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, digests


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--against", type=Path, help="a checkout of other code to train side by side")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    configs = [Config(f"this code, --jobs {n}", ROOT, n) for n in args.jobs]
    if args.against is not None:
        configs.insert(0, Config(f"{args.against}", args.against.resolve(), None))
    print(f"load average before: {os.getloadavg()}")
    times: dict[str, list[tuple[float, float]]] = {c.name: [] for c in configs}
    models: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for config in configs[round_ % len(configs) :] + configs[: round_ % len(configs)]:
                out_dir = Path(tmp) / f"{len(models)}-{round_}"
                out_dir.mkdir()
                wall, cpu, digests = train_once(config, out_dir)
                times[config.name].append((wall, cpu))
                models[f"{config.name} (round {round_ + 1})"] = digests
                print(f"{config.name}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    print(f"load average after: {os.getloadavg()}")
    base = statistics.median(w for w, _ in times[configs[0].name])
    for name, runs in times.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(
            f"{name}: median {wall:.1f} s wall, {cpu:.1f} s CPU; wall {wall / base:.2f}x of {configs[0].name}"
        )
    distinct = {tuple(sorted(d.items())) for d in models.values()}
    if len(distinct) != 1:
        sys.exit(f"the models differ between configurations: {models}")
    print("models: byte-identical in every configuration")


if __name__ == "__main__":
    main()
