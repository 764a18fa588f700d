"""Test-split F1 against the number of training articles: what more gold would buy.

For each size N the models are trained on the first N trainable articles (the seeds
first, then dev in salted-hash order; never test), the offline backend extracts the
corpus, and the harness scores the test split. Prints a Markdown table.

    python benchmarks/learning_curve.py --sizes 5 10 20 35
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import warnings
from pathlib import Path

from polex.evals.corpus import CORPUS_DIR
from polex.evals.harness import evaluate
from polex.evals.training import training_articles
from polex.pipeline.backends.offline import OfflineBackend
from polex.pipeline.inputs import read_inputs
from polex.pipeline.learning.train import train
from polex.pipeline.registry import select
from polex.pipeline.runner import RunPlan, run_sync

FIGURES = (
    ("QuantitativeTarget", "lenient_f1"),
    ("QuantitativeTarget", "value+kind_f1"),
    ("QuantitativeTarget", "strict_f1"),
    ("PolicyMeasure", "category_set_f1"),
    ("PolicyMeasure", "lenient_f1"),
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 10, 20, 35])
    args = parser.parse_args()
    warnings.filterwarnings("ignore", module="sklearn")
    specs = select(["QuantitativeTarget", "PolicyMeasure"], [])
    articles, _ = read_inputs([CORPUS_DIR / "articles"])
    work = Path(tempfile.mkdtemp(prefix="polex-curve-"))
    print("| training articles | " + " | ".join(f"{s} {m}" for s, m in FIGURES) + " |")
    print("|---" * (len(FIGURES) + 1) + "|")
    for size in args.sizes:
        sized = []
        for spec in specs:
            model, _ = train(spec, training_articles(spec.name, limit=size))
            path = work / f"{spec.name}-{size}.npz"
            model.save(path)
            sized.append(dataclasses.replace(spec, learned_model=path))
        run = work / f"run-{size}"
        run_sync(RunPlan(articles, [], sized, OfflineBackend(), run))
        headline = evaluate(run, CORPUS_DIR / "gold", specs, CORPUS_DIR / "articles").report.headline
        cells = []
        for schema, metric in FIGURES:
            value = headline.get(f"split=test/{schema}.{metric}")
            cells.append("-" if value is None else f"{100 * value:.1f}")
        print(f"| {size} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
