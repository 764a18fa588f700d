"""A saved model as the offline backend predicts with it: read from its ``.npz``
without numpy (``npz.py``), scored in plain Python for the first ``DENSE_AFTER``
articles, with numpy after that.

A run of a few articles thus never imports numpy (a tenth of a second of start-up),
and a long run scores its articles' sparse rows with numpy, about ten times cheaper
than in Python. Both give the same floats: a row's score adds its features' weights
in the features' order (``numpy.bincount`` adds in order too) and then the bias; the
softmax and the sigmoid are computed in Python from those scores either way
(``math.exp``, ``math.fsum``)."""

from __future__ import annotations

import json
import math
from array import array
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from operator import add, mul
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polex.pipeline.errors import PolexError
from polex.pipeline.learning.npz import NpzError, read_npz

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from polex.pipeline.learning.linear import Encoded

MODEL_FORMAT = 2
KEEP = "_keep"
DENSE_AFTER = 8  # articles a model scores in plain Python before it imports numpy

Features = dict[str, float]
Matrix = list[list[float]]  # (rows, values)


class ModelFileError(PolexError):
    """A trained model file that cannot be read; the message names it."""


class ModelInfo:
    """What training recorded in a model's ``info`` (for the saved and the fitted model)."""

    info: dict[str, Any]

    @property
    def more_labels_at(self) -> float | None:
        """The probability at which another value of a label field makes a further
        record of the same sentence (set by training when the gold has sentences
        with several records), or None."""
        value = self.info.get("more_labels_at")
        return float(value) if value is not None else None

    def label_set_at(self, name: str) -> float | None:
        """The noisy-or threshold at which an article holds a value of the label
        field ``name`` (``pipeline/learning/label_sets.py``), set by training when the
        schema scores that field as a set per article and the threshold beat the
        records' own sets out of fold; None otherwise."""
        found = self.info.get("label_sets", {}).get(name, {}).get("at")
        return float(found) if found is not None else None


@dataclass(frozen=True)
class Rows:
    """Rows of features encoded, for plain Python (``plain``: each row's known
    columns and their values, in the row's order) or for numpy (``dense``: the same
    as coordinates of a sparse matrix)."""

    n: int
    plain: list[tuple[list[int], list[float]]] | None = None
    dense: Encoded | None = None

    def __len__(self) -> int:
        return self.n


class FeatureIndex:
    """The vocabulary: a feature's name to its column. Counts the articles it
    encodes, to hand the later ones to numpy (``DENSE_AFTER``)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self._index = {name: i for i, name in enumerate(names)}
        self._encoded = 0

    def encode(self, rows: Sequence[Features]) -> Rows:
        self._encoded += 1  # a race of two threads only moves the switch by an article
        return self.dense(rows) if self._encoded > DENSE_AFTER else self.plain(rows)

    def plain(self, rows: Sequence[Features]) -> Rows:
        index = self._index
        encoded = []
        for features in rows:
            known = [name for name in features if name in index]
            encoded.append(([index[name] for name in known], [features[name] for name in known]))
        return Rows(len(rows), plain=encoded)

    def dense(self, rows: Sequence[Features]) -> Rows:
        """``rows`` for numpy (which this imports)."""
        from polex.pipeline.learning.linear import encode

        return Rows(len(rows), dense=encode(self._index, rows))


class Weights:
    """(classes, features) weights, row-major in one ``array.array`` (float32 as
    saved, each read as the float64 it widens to), as numpy only when needed."""

    def __init__(self, flat: array[float], shape: tuple[int, ...]) -> None:
        if len(shape) != 2 or shape[0] * shape[1] != len(flat):
            raise NpzError(f"weights of shape {shape} with {len(flat)} values")
        self._flat = flat
        self.classes, self.features = shape
        self._rows = [flat[k * self.features : (k + 1) * self.features] for k in range(self.classes)]
        self._matrix: NDArray[np.float64] | None = None

    def scores(self, rows: Rows, bias: tuple[float, ...]) -> Matrix:
        """Per row and class, the sum of the row's values times their weights, in the
        row's order from 0.0, plus the class's bias."""
        if rows.dense is not None:
            matrix, biases = self._numpy(bias)
            dot: Matrix = (rows.dense.dot(matrix) + biases).tolist()
            return dot
        assert rows.plain is not None
        weights = self._rows
        return [
            [
                reduce(add, map(mul, map(w.__getitem__, columns), values), 0.0) + b
                for w, b in zip(weights, bias, strict=True)
            ]
            for columns, values in rows.plain
        ]

    def _numpy(self, bias: tuple[float, ...]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        import numpy as np

        if self._matrix is None:
            dtype = np.float32 if self._flat.typecode == "f" else np.float64
            flat = np.frombuffer(self._flat, dtype=dtype).astype(np.float64)  # widened exactly
            self._matrix = flat.reshape(self.classes, self.features)
        return self._matrix, np.array(bias, dtype=np.float64)


def _softmax(scores: list[float]) -> list[float]:
    top = max(scores)
    exp = [math.exp(s - top) for s in scores]
    total = math.fsum(exp)
    return [x / total for x in exp]


def _sigmoid(score: float) -> list[float]:
    try:
        positive = 1.0 / (1.0 + math.exp(-score))
    except OverflowError:  # exp(-score) is infinite
        positive = 0.0
    return [1.0 - positive, positive]


@dataclass(frozen=True)
class LinearScorer:
    """Multinomial (or binary, one row of weights) logistic regression."""

    classes: tuple[str, ...]
    coef: Weights
    intercept: tuple[float, ...]

    def probabilities(self, rows: Rows) -> Matrix:
        if len(self.classes) == 1:
            return [[1.0] for _ in range(len(rows))]
        scores = self.coef.scores(rows, self.intercept)
        if self.coef.classes == 1:
            return [_sigmoid(row[0]) for row in scores]
        return [_softmax(row) for row in scores]


@dataclass(frozen=True)
class PairScorer:
    """The conditional logit over a lexicon field's values (``linear.PairClassifier``):
    each value's own weights on the row's features, its bias, and the shared weights
    on the pair's lexicon features; the softmax of the scores."""

    classes: tuple[str, ...]
    weights: Weights
    bias: tuple[float, ...]
    shared_weights: dict[str, float]

    def probabilities(self, rows: Rows, shared: Sequence[Sequence[Features]]) -> Matrix:
        scores = self.weights.scores(rows, self.bias)
        weights = self.shared_weights
        for row, per_value in zip(scores, shared, strict=True):
            for v, features in enumerate(per_value):
                total = 0.0
                for name, x in features.items():
                    if name in weights:
                        total += weights[name] * x
                row[v] += total
        return [_softmax(row) for row in scores]


