"""CPU cost of the offline extraction alone (``runner.process_article`` per article:
every schema, grounding and checks; no run directory), for comparing two versions
of the code side by side.

    python benchmarks/bench_extract.py [--articles 150] [--rounds 3] [--rules-only]
        [--against DIR]

The articles are the seeds repeated, each copy with a unique closing line (no cache
can serve a repeated text), after a warm-up of 5. Each round runs in a fresh
process. With ``--against DIR`` (a checkout of other code: ``git worktree add DIR
COMMIT``, or ``git archive COMMIT | tar -x -C DIR``), the rounds alternate between
this code and DIR's, so both see the same machine load; the figure to quote is the
ratio of their CPU milliseconds per article (medians), measured in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(articles: int, rules_only: bool) -> float:
    """CPU milliseconds per article of ``process_article`` in this process."""
    from polex.pipeline.backends.offline import OfflineBackend
    from polex.pipeline.records import Article
    from polex.pipeline.registry import discover
    from polex.pipeline.runner import process_article

    specs = list(discover().values())
    backend = OfflineBackend(rules_only=rules_only)
    seeds = [p.read_text("utf-8") for p in sorted((ROOT / "seeds").glob("*.txt"))]
    loop = asyncio.new_event_loop()

    def batch(tag: str, size: int) -> list[Article]:
        return [Article(f"{tag}-{i}", seeds[i % len(seeds)] + f"\n(Copy {tag} {i}.)\n") for i in range(size)]

    for article in batch("warm-up", 5):
        loop.run_until_complete(process_article(article, specs, backend))
    work = batch("measured", articles)
    started = time.process_time()
    for article in work:
        loop.run_until_complete(process_article(article, specs, backend))
    return 1000 * (time.process_time() - started) / articles


def one_round(code: Path | None, articles: int, rules_only: bool) -> float:
    """One measurement in a fresh process, of this code or of ``code``'s."""
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH", "")]))
    command = [sys.executable, __file__, "--one", "--articles", str(articles)]
    if rules_only:
        command.append("--rules-only")
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True, cwd=ROOT.parent)
    return float(json.loads(done.stdout.strip().splitlines()[-1])["ms_per_article"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rules-only", action="store_true")
    parser.add_argument(
        "--against", type=Path, default=None, help="A checkout of other code to compare with."
    )
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # internal: measure here
    args = parser.parse_args()
    if args.one:
        print(json.dumps({"ms_per_article": measure(args.articles, args.rules_only)}))
        return
    this: list[float] = []
    other: list[float] = []
    for _ in range(args.rounds):
        this.append(one_round(None, args.articles, args.rules_only))
        if args.against is not None:
            other.append(one_round(args.against.resolve(), args.articles, args.rules_only))
    print(f"this code: {', '.join(f'{x:.2f}' for x in this)} CPU ms per article")
    if other:
        print(f"{args.against}: {', '.join(f'{x:.2f}' for x in other)} CPU ms per article")
        ratio = statistics.median(other) / statistics.median(this)
        print(f"this code does {ratio:.2f}x the articles per CPU-second of {args.against} (medians)")


if __name__ == "__main__":
    main()
