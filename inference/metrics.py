"""Model metrics in plain numpy, shared by training's evaluation and ``lunglens evaluate``.

One implementation, so a number in a model card and the number a site measures on its own data
mean the same thing. Conventions:

- ``y_true`` holds class indices (N,), ``probs`` class probabilities (N, K) whose rows sum to 1.
- A metric that is undefined on the data (e.g. sensitivity of a class with no examples) is NaN,
  never a made-up 0 or 1; macro averages skip NaN.
- Per-class metrics are one-vs-rest, read off the confusion matrix (rows = truth, columns = prediction).
- Proportions (accuracy, sensitivity, specificity) carry a 95% Wilson interval (``*_ci95``): a test
  split of 84 CT slices gives +-9 points, and a figure without its interval invites over-reading.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ECE_BINS = 15
THRESHOLD_RULES = ("youden", "f1")


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (float64 inside, stable for large logits)."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _safe_ratio(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(K, K) counts, rows = true class, columns = predicted class."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values share the mean of their ranks (what Mann-Whitney needs)."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_values)) + 1]
    ends = np.r_[starts[1:], len(values)]
    mean_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def roc_auc(y_binary: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic; ties count one half. NaN with one class."""
    y = np.asarray(y_binary).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    rank_sum = _average_ranks(scores)[y].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_curve(y_binary: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) for "positive when score >= threshold", thresholds descending.

    The first point is (0, 0) at threshold +inf, the last (1, 1) at the lowest score.
    """
    y = np.asarray(y_binary).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="mergesort")
    s, yy = scores[order], y[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(yy)[last_of_each]
    fp = np.cumsum(~yy)[last_of_each]
    tpr = np.r_[0.0, _safe_ratio(tp, y.sum())]
    fpr = np.r_[0.0, _safe_ratio(fp, (~y).sum())]
    return fpr, tpr, np.r_[np.inf, s[last_of_each]]


def wilson_interval(successes: float, total: float, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of the proportion successes / total; (NaN, NaN) when total is 0.

    Unlike the normal approximation it stays inside [0, 1] and is sound for small counts and for
    proportions near 0 or 1 (a sensitivity of 30/30 still gets an interval below 1).
    """
    if total <= 0:
        return float("nan"), float("nan")
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z / (1 + z * z / total) * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def auc_interval(y_binary: np.ndarray, scores: np.ndarray, z: float = 1.959964) -> tuple[float, float]:
    """95% interval of the ROC AUC by Hanley and McNeil's (1982) standard error: closed form, so a
    card can carry it for every class and source; (NaN, NaN) without both classes."""
    y = np.asarray(y_binary).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    auc = roc_auc(y, scores)
    if not n_pos or not n_neg or not np.isfinite(auc):
        return float("nan"), float("nan")
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    se = np.sqrt((auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg))
    return float(max(0.0, auc - z * se)), float(min(1.0, auc + z * se))


def binary_metrics(y_binary: np.ndarray, p_positive: np.ndarray, threshold: float) -> dict[str, float]:
    """Confusion counts and the usual rates for "positive when p >= threshold"."""
    y = np.asarray(y_binary).astype(bool)
    pred = np.asarray(p_positive, dtype=np.float64) >= threshold
    tp, fp = int(np.sum(pred & y)), int(np.sum(pred & ~y))
    fn, tn = int(np.sum(~pred & y)), int(np.sum(~pred & ~y))
    sensitivity = float(_safe_ratio(tp, tp + fn))
    precision = float(_safe_ratio(tp, tp + fp))
    return {
        "threshold": float(threshold),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "accuracy": float(_safe_ratio(tp + tn, len(y))),
        "sensitivity": sensitivity,
        "sensitivity_ci95": wilson_interval(tp, tp + fn),
        "specificity": float(_safe_ratio(tn, tn + fp)),
        "specificity_ci95": wilson_interval(tn, tn + fp),
        "precision": precision,
        "f1": float(_safe_ratio(2 * tp, 2 * tp + fp + fn)),
    }


def choose_threshold(y_binary: np.ndarray, p_positive: np.ndarray, rule: str = "youden") -> float:
    """The operating threshold on the positive-class probability, chosen on validation data.

    rule "youden" maximises sensitivity + specificity - 1, "f1" maximises F1. Of the equally good
    cut points the highest is taken; the threshold returned lies halfway between the lowest score
    called positive and the next lower score, so new data near the cut is not decided by a tie.
    """
    if rule not in THRESHOLD_RULES:
        raise ValueError(f"unknown threshold rule {rule!r}; choose one of {THRESHOLD_RULES}")
    y = np.asarray(y_binary).astype(bool)
    scores = np.asarray(p_positive, dtype=np.float64)
    if y.all() or not y.any():
        raise ValueError("choosing a threshold needs both positive and negative examples")
    fpr, tpr, thresholds = roc_curve(y, scores)
    fpr, tpr, thresholds = fpr[1:], tpr[1:], thresholds[1:]
    if rule == "youden":
        objective = tpr - fpr
    else:
        tp = tpr * y.sum()
        fp = fpr * (~y).sum()
        objective = _safe_ratio(2 * tp, tp + fp + y.sum())
    best = int(np.nanargmax(objective))
    if best + 1 < len(thresholds):
        return float((thresholds[best] + thresholds[best + 1]) / 2.0)
    return float(thresholds[best])


