"""A schema's trained model: the keep classifier, one classifier per label field,
the calibrator of ``confidence`` and the keep threshold, saved as one ``.npz`` of
plain arrays (loaded with ``allow_pickle=False``) plus a JSON header."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polex.pipeline.learning.predictor import (
    KEEP,
    MODEL_FORMAT,
    ModelFileError,
    ModelInfo,
    Predictor,
    read_header,
)

if TYPE_CHECKING:
    from polex.pipeline.learning.linear import Calibrator, LinearClassifier, PairClassifier, Vocabulary

__all__ = ["KEEP", "MODEL_FORMAT", "LearnedModel", "ModelFileError", "default_model_path", "load_model"]


@dataclass(frozen=True)
class LearnedModel(ModelInfo):
    """The model training fits, saves and (``load``) reads back as numpy arrays;
    the offline backend predicts with the ``Predictor`` read by ``load_model``."""

    schema: str
    candidates: str  # "mentions" or "sentences"
    feature_version: int
    vocabulary: Vocabulary
    keep: LinearClassifier
    labels: dict[str, LinearClassifier | PairClassifier]
    calibrator: Calibrator
    threshold: float
    info: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path) -> str:
        import numpy as np

        from polex.pipeline.learning.linear import PairClassifier

        header = {
            "format": MODEL_FORMAT,
            "schema": self.schema,
            "candidates": self.candidates,
            "feature_version": self.feature_version,
            "threshold": self.threshold,
            "labels": sorted(self.labels),
            "pair_labels": sorted(n for n, c in self.labels.items() if isinstance(c, PairClassifier)),
            "info": self.info,
        }
        arrays: dict[str, Any] = {
            "header": np.array(json.dumps(header, sort_keys=True)),
            "vocabulary": np.array(self.vocabulary.names, dtype=str),
            "calibrator_x": self.calibrator.x,
            "calibrator_y": self.calibrator.y,
        }
        for name, classifier in {KEEP: self.keep, **self.labels}.items():
            arrays[f"{name}.classes"] = np.array(classifier.classes, dtype=str)
            if isinstance(classifier, PairClassifier):
                arrays[f"{name}.weights"] = classifier.weights.astype(np.float32)
                arrays[f"{name}.bias"] = classifier.bias
                arrays[f"{name}.shared_names"] = np.array(classifier.shared_names, dtype=str)
                arrays[f"{name}.shared_weights"] = classifier.shared_weights
            else:
                arrays[f"{name}.coef"] = classifier.coef.astype(np.float32)
                arrays[f"{name}.intercept"] = classifier.intercept
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp.npz")
        np.savez_compressed(temporary, **arrays)
        temporary.replace(path)
        return file_sha256(path)

    @staticmethod
    def load(path: Path) -> LearnedModel:
        import numpy as np

        from polex.pipeline.learning.linear import Calibrator, LinearClassifier, PairClassifier, Vocabulary

        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
            text = str(arrays["header"])
        except (OSError, ValueError, KeyError) as exc:
            raise ModelFileError(f"{path}: not a polex model file ({exc})") from exc
        header = read_header(path, text)

        def classifier(name: str) -> LinearClassifier:
            return LinearClassifier(
                tuple(str(c) for c in arrays[f"{name}.classes"]),
                arrays[f"{name}.coef"].astype(np.float64),
                arrays[f"{name}.intercept"].astype(np.float64),
            )

        def pair(name: str) -> PairClassifier:
            return PairClassifier(
                tuple(str(c) for c in arrays[f"{name}.classes"]),
                arrays[f"{name}.weights"].astype(np.float64),
                arrays[f"{name}.bias"].astype(np.float64),
                tuple(str(n) for n in arrays[f"{name}.shared_names"]),
                arrays[f"{name}.shared_weights"].astype(np.float64),
            )

        pairs = set(header.get("pair_labels", []))
        return LearnedModel(
            schema=header["schema"],
            candidates=header["candidates"],
            feature_version=header["feature_version"],
            # tolist: the names as Python strings in one call (not one numpy scalar each)
            vocabulary=Vocabulary(tuple(arrays["vocabulary"].tolist())),
            keep=classifier(KEEP),
            labels={name: pair(name) if name in pairs else classifier(name) for name in header["labels"]},
            calibrator=Calibrator(arrays["calibrator_x"], arrays["calibrator_y"]),
            threshold=float(header["threshold"]),
            info=header.get("info", {}),
        )


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def default_model_path(model: type) -> Path:
    """Where a schema's trained model lives: ``learned.npz`` beside the module that
    declares its record model."""
    module = sys.modules[model.__module__]
    return Path(str(module.__file__)).resolve().parent / "learned.npz"


@lru_cache(maxsize=32)
def _load_cached(path: Path, stamp: tuple[int, int]) -> Predictor:
    return Predictor.load(path)


def load_model(path: Path) -> Predictor | None:
    """The model at ``path`` as prediction reads it (no numpy: ``predictor.py``), or
    None when there is none (read once per change)."""
    if not path.is_file():
        return None
    stat = path.stat()
    return _load_cached(path, (stat.st_mtime_ns, stat.st_size))