@dataclass(frozen=True)
class Curve:
    """The calibrator: linear interpolation between breakpoints, as ``numpy.interp``
    computes it (the ends held flat); no breakpoints leave the score as it is."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __call__(self, raw: float) -> float:
        x, y = self.x, self.y
        if not x:
            return raw
        if raw < x[0]:
            return y[0]
        if raw >= x[-1]:
            return y[-1]
        j = bisect_right(x, raw) - 1
        if x[j] == raw:
            return y[j]
        slope = (y[j + 1] - y[j]) / (x[j + 1] - x[j])
        result = slope * (raw - x[j]) + y[j]
        if math.isnan(result):
            result = slope * (raw - x[j + 1]) + y[j + 1]
            if math.isnan(result) and y[j] == y[j + 1]:
                result = y[j]
        return result


@dataclass(frozen=True)
class Predictor(ModelInfo):
    """A schema's saved model, as prediction reads it (``LearnedModel`` is the one
    training fits and saves)."""

    schema: str
    candidates: str  # "mentions" or "sentences"
    feature_version: int
    vocabulary: FeatureIndex
    keep: LinearScorer
    labels: dict[str, LinearScorer | PairScorer]
    calibrator: Curve
    threshold: float
    info: dict[str, Any] = field(default_factory=dict)

    def label_probabilities(
        self, rows: Rows, shared: Mapping[str, Sequence[Sequence[Features]]]
    ) -> dict[str, Matrix]:
        """Per label field, (rows, values) probabilities."""
        return {
            name: scorer.probabilities(rows, shared[name])
            if isinstance(scorer, PairScorer)
            else scorer.probabilities(rows)
            for name, scorer in self.labels.items()
        }

    @staticmethod
    def load(path: Path) -> Predictor:
        try:
            arrays = read_npz(path)
            header = read_header(path, arrays["header"].strings()[0])
            pairs = set(header.get("pair_labels", []))

            def linear(name: str) -> LinearScorer:
                coef = arrays[f"{name}.coef"]
                return LinearScorer(
                    arrays[f"{name}.classes"].strings(),
                    Weights(coef.floats(), coef.shape),
                    tuple(arrays[f"{name}.intercept"].floats()),
                )

            def pair(name: str) -> PairScorer:
                weights = arrays[f"{name}.weights"]
                return PairScorer(
                    arrays[f"{name}.classes"].strings(),
                    Weights(weights.floats(), weights.shape),
                    tuple(arrays[f"{name}.bias"].floats()),
                    # a name listed twice keeps its last weight, as PairClassifier's index does
                    dict(
                        zip(
                            arrays[f"{name}.shared_names"].strings(),
                            arrays[f"{name}.shared_weights"].floats(),
                            strict=True,
                        )
                    ),
                )

            return Predictor(
                schema=header["schema"],
                candidates=header["candidates"],
                feature_version=header["feature_version"],
                vocabulary=FeatureIndex(arrays["vocabulary"].strings()),
                keep=linear(KEEP),
                labels={name: pair(name) if name in pairs else linear(name) for name in header["labels"]},
                calibrator=Curve(
                    tuple(arrays["calibrator_x"].floats()), tuple(arrays["calibrator_y"].floats())
                ),
                threshold=float(header["threshold"]),
                info=header.get("info", {}),
            )
        except (NpzError, KeyError, IndexError) as exc:
            raise ModelFileError(f"{path}: not a polex model file ({exc})") from exc


def read_header(path: Path, text: str) -> dict[str, Any]:
    """A model file's JSON header, checked for the format this polex reads."""
    try:
        header: dict[str, Any] = json.loads(text)
    except ValueError as exc:
        raise ModelFileError(f"{path}: not a polex model file ({exc})") from exc
    if header.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{path}: model format {header.get('format')}, this polex reads {MODEL_FORMAT}")
    return header