def reliability_bins(probs: np.ndarray, y_true: np.ndarray, n_bins: int = ECE_BINS) -> list[dict[str, float]]:
    """Top-label reliability diagram: equal-width confidence bins, each with count, accuracy, confidence.

    Bin i holds confidences in (i/n, (i+1)/n]; the first also holds 0. Empty bins have NaN rates.
    """
    probs = np.asarray(probs, dtype=np.float64)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(y_true)
    index = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    bins = []
    for i in range(n_bins):
        inside = index == i
        count = int(inside.sum())
        bins.append(
            {
                "lower": i / n_bins,
                "upper": (i + 1) / n_bins,
                "count": count,
                "accuracy": float(correct[inside].mean()) if count else float("nan"),
                "confidence": float(confidence[inside].mean()) if count else float("nan"),
            }
        )
    return bins


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """Top-label ECE: sum over bins of |accuracy - confidence| weighted by the bin's share of samples."""
    bins = reliability_bins(probs, y_true, n_bins)
    total = sum(b["count"] for b in bins)
    return float(sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in bins if b["count"]) / total)


def _checked_labels_and_probabilities(y_true: np.ndarray, probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels as int64 class indices and probabilities as (N, k) float64, or ValueError saying what is off."""
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape != (len(y_true), k):
        raise ValueError(f"probs must be (N, {k}) for N={len(y_true)} labels, got {probs.shape}")
    if len(y_true) == 0:
        raise ValueError("no samples to evaluate")
    if y_true.min() < 0 or y_true.max() >= k:
        raise ValueError(f"labels must be class indices in 0..{k - 1}")
    return y_true, probs


def _macro_average(values: np.ndarray) -> float:
    """The mean over classes that have a value (NaN where no class has one)."""
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def classification_metrics(
    y_true: np.ndarray, probs: np.ndarray, classes: Sequence[str], n_bins: int = ECE_BINS
) -> dict:
    """Everything a model card or a site validation reports, from true labels and probabilities.

    Predictions are the argmax class. Returns accuracy, per-class sensitivity / specificity /
    precision / F1 / one-vs-rest ROC AUC / support, their macro averages (``macro_*``, flat so a
    report can list every scalar), the confusion matrix,
    the top-label ECE and the reliability-diagram bins.
    """
    k = len(classes)
    y_true, probs = _checked_labels_and_probabilities(y_true, probs, k)
    cm = confusion_matrix(y_true, probs.argmax(axis=1), k)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    fn = support - tp
    fp = predicted - tp
    tn = cm.sum() - tp - fn - fp
    sensitivity = _safe_ratio(tp, support)
    specificity = _safe_ratio(tn, tn + fp)
    precision = _safe_ratio(tp, predicted)
    f1 = _safe_ratio(2 * tp, 2 * tp + fp + fn)
    auc = np.array([roc_auc(y_true == i, probs[:, i]) for i in range(k)])
    per_class = {
        name: {
            "support": int(support[i]),
            "sensitivity": float(sensitivity[i]),
            "sensitivity_ci95": wilson_interval(tp[i], support[i]),
            "specificity": float(specificity[i]),
            "specificity_ci95": wilson_interval(tn[i], tn[i] + fp[i]),
            "precision": float(precision[i]),
            "f1": float(f1[i]),
            "auc": float(auc[i]),
            "auc_ci95": auc_interval(y_true == i, probs[:, i]),
        }
        for i, name in enumerate(classes)
    }
    return {
        "n": int(len(y_true)),
        "classes": list(classes),
        "accuracy": float(tp.sum() / len(y_true)),
        "accuracy_ci95": wilson_interval(tp.sum(), len(y_true)),
        "macro_sensitivity": _macro_average(sensitivity),
        "macro_specificity": _macro_average(specificity),
        "macro_precision": _macro_average(precision),
        "macro_f1": _macro_average(f1),
        "macro_auc": _macro_average(auc),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "ece": expected_calibration_error(probs, y_true, n_bins),
        "reliability": reliability_bins(probs, y_true, n_bins),
    }


def negative_log_likelihood(logits: np.ndarray, y_true: np.ndarray, temperature: float = 1.0) -> float:
    """Mean cross-entropy of the tempered softmax."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(z)), np.asarray(y_true, dtype=np.int64)].mean())


def fit_temperature(
    logits: np.ndarray, y_true: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0), tol: float = 1e-4
) -> float:
    """Temperature scaling (Guo et al. 2017): the T in ``bounds`` that minimises validation NLL.

    NLL is convex in 1/T, hence unimodal in log T, so a golden-section search on log T finds the
    minimum without scipy.
    """
    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    ratio = (np.sqrt(5.0) - 1.0) / 2.0

    def loss(log_t: float) -> float:
        return negative_log_likelihood(logits, y_true, float(np.exp(log_t)))

    a, b = lo + (1 - ratio) * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = loss(a), loss(b)
    while hi - lo > tol:
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = lo + (1 - ratio) * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = loss(b)
    return float(np.exp((lo + hi) / 2.0))


def dice(pred: np.ndarray, truth: np.ndarray, labels: Sequence[int]) -> dict[int, float]:
    """Dice overlap per label value. NaN where the label is absent from both (undefined, as in MONAI)."""
    pred = np.asarray(pred)
    truth = np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and truth {truth.shape} differ in shape")
    scores = {}
    for label in labels:
        p, t = pred == label, truth == label
        denominator = int(p.sum()) + int(t.sum())
        scores[int(label)] = float(2 * np.sum(p & t) / denominator) if denominator else float("nan")
    return scores
