"""Metrics against answers worked out by hand (see the comments next to each expected number)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inference import metrics

# Three classes, six cases. argmax predictions: 0, 1, 1, 2, 2, 2 -> confusion rows [1 1 0] [0 1 1] [0 0 2].
Y = np.array([0, 0, 1, 1, 2, 2])
P = np.array(
    [
        [0.8, 0.1, 0.1],
        [0.4, 0.5, 0.1],
        [0.2, 0.7, 0.1],
        [0.1, 0.3, 0.6],
        [0.1, 0.1, 0.8],
        [0.3, 0.3, 0.4],
    ]
)


def test_classification_metrics_match_hand_computation():
    m = metrics.classification_metrics(Y, P, ("a", "b", "c"))
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 1, 1], [0, 0, 2]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    a, b, c = (m["per_class"][k] for k in "abc")
    # class a: TP 1, FN 1, FP 0, TN 4
    assert (a["sensitivity"], a["specificity"], a["precision"], a["f1"]) == pytest.approx((0.5, 1.0, 1.0, 2 / 3))
    # class b: TP 1, FN 1, FP 1, TN 3
    assert (b["sensitivity"], b["specificity"], b["precision"], b["f1"]) == pytest.approx((0.5, 0.75, 0.5, 0.5))
    # class c: TP 2, FN 0, FP 1, TN 3
    assert (c["sensitivity"], c["specificity"], c["precision"], c["f1"]) == pytest.approx((1.0, 0.75, 2 / 3, 0.8))
    # AUC b: positive .7 beats all four negatives; .3 beats .1, .1, ties .3 (half), loses to .5 -> 6.5 / 8
    assert (a["auc"], b["auc"], c["auc"]) == pytest.approx((1.0, 6.5 / 8, 7 / 8))
    assert m["macro_sensitivity"] == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    assert m["macro_auc"] == pytest.approx((1.0 + 6.5 / 8 + 7 / 8) / 3)
    assert sum(b["count"] for b in m["reliability"]) == 6 and len(m["reliability"]) == 15


def test_proportions_carry_their_wilson_interval():
    # published values: 4/6 -> [0.300, 0.903]; 30/30 -> [0.886, 1]; 0/10 -> [0, 0.278]
    assert metrics.wilson_interval(4, 6) == pytest.approx((0.3000, 0.9032), abs=5e-4)
    assert metrics.wilson_interval(30, 30) == pytest.approx((0.8865, 1.0), abs=5e-4)
    assert metrics.wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=5e-4)
    assert all(np.isnan(metrics.wilson_interval(0, 0)))
    m = metrics.classification_metrics(Y, P, ("a", "b", "c"))
    assert m["accuracy_ci95"] == pytest.approx(metrics.wilson_interval(4, 6))
    c = m["per_class"]["c"]  # TP 2 of 2, TN 3 of 4
    assert c["sensitivity_ci95"] == pytest.approx(metrics.wilson_interval(2, 2))
    assert c["specificity_ci95"] == pytest.approx(metrics.wilson_interval(3, 4))


def test_ece_and_reliability_bins():
    # confidences .9 x4 (3 right) and .62 x2 (1 right): ECE = 4/6 * |.75 - .9| + 2/6 * |.5 - .62| = .14
    probs = np.array([[0.9, 0.1]] * 4 + [[0.62, 0.38]] * 2)
    y = np.array([0, 0, 0, 1, 0, 1])
    assert metrics.expected_calibration_error(probs, y) == pytest.approx(0.14)
    bins = metrics.reliability_bins(probs, y)
    filled = [b for b in bins if b["count"]]
    assert [(b["count"], b["accuracy"]) for b in filled] == [(2, 0.5), (4, 0.75)]
    assert filled[0]["lower"] < 0.62 <= filled[0]["upper"]


def test_undefined_metrics_are_nan_not_zero():
    m = metrics.classification_metrics(np.array([0, 0]), np.array([[0.9, 0.1], [0.6, 0.4]]), ("x", "y"))
    assert math.isnan(m["per_class"]["y"]["sensitivity"])
    assert math.isnan(m["per_class"]["x"]["auc"])
    assert m["per_class"]["x"]["sensitivity"] == 1.0
    assert math.isnan(m["macro_auc"])


def test_classification_metrics_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="probs must be"):
        metrics.classification_metrics(Y, P[:, :2], ("a", "b", "c"))
    with pytest.raises(ValueError, match="class indices"):
        metrics.classification_metrics(np.array([0, 3]), P[:2], ("a", "b", "c"))


def test_binary_metrics_at_threshold():
    # predictions at .5: 1 0 1 0 1 -> TP 2, FN 1, FP 1, TN 1
    m = metrics.binary_metrics(np.array([1, 1, 0, 0, 1]), np.array([0.9, 0.4, 0.6, 0.2, 0.7]), 0.5)
    assert (m["tp"], m["fn"], m["fp"], m["tn"]) == (2, 1, 1, 1)
    assert (m["sensitivity"], m["specificity"], m["precision"], m["f1"], m["accuracy"]) == pytest.approx(
        (2 / 3, 0.5, 2 / 3, 2 / 3, 0.6)
    )


def test_roc_auc_with_ties_and_curve():
    assert metrics.roc_auc(np.array([0, 1]), np.array([0.5, 0.5])) == 0.5
    fpr, tpr, thr = metrics.roc_curve(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    assert fpr.tolist() == [0, 0, 0.5, 0.5, 1] and tpr.tolist() == [0, 0.5, 0.5, 1, 1]
    assert thr[1:].tolist() == [0.8, 0.4, 0.35, 0.1]


def test_choose_threshold_rules():
    y, p = np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    # Youden J is .5 at >= .8 and at >= .35; the higher cut wins, halfway to the next score .4
    assert metrics.choose_threshold(y, p, "youden") == pytest.approx(0.6)
    # F1: .667 at .8, .5 at .4, .8 at .35, .667 at .1 -> cut halfway between .35 and .1
    assert metrics.choose_threshold(y, p, "f1") == pytest.approx(0.225)
    with pytest.raises(ValueError):
        metrics.choose_threshold(np.array([1, 1]), np.array([0.2, 0.3]))
    with pytest.raises(ValueError):
        metrics.choose_threshold(y, p, "accuracy")


def test_fit_temperature_known_optimum():
    # three cases with logits (2, 0), labels 0, 0, 1: NLL is minimal where sigmoid(2/T) = 2/3, T = 2 / ln 2
    logits = np.array([[2.0, 0.0]] * 3)
    assert metrics.fit_temperature(logits, np.array([0, 0, 1])) == pytest.approx(2 / math.log(2), rel=1e-3)


def test_fit_temperature_recovers_overconfidence():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 3)) * 2
    y = np.array([rng.choice(3, p=p) for p in metrics.softmax(true_logits)])
    t = metrics.fit_temperature(true_logits * 3.0, y)
    assert t == pytest.approx(3.0, rel=0.15)
    assert metrics.negative_log_likelihood(true_logits * 3, y, t) < metrics.negative_log_likelihood(true_logits * 3, y)


def test_softmax_temperature():
    p = metrics.softmax(np.array([[1000.0, 998.0]]), temperature=2.0)
    assert p[0] == pytest.approx([1 / (1 + math.exp(-1)), 1 - 1 / (1 + math.exp(-1))])


def test_dice_per_label():
    scores = metrics.dice(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), labels=(1, 2, 3))
    assert scores[1] == pytest.approx(2 / 3) and scores[2] == pytest.approx(2 / 3)
    assert math.isnan(scores[3])
    with pytest.raises(ValueError):
        metrics.dice(np.zeros(3), np.zeros(4), labels=(1,))
