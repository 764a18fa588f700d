"""Linear classifiers and a monotone calibrator as plain arrays.

scikit-learn fits them (``fit_classifier``, ``fit_calibrator``, imported only when
training); prediction is a sparse dot product in numpy, so running the offline
backend needs neither scikit-learn nor pickle."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, repeat

import numpy as np
from numpy.typing import NDArray

Features = dict[str, float]


@dataclass(frozen=True)
class Vocabulary:
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {name: i for i, name in enumerate(self.names)})

    def index(self, name: str) -> int | None:
        found: int | None = self._index.get(name)  # type: ignore[attr-defined]
        return found

    def encode(self, rows: Sequence[Features]) -> Encoded:
        return encode(self._index, rows)  # type: ignore[attr-defined]

    def matrix(self, rows: Sequence[Features]) -> object:
        """A scipy CSR matrix of ``rows`` (for fitting)."""
        from scipy.sparse import csr_matrix

        encoded = self.encode(rows)
        return csr_matrix(
            (encoded.values, (encoded.rows, encoded.columns)), shape=(len(rows), len(self.names))
        )


def encode(index: dict[str, int], rows: Sequence[Features]) -> Encoded:
    """Every feature of ``rows`` that ``index`` knows, in row order and each row's
    own order, looked up in one pass over all rows (no Python loop per feature)."""
    total = sum(len(features) for features in rows)
    columns = np.fromiter(map(index.get, chain.from_iterable(rows), repeat(-1)), dtype=np.int64, count=total)
    values = np.fromiter(
        chain.from_iterable(features.values() for features in rows), dtype=np.float64, count=total
    )
    row_ids = np.repeat(np.arange(len(rows), dtype=np.int64), [len(features) for features in rows])
    known = columns >= 0
    return Encoded(len(rows), row_ids[known], columns[known], values[known])


@dataclass(frozen=True)
class Encoded:
    """Rows of features as coordinates (row, column, value) of a sparse matrix."""

    n: int
    rows: NDArray[np.int64]
    columns: NDArray[np.int64]
    values: NDArray[np.float64]

    def __len__(self) -> int:
        return self.n

    def dot(self, weights: NDArray[np.float64]) -> NDArray[np.float64]:
        """(n, k): each row's features times ``weights`` (k, features), summed."""
        contributions = weights[:, self.columns] * self.values
        out = np.zeros((self.n, weights.shape[0]))
        for k in range(weights.shape[0]):
            out[:, k] = np.bincount(self.rows, weights=contributions[k], minlength=self.n)
        return out


@dataclass(frozen=True)
class LinearClassifier:
    """Multinomial (or binary) logistic regression: ``coef`` is (classes, features),
    or (1, features) for two classes as scikit-learn stores it."""

    classes: tuple[str, ...]
    coef: NDArray[np.float64]
    intercept: NDArray[np.float64]

    def probabilities(self, encoded: Encoded) -> NDArray[np.float64]:
        if len(self.classes) == 1:
            return np.ones((len(encoded), 1))
        scores = encoded.dot(self.coef) + self.intercept
        if self.coef.shape[0] == 1:
            positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.stack([1.0 - positive, positive], axis=1)
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        result: NDArray[np.float64] = exp / exp.sum(axis=1, keepdims=True)
        return result


@dataclass(frozen=True)
class Calibrator:
    """A monotone map from a raw score to the probability that a record is right,
    stored as breakpoints of its curve (read by linear interpolation)."""

    x: NDArray[np.float64]
    y: NDArray[np.float64]

    def __call__(self, raw: float) -> float:
        if len(self.x) == 0:
            return raw
        return float(np.interp(raw, self.x, self.y))


def build_vocabulary(rows: Sequence[Features], min_count: int = 2) -> Vocabulary:
    counts: dict[str, int] = {}
    for row in rows:
        for name in row:
            counts[name] = counts.get(name, 0) + 1
    return Vocabulary(tuple(sorted(n for n, c in counts.items() if c >= min_count or n == "bias")))


def fit_classifier(matrix: object, labels: Sequence[str], c: float, seed: int) -> LinearClassifier:
    classes = tuple(sorted(set(labels)))
    if len(classes) < 2:
        return LinearClassifier(classes or ("",), np.zeros((1, 0)), np.zeros(1))
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    model = LogisticRegression(C=c, max_iter=5000, random_state=seed)
    # One thread: the problems are small, and a multi-threaded BLAS spinning on a
    # loaded machine made the same fits about twenty times slower in CPU time.
    with threadpool_limits(limits=1):
        model.fit(matrix, list(labels))
    assert tuple(str(x) for x in model.classes_) == classes
    return LinearClassifier(
        classes, np.asarray(model.coef_, dtype=np.float64), np.asarray(model.intercept_, dtype=np.float64)
    )


