"""The saved model as the offline backend reads and scores it without numpy
(pipeline/learning/npz.py, predictor.py): the arrays numpy would read, the same
floats whether a model scores in plain Python or with numpy, and the predictions of
the arrays training fitted."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from polex.pipeline.inputs import read_inputs
from polex.pipeline.learning.extract import featurize, find_candidates, pair_inputs, predict, rule_records
from polex.pipeline.learning.model import LearnedModel, ModelFileError, load_model
from polex.pipeline.learning.npz import read_npz
from polex.pipeline.learning.predictor import Curve, Predictor
from polex.pipeline.records import ArticleContext
from polex.pipeline.registry import select
from polex.pipeline.spec import SchemaSpec
from tests.conftest import SEEDS

SPECS = select([], [])


def _articles() -> list[ArticleContext]:
    articles, _ = read_inputs([SEEDS])
    return [ArticleContext(article) for article in articles]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_array_of_a_shipped_model_reads_as_numpy_reads_it(spec: SchemaSpec) -> None:
    path = spec.learned_model_path
    mine = read_npz(path)
    with np.load(path, allow_pickle=False) as theirs:
        assert sorted(mine) == sorted(theirs.files)
        for name in theirs.files:
            expected = theirs[name]
            assert mine[name].shape == expected.shape, name
            if expected.dtype.kind == "U":
                assert mine[name].strings() == tuple(expected.ravel().tolist()), name
            else:
                assert mine[name].floats().tolist() == expected.astype(np.float64).ravel().tolist(), name


def test_a_column_major_matrix_reads_in_row_order(tmp_path: Path) -> None:
    matrix = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))  # as scikit-learn's coef_
    np.savez_compressed(tmp_path / "m.npz", coef=matrix, names=np.array(["a", "bc"]))
    read = read_npz(tmp_path / "m.npz")
    assert read["coef"].shape == (2, 3)
    assert read["coef"].floats().tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert read["names"].strings() == ("a", "bc")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_plain_python_and_numpy_score_every_seed_candidate_to_the_same_float(spec: SchemaSpec) -> None:
    model = Predictor.load(spec.learned_model_path)
    compared = 0
    for ctx in _articles():
        candidates = find_candidates(spec, ctx)
        rules = rule_records(spec, ctx, candidates)
        features = [featurize(spec, ctx, c, r) for c, r in zip(candidates, rules, strict=True)]
        rows, dense = model.vocabulary.encode(features), model.vocabulary.dense(features)
        assert rows.dense is None and dense.dense is not None  # a model's first articles: plain Python
        shared = pair_inputs(spec, ctx, candidates, rules)
        assert model.keep.probabilities(rows) == model.keep.probabilities(dense)
        assert model.label_probabilities(rows, shared) == model.label_probabilities(dense, shared)
        compared += len(candidates)
    assert compared > 20


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_the_saved_model_predicts_the_records_of_the_arrays_it_was_saved_from(spec: SchemaSpec) -> None:
    arrays, saved = LearnedModel.load(spec.learned_model_path), Predictor.load(spec.learned_model_path)
    found = 0
    for ctx in _articles():
        expected, got = predict(spec, arrays, ctx), predict(spec, saved, ctx)
        assert [p.record for p in got] == [p.record for p in expected]
        assert [round(p.confidence, 9) for p in got] == [round(p.confidence, 9) for p in expected]
        found += len(got)
    assert found


def test_the_calibration_curve_interpolates_to_the_float_numpy_gives() -> None:
    [spec] = select(["QuantitativeTarget"], [])
    curve = Predictor.load(spec.learned_model_path).calibrator
    assert curve.x
    draw = random.Random(7)
    points = [draw.random() for _ in range(2000)] + [-0.5, 0.0, 1.0, 1.5, *curve.x[:5]]
    expected = [float(np.interp(p, curve.x, curve.y)) for p in points]
    assert [curve(p) for p in points] == expected
    assert Curve((), ())(0.3) == 0.3


def test_a_damaged_model_file_is_refused_naming_it(tmp_path: Path) -> None:
    damaged = tmp_path / "learned.npz"
    damaged.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelFileError, match=str(damaged)):
        load_model(damaged)
