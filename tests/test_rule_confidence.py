"""A model that keeps its schema's rules (engine "rules") scores each rules' record
by the keep probability times the classifiers' probability of the rules' key
labels, in training (out of fold) and in prediction alike."""

from __future__ import annotations

import numpy as np

from polex.pipeline.learning.extract import rule_confidence
from polex.pipeline.learning.linear import LinearClassifier

ACTION = LinearClassifier(("allocated", "paid"), np.zeros((1, 1)), np.zeros(1))
PROBABILITIES = {"action": np.array([[0.2, 0.8]])}


def test_a_rules_label_the_classifiers_doubt_lowers_the_confidence() -> None:
    doubted = rule_confidence({"action": ACTION}, PROBABILITIES, 0, {"action": "allocated"}, {"action"}, 0.5)
    trusted = rule_confidence({"action": ACTION}, PROBABILITIES, 0, {"action": "paid"}, {"action"}, 0.5)
    assert doubted == 0.5 * 0.2
    assert trusted == 0.5 * 0.8


def test_a_rules_label_no_classifier_has_seen_gets_no_confidence() -> None:
    assert rule_confidence({"action": ACTION}, PROBABILITIES, 0, {"action": "other"}, {"action"}, 0.9) == 0.0


def test_labels_outside_the_key_fields_do_not_change_the_confidence() -> None:
    assert rule_confidence({"action": ACTION}, PROBABILITIES, 0, {"action": "allocated"}, set(), 0.7) == 0.7
