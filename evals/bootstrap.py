"""95% intervals that resample articles: scipy.stats.bootstrap with the percentile
method, 1000 resamples and a fixed seed, so the same scores always give the same
interval. Several arrays of one article each (a run's true positives, predictions
and gold; or two runs' F1) are resampled jointly (``paired=True``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import bootstrap

RESAMPLES = 1000
CONFIDENCE = 0.95

Statistic = Callable[..., Any]  # (*arrays, axis) -> one value per resample


def article_interval(arrays: Sequence[NDArray[np.float64]], statistic: Statistic, seed: int) -> list[float]:
    """[low, high] of ``statistic`` over articles resampled with replacement. With
    fewer than two articles there is nothing to resample: the interval is the value."""
    if len(arrays[0]) == 0:
        return [0.0, 0.0]
    if len(arrays[0]) < 2:
        value = float(statistic(*arrays, axis=-1))
        return [value, value]
    result = bootstrap(
        tuple(arrays),
        statistic,
        n_resamples=RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        paired=True,
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    return [float(low), float(high)]


def mean(values: NDArray[np.float64], axis: int = -1) -> Any:
    return np.mean(values, axis=axis)


def mean_difference(first: NDArray[np.float64], second: NDArray[np.float64], axis: int = -1) -> Any:
    """Mean of the second minus mean of the first (B - A on the same articles)."""
    return np.mean(second, axis=axis) - np.mean(first, axis=axis)


def micro_f1(
    true_positives: NDArray[np.float64],
    predicted: NDArray[np.float64],
    gold: NDArray[np.float64],
    axis: int = -1,
) -> Any:
    """F1 of the summed counts, as scoring.prf: 1 when nothing is to be found and
    nothing is found."""
    tp, n_pred, n_gold = (np.sum(x, axis=axis) for x in (true_positives, predicted, gold))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(n_pred > 0, tp / n_pred, 0.0)
        recall = np.where(n_gold > 0, tp / n_gold, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return np.where((n_pred == 0) & (n_gold == 0), 1.0, f1)
