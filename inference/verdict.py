"""From per-slice probabilities to one study verdict per model, and a consensus across models.

Study verdict (one model): the study-level class distribution is the **lung-area-weighted mean** of
the per-slice distributions over the slices that contain lung. Why this rule:

- It stays on the scale the operating threshold was chosen on (slice-level validation): a study whose
  every slice reads p reads p, so the manifest threshold applies unchanged. Top-k or max rules drift
  upwards with the number of slices and would turn slice-level noise into positive studies.
- Slices with much lung carry more evidence than apex or base slices showing a sliver of lung, where
  slice models (trained on mid-lung figures) are least reliable.
- Its weakness is dilution of focal disease; the verdict therefore also reports how many slices pass
  the threshold on their own and the peak slice, and the viewer shows the per-slice curve.

With an operating threshold (positive class + value in the manifest) the verdict is the positive
class when its study probability reaches the threshold, else (``decide``) another class over its own
validation-fitted threshold (``class_thresholds``, models of more than two classes), else the most
probable other class. Without one it is the most probable class. ``probability`` is always the study probability of the label.
An X-ray is a study of one slice of weight 1.

A series of several slices is judged against the manifest's ``study_threshold`` when it has one:
chosen on whole groups of validation slices (a patient's run of scanner slices, weighted by lung
area as here), not on single slices. A COVID patient's series averages diseased and clear slices,
a non-COVID one a few odd apex or base slices among clear ones: the cut that separates those
averages is not the cut that separates single slices.

Consensus (M3's majority voting, across models): each model with an operating threshold votes
positive or negative; a strict majority decides, an even split says so. Models without a threshold
do not vote (their classes need not share a meaning across models).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from inference.manifest import ModelManifest

VERDICT_RULE = "lung-area-weighted mean of per-slice probabilities over slices with lung, manifest threshold on the positive class"
CONSENSUS_RULE = "strict majority of the models' positive/negative verdicts (models without an operating threshold abstain)"


@dataclass(frozen=True)
class Verdict:
    """One model's study-level opinion. ``label`` is None when the model had nothing to look at (``reason``)."""

    label: str | None
    probability: float | None
    probabilities: dict[str, float]
    positive_class: str | None
    threshold: float | None
    positive: bool | None
    slices_used: int
    positive_slices: int
    peak_slice: int | None
    peak_probability: float | None
    rule: str = VERDICT_RULE
    reason: str = ""
    # the threshold each single slice is held to (``threshold`` is the study's, when they differ)
    slice_threshold: float | None = None

    @property
    def per_slice_threshold(self) -> float | None:
        """What one slice's probability is compared with (curves, disagreement, positive slices)."""
        return self.slice_threshold if self.slice_threshold is not None else self.threshold

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Verdict":
        return cls(**data)


@dataclass(frozen=True)
class Consensus:
    label: str | None
    positive_votes: int
    voters: int
    votes: dict[str, bool]
    abstained: tuple[str, ...]
    rule: str = CONSENSUS_RULE

    def to_json(self) -> dict:
        data = asdict(self)
        data["abstained"] = list(self.abstained)
        return data


def decide(p: np.ndarray, positive_index: int | None, threshold: float | None, class_thresholds: dict[int, float]) -> int:
    """The class a distribution ``p`` reads as: the positive class at or over its threshold; else
    the other classes over their own (one-vs-rest, validation-fitted) thresholds, the one furthest
    over; else the most probable other class. Without a positive threshold: the most probable class."""
    if positive_index is None or threshold is None:
        return int(np.argmax(p))
    if p[positive_index] >= threshold:
        return positive_index
    others = [i for i in range(len(p)) if i != positive_index]
    over = [i for i in others if i in class_thresholds and p[i] >= class_thresholds[i]]
    if over:
        return max(over, key=lambda i: p[i] / max(class_thresholds[i], 1e-9))
    return max(others, key=lambda i: p[i])


def study_verdict(probabilities: np.ndarray, weights: np.ndarray, manifest: ModelManifest) -> Verdict:
    """Verdict from (S, K) slice probabilities (NaN rows = not analysed) and (S,) lung areas."""
    classes = list(manifest.classes)
    positive_index = manifest.positive_index
    threshold = manifest.threshold.value if manifest.threshold is not None and positive_index is not None else None
    positive_class = classes[positive_index] if positive_index is not None else None
    used = ~np.isnan(probabilities).any(axis=1)
    weights = np.where(used, np.asarray(weights, dtype=np.float64), 0.0)
    if not used.any() or weights.sum() <= 0:
        return Verdict(None, None, {}, positive_class, threshold, None, 0, 0, None, None, reason="no slice with lung to analyse")
    study = (probabilities[used] * weights[used, None]).sum(axis=0) / weights[used].sum()
    if threshold is not None and manifest.study_threshold is not None and used.sum() > 1:
        threshold = manifest.study_threshold
    distribution = {c: float(p) for c, p in zip(classes, study)}
    if positive_index is None:
        label_index = int(np.argmax(study))
        positive = None
        positive_slices, peak = 0, None
    else:
        positive = bool(study[positive_index] >= threshold)
        class_thresholds = {classes.index(c): t for c, t in manifest.class_thresholds.items() if c in classes}
        label_index = decide(study, positive_index, threshold, class_thresholds)
        slice_scores = np.where(used, probabilities[:, positive_index], -np.inf)
        positive_slices = int(np.sum(slice_scores >= manifest.threshold.value))  # each slice: the slice threshold
        peak = int(np.argmax(slice_scores))
    return Verdict(
        label=classes[label_index],
        probability=float(study[label_index]),
        probabilities=distribution,
        positive_class=positive_class,
        threshold=threshold,
        positive=positive,
        slices_used=int(used.sum()),
        positive_slices=positive_slices,
        peak_slice=peak,
        peak_probability=None if peak is None else float(probabilities[peak, positive_index]),
        slice_threshold=None if positive_index is None else manifest.threshold.value,
    )


def consensus(verdicts: dict[str, Verdict]) -> Consensus:
    """Majority vote over the models' positive/negative verdicts."""
    votes = {model: v.positive for model, v in verdicts.items() if v.positive is not None}
    abstained = tuple(model for model in verdicts if model not in votes)
    positive_votes = sum(votes.values())
    names = {verdicts[m].positive_class for m, vote in votes.items() if vote}
    if not votes:
        label = None
    elif 2 * positive_votes > len(votes):
        label = names.pop() if len(names) == 1 else "positive"
    elif 2 * positive_votes < len(votes):
        label = "negative"
    else:
        label = "split"
    return Consensus(label, positive_votes, len(votes), votes, abstained)

