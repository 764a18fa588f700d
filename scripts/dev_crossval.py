"""Cross-validation on the dev split: the only honest signal for changing features,
rules or training while the test split stays unseen.

The dev articles are cut into K folds (by salted hash); for each fold a model is
trained on the seeds and the other folds, the offline backend extracts the held-out
fold with it, and the folds' outputs are merged into one run directory, which is
scored against the dev gold:

    python scripts/dev_crossval.py --out runs/dev-cv [--folds 5] [--schema QuantitativeTarget]

With --folds-by batch each fold is one batch of the manifest (leave one batch out)
instead of a fifth of dev by salted hash.

With --rules-only nothing is trained: the schemas' hand-written rules extract the
same folds, the figure a learned extractor must beat.

Then read runs/dev-cv/eval.md (its worst errors are dev errors, safe to study).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import tempfile
import warnings
from pathlib import Path

from polex.evals.corpus import CORPUS_DIR, MANIFEST_NAME, load_manifest, split_rank
from polex.evals.eval_summary import render_markdown
from polex.evals.harness import evaluate
from polex.evals.training import dev_folds, training_articles
from polex.pipeline.backends.offline import OfflineBackend
from polex.pipeline.learning.train import train
from polex.pipeline.records import Article
from polex.pipeline.registry import select
from polex.pipeline.runner import RunPlan, run_sync
from polex.pipeline.runstore import atomic_write, read_jsonl, write_json, write_jsonl


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--folds-by",
        choices=("hash", "batch"),
        default="hash",
        help="hash: --folds folds by salted hash; batch: one fold per manifest batch",
    )
    parser.add_argument("--schema", action="append", default=None)
    parser.add_argument("--rules-only", action="store_true", help="score the rules, train nothing")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    specs = select(args.schema or [], [])
    folds = dev_folds(load_manifest(CORPUS_DIR / MANIFEST_NAME), args.folds, args.folds_by)
    dev = sorted((i for fold in folds for i in fold), key=split_rank)
    work = Path(tempfile.mkdtemp(prefix="polex-cv-"))
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    merged_manifest: dict[str, object] | None = None
    articles_meta: list[dict[str, object]] = []
    rows: dict[str, list[dict[str, object]]] = {s.name: [] for s in specs}
    rejected: list[dict[str, object]] = []
    for k, held in enumerate(folds):
        fold_specs = list(specs) if args.rules_only else []
        for spec in [] if args.rules_only else specs:
            gold = [g for g in training_articles(spec.name) if g.article.id not in held]
            model, _ = train(spec, gold)
            path = work / f"fold{k}-{spec.name}.npz"
            model.save(path)
            fold_specs.append(dataclasses.replace(spec, learned_model=path))
        articles = [
            Article(i, (CORPUS_DIR / "articles" / f"{i}.txt").read_text("utf-8"), source=f"{i}.txt")
            for i in held
        ]
        run_dir = work / f"fold{k}"
        result = run_sync(
            RunPlan(articles, [], fold_specs, OfflineBackend(rules_only=args.rules_only), run_dir)
        )
        merged_manifest = merged_manifest or result.manifest.to_json_dict()
        articles_meta.extend(a.to_json_dict() for a in result.manifest.articles)
        for spec in specs:
            rows[spec.name].extend(read_jsonl(run_dir / f"{spec.name}.jsonl"))
        rejected.extend(read_jsonl(run_dir / "rejected.jsonl"))
        print(f"fold {k}: {len(held)} articles")
    assert merged_manifest is not None
    merged_manifest["articles"] = articles_meta
    merged_manifest["command"] = "scripts/dev_crossval.py"
    write_json(args.out / "manifest.json", merged_manifest)
    for name, schema_rows in rows.items():
        write_jsonl(args.out / f"{name}.jsonl", schema_rows)
    write_jsonl(args.out / "rejected.jsonl", rejected)
    gold_dir = work / "dev-gold"
    gold_dir.mkdir()
    for article_id in dev:
        shutil.copy(CORPUS_DIR / "gold" / f"{article_id}.json", gold_dir)
    shutil.copy(CORPUS_DIR / MANIFEST_NAME, work / MANIFEST_NAME)
    evaluation = evaluate(args.out, gold_dir, specs, CORPUS_DIR / "articles", manifest=work / MANIFEST_NAME)
    atomic_write(args.out / "eval.json", evaluation.report.to_json())
    atomic_write(args.out / "eval.md", render_markdown(evaluation.report))
    for key, value in sorted(evaluation.report.headline.items()):
        if key.startswith("split=dev/") or key.startswith("split=dev,"):
            print(key, value)
    print(json.dumps({"out": str(args.out)}))


if __name__ == "__main__":
    main()