CALIBRATION_GRID = 201  # breakpoints of the stored calibration curve on [0, 1]


def fit_calibrator(raw: Sequence[float], correct: Sequence[bool]) -> Calibrator:
    """Platt scaling: a logistic regression of "right" on the logit of the raw
    score, stored as its curve at CALIBRATION_GRID points. Two parameters, so a few
    hundred records cannot make it jump to 0 or 1 the way an isotonic fit does at
    its ends."""
    if len(set(correct)) < 2:
        return Calibrator(np.zeros(0), np.zeros(0))
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    model = LogisticRegression()
    # One BLAS thread, as for the classifiers: a multi-threaded sum may round
    # differently from run to run, and the saved curve must not change with it.
    with threadpool_limits(limits=1):
        model.fit(_logit(np.asarray(raw, dtype=np.float64)), np.asarray(correct, dtype=np.int64))
        grid = np.linspace(0.0, 1.0, CALIBRATION_GRID)
        curve = model.predict_proba(_logit(grid))[:, 1]
    return Calibrator(grid, np.asarray(curve, dtype=np.float64))


def _logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    clipped = np.clip(p, 1e-4, 1 - 1e-4)
    result: NDArray[np.float64] = np.log(clipped / (1 - clipped)).reshape(-1, 1)
    return result


@dataclass(frozen=True)
class PairClassifier:
    """A conditional logit over a lexicon field's values: each value's score is its
    own weights on the candidate's features plus the shared weights on the pair's
    lexicon features; probabilities are the softmax of the scores."""

    classes: tuple[str, ...]
    weights: NDArray[np.float64]  # (values, base features)
    bias: NDArray[np.float64]  # (values,)
    shared_names: tuple[str, ...]
    shared_weights: NDArray[np.float64]

    def probabilities(self, encoded: Encoded, shared: Sequence[Sequence[Features]]) -> NDArray[np.float64]:
        index = {name: i for i, name in enumerate(self.shared_names)}
        scores = encoded.dot(self.weights) + self.bias
        for row in range(len(encoded)):
            for v, features in enumerate(shared[row]):
                if not features:
                    continue
                scores[row, v] += sum(
                    self.shared_weights[index[name]] * x for name, x in features.items() if name in index
                )
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        result: NDArray[np.float64] = exp / exp.sum(axis=1, keepdims=True)
        return result


@dataclass(frozen=True)
class PairDesign:
    """What ``fit_pair`` fits a pair model from, independent of C: the (candidate,
    value) pairs as a sparse matrix over their own vocabulary, with their targets.
    Built once per training set and fitted at every C of a grid."""

    base: Vocabulary
    values: tuple[str, ...]
    vocabulary: Vocabulary
    matrix: object  # scipy CSR
    targets: list[str]


def pair_design(
    base: Vocabulary,
    rows: Sequence[Features],
    shared: Sequence[Sequence[Features]],
    labels: Sequence[str],
    values: tuple[str, ...],
) -> PairDesign:
    """The (candidate, value) pairs of ``rows``: each pair has the candidate's
    features prefixed with the value, the pair's lexicon features and the value's
    own indicator; its target is whether the value is the candidate's label."""
    pairs: list[Features] = []
    targets: list[str] = []
    for row, per_value, label in zip(rows, shared, labels, strict=True):
        for v, value in enumerate(values):
            features = {f"{value}|{name}": x for name, x in row.items()}
            features.update(per_value[v])
            features[f"v={value}"] = 1.0
            pairs.append(features)
            targets.append("1" if value == label else "0")
    vocabulary = build_vocabulary(pairs)
    return PairDesign(base, values, vocabulary, vocabulary.matrix(pairs), targets)


def fit_pair(design: PairDesign, c: float, seed: int) -> PairClassifier:
    """Fits the pair model as a binary logistic regression on the design's pairs,
    then folds its weights back into per-value and shared arrays."""
    base, values, vocabulary = design.base, design.values, design.vocabulary
    binary = fit_classifier(design.matrix, design.targets, c, seed)
    weights = np.zeros((len(values), len(base.names)))
    bias = np.zeros(len(values))
    shared_names: list[str] = []
    shared_weights: list[float] = []
    value_index = {value: i for i, value in enumerate(values)}
    if binary.coef.shape[1] == len(vocabulary.names):
        coef = binary.coef[0]
        bias += float(binary.intercept[0])
        for name, weight in zip(vocabulary.names, coef, strict=True):
            head, sep, tail = name.partition("|")
            if sep and head in value_index:
                column = base.index(tail)
                if column is not None:
                    weights[value_index[head], column] = weight
            elif name.startswith("v=") and name[2:] in value_index:
                bias[value_index[name[2:]]] += weight
            elif name != "bias":
                shared_names.append(name)
                shared_weights.append(float(weight))
    return PairClassifier(values, weights, bias, tuple(shared_names), np.asarray(shared_weights))
