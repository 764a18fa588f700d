"""Writes evals/baseline.json from an eval.json of the offline default on the corpus:
the test split's figures only (the CI gate), never dev (which the models learn from).

    polex run evals/corpus/articles --out runs/corpus --backend offline
    polex eval runs/corpus --gold evals/corpus/gold --articles evals/corpus/articles
    python scripts/refresh_baseline.py runs/corpus/eval.json
"""

from __future__ import annotations

import sys
from pathlib import Path

from polex.evals.eval_report import Baseline, load_eval_report
from polex.evals.loading import EvalInputError

BASELINE = Path(__file__).resolve().parents[1] / "evals" / "baseline.json"
GATED = ("lenient_f1", "strict_f1", "value_f1", "category_set_f1", "value+kind_f1")


def main(eval_json: Path) -> None:
    try:
        report = load_eval_report(eval_json)
    except EvalInputError as exc:
        raise SystemExit(str(exc)) from exc
    headline = {
        key: value
        for key, value in sorted(report.headline.items())
        if key.startswith("split=test") and key.rsplit(".", 1)[-1] in GATED
    }
    if not headline:
        raise SystemExit(f"{eval_json} has no test-split figures (was it scored with the corpus manifest?)")
    baseline = Baseline(
        description="The offline default on the corpus's test split (evals/corpus); the CI gate "
        "(tests/test_quality_gate.py). Refresh after a real improvement with "
        "scripts/refresh_baseline.py.",
        headline=headline,
    )
    BASELINE.write_text(baseline.to_json(), "utf-8")
    print(f"{BASELINE}: {len(headline)} figures")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
