"""The set of a label field's values an article holds, decided for the article as a
whole (a schema's ``Scoring.set_fields``: PolicyMeasure's categories).

A sentence that is kept gives its most probable value, but a value that several
sentences each find fairly probable is in the article all the same, and a value one
doubtful sentence gives is not. So, per article and value, the probability that at
least one sentence is a record of that value is the noisy-or of the sentences'
``keep x value`` probabilities; the article holds the values at or above a
threshold that training chooses by grouped cross-validation (``choose_threshold``).
The records then follow the set (``article_records``): a record whose value is not
in it is dropped, and a value of the set no record carries gets one record, at the
sentence most likely to be it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:  # numpy in training; prediction passes lists (no numpy at start-up)
    import numpy as np
    from numpy.typing import NDArray

    Column: TypeAlias = NDArray[np.float64] | Sequence[float]
    Table: TypeAlias = NDArray[np.float64] | Sequence[Sequence[float]]

THRESHOLDS = tuple(round(0.15 + 0.05 * k, 2) for k in range(8))  # 0.15 ... 0.5


def noisy_or(keep: Column, probabilities: Table) -> list[float]:
    """Per value, the probability that at least one candidate is a record of it:
    1 - prod(1 - keep_i * p_iv) over the article's candidates (``keep``: (n,),
    ``probabilities``: (n, values)), multiplied in the candidates' order."""
    if len(keep) == 0:
        shape: tuple[int, ...] = getattr(probabilities, "shape", (0,))  # (0, values) for an array
        return [0.0] * (shape[1] if len(shape) == 2 else 0)
    product = [1.0] * len(probabilities[0])
    for k, row in zip(keep, probabilities, strict=True):
        for v, p in enumerate(row):
            product[v] *= 1.0 - min(max(float(k) * float(p), 0.0), 1.0)
    return [1.0 - x for x in product]


def set_f1(predicted: set[str], gold: set[str]) -> float:
    """F1 of one article's set of values, as the scorer counts it (1 when both are empty)."""
    if not predicted and not gold:
        return 1.0
    common = len(predicted & gold)
    if not common:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def article_values(classes: Sequence[str], keep: Column, probabilities: Table, threshold: float) -> set[str]:
    found = noisy_or(keep, probabilities)
    return {value for value, p in zip(classes, found, strict=True) if p >= threshold}


def choose_threshold(
    articles: Sequence[tuple[NDArray[np.float64], NDArray[np.float64], set[str]]],
    classes: Sequence[str],
    by_records: Sequence[set[str]],
) -> tuple[float | None, float, float]:
    """From out-of-fold predictions, per article (keep probabilities, value
    probabilities, the gold's set of values), and the set the records alone would
    give each article: the threshold of the best mean set F1, or None when no
    threshold beats the records' own sets; with both mean set F1s."""
    import numpy as np

    records_f1 = float(
        np.mean([set_f1(found, gold) for found, (_, _, gold) in zip(by_records, articles, strict=True)])
    )
    best: tuple[float, float] | None = None
    for threshold in THRESHOLDS:
        f1 = float(
            np.mean([set_f1(article_values(classes, keep, p, threshold), gold) for keep, p, gold in articles])
        )
        if best is None or f1 > best[1] + 1e-9:
            best = (threshold, f1)
    assert best is not None
    if best[1] <= records_f1:
        return None, records_f1, best[1]
    return best[0], records_f1, best[1]
