"""Study verdicts from per-slice probabilities, and the consensus vote, against hand-worked answers."""

from __future__ import annotations

import numpy as np
import pytest

from inference.manifest import ModelManifest, Threshold
from inference.preprocessing import InputSpec
from inference.verdict import consensus, study_verdict


def manifest(classes=("Normal", "COVID"), threshold: float | None = 0.5) -> ModelManifest:
    return ModelManifest(
        id="m",
        version="1",
        task="classification",
        modality="CT",
        method="baseline",
        preprocessing=InputSpec(size=32),
        inputs={"image": "image"},
        outputs={"logits": "logits", "cam": "cam"},
        classes=classes,
        threshold=None if threshold is None else Threshold(threshold, "COVID", "validation", "youden"),
    )


def test_lung_area_weighted_mean_against_threshold():
    probs = np.array([[np.nan, np.nan], [0.8, 0.2], [0.2, 0.8], [0.4, 0.6]])
    areas = np.array([0.0, 100.0, 300.0, 100.0])
    # COVID: (0.2*100 + 0.8*300 + 0.6*100) / 500 = 0.64 >= 0.5
    v = study_verdict(probs, areas, manifest())
    assert v.label == "COVID" and v.positive is True
    assert v.probability == pytest.approx(0.64)
    assert v.probabilities["Normal"] == pytest.approx(0.36)
    assert (v.slices_used, v.positive_slices, v.peak_slice) == (3, 2, 2)
    assert v.peak_probability == pytest.approx(0.8)
    # the same slices under a stricter threshold: negative, reported with the other class's probability
    v = study_verdict(probs, areas, manifest(threshold=0.7))
    assert v.label == "Normal" and v.positive is False and v.probability == pytest.approx(0.36)


def test_three_classes_without_threshold_take_the_most_probable():
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]])
    v = study_verdict(probs, np.array([1.0, 1.0]), manifest(classes=("a", "b", "c"), threshold=None))
    assert v.label == "b" and v.probability == pytest.approx(0.45) and v.positive is None


def test_no_lung_no_verdict():
    v = study_verdict(np.full((3, 2), np.nan), np.zeros(3), manifest())
    assert v.label is None and v.probability is None and "no slice" in v.reason


def test_consensus_majority_split_and_abstention():
    pos = study_verdict(np.array([[0.1, 0.9]]), np.ones(1), manifest())
    neg = study_verdict(np.array([[0.9, 0.1]]), np.ones(1), manifest())
    no_threshold = study_verdict(np.array([[0.9, 0.1]]), np.ones(1), manifest(threshold=None))
    c = consensus({"a": pos, "b": pos, "c": neg, "d": no_threshold})
    assert (c.label, c.positive_votes, c.voters, c.abstained) == ("COVID", 2, 3, ("d",))
    assert consensus({"a": pos, "b": neg}).label == "split"
    assert consensus({"a": neg, "b": neg, "c": pos}).label == "negative"
    assert consensus({"d": no_threshold}).label is None


def test_other_classes_are_held_to_their_own_thresholds():
    from inference.verdict import decide

    # COVID (index 0) under its threshold; Viral (2) is over its own low threshold though Normal is likelier
    p = np.array([0.2, 0.5, 0.3])
    assert decide(p, 0, 0.4, {1: 0.7, 2: 0.25}) == 2
    assert decide(p, 0, 0.4, {}) == 1  # no class thresholds: the most probable other class
    assert decide(p, 0, 0.15, {1: 0.7, 2: 0.25}) == 0  # the positive class first
    assert decide(p, None, None, {}) == 1
