"""Honest evaluation of a trained model: calibration on validation, figures on the held-out test split.

Temperature and the operating threshold are fitted on validation only; the test split is looked at
once, with both frozen. The report is a JSON document, PNG plots and one HTML page.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from inference.verdict import decide  # noqa: E402
from inference.metrics import (  # noqa: E402
    auc_interval,
    binary_metrics,
    choose_threshold,
    classification_metrics,
    dice,
    fit_temperature,
    roc_auc,
    softmax,
)


def _plot_confusion(matrix: np.ndarray, classes, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(int(value)), ha="center", va="center", color="black")
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_reliability(bins: list[dict], path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], "--", color="grey")
    confidence = [b["confidence"] for b in bins if b["count"]]
    accuracy = [b["accuracy"] for b in bins if b["count"]]
    ax.plot(confidence, accuracy, "o-")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _html_report(summary: dict, images: list[str], path: Path) -> None:
    rows = []
    for split, metrics in summary["metrics"].items():
        flat = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        rows.append(f"<h2>{html.escape(split)}</h2><table>" + "".join(
            f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>" for k, v in flat.items()) + "</table>")
        for key in ("per_class",):
            if key in metrics:
                rows.append(f"<pre>{html.escape(json.dumps(metrics[key], indent=1))}</pre>")
    body = "".join(rows) + "".join(f'<img src="{html.escape(name)}">' for name in images)
    extra = html.escape(json.dumps({k: summary[k] for k in ("temperature", "threshold") if k in summary}))
    path.write_text(
        "<!doctype html><meta charset='utf-8'><title>LungLens evaluation</title>"
        "<style>body{font-family:sans-serif;background:#111;color:#ddd} td{padding:2px 8px} img{margin:8px;background:#fff}</style>"
        f"<h1>Evaluation</h1><p>{extra}</p>{body}<p>Research use, not a medical device.</p>"
    )


def positive_summary(y_positive: np.ndarray, p_positive: np.ndarray, threshold: float | None) -> dict:
    """The positive class's AUC (95% interval) and, with a threshold, the operating point's rates."""
    summary = {"n": int(len(y_positive)), "positives": int(np.sum(y_positive)), "auc": roc_auc(y_positive, p_positive),
               "auc_ci95": auc_interval(y_positive, p_positive)}
    if threshold is not None:
        summary["at_threshold"] = binary_metrics(y_positive, p_positive, threshold)
    return summary


def group_means(p_positive: np.ndarray, targets: np.ndarray, groups: list[str], weights: np.ndarray):
    """Per group (a stand-in for a patient's series): the weighted mean positive probability, as
    ``verdict.study_verdict`` computes it for a series, and the group's (majority) label."""
    names = sorted(set(groups))
    index = {name: i for i, name in enumerate(names)}
    member = np.array([index[g] for g in groups])
    weights = np.maximum(np.asarray(weights, dtype=np.float64), 1e-9)
    score = np.bincount(member, weights * p_positive, len(names)) / np.bincount(member, weights, len(names))
    label = np.bincount(member, targets.astype(np.float64), len(names)) / np.bincount(member, minlength=len(names)) >= 0.5
    return score, label


def calibrate_and_report(
    results: dict, classes, positive_class: str, out: Path, segmentation: bool = False, sources: dict | None = None,
    groups: dict | None = None,
) -> dict:
    """``results`` maps split name -> (outputs, targets); ``sources`` split name -> each item's source;
    ``groups`` split name -> (each item's group, its weight): with groups, a study-level threshold is
    fitted on validation groups (``verdict``'s rule) and group-level figures are reported.
    Returns what goes into the checkpoint: temperature, thresholds, metrics per split and, for the
    positive class, per source (the figures a new site is closest to)."""
    out.mkdir(parents=True, exist_ok=True)
    if segmentation:
        metrics = {name: dice(pred, truth, labels=(1, 2)) for name, (pred, truth) in results.items()}
        metrics = {name: {"dice_right": m[1], "dice_left": m[2], "dice_mean": (m[1] + m[2]) / 2} for name, m in metrics.items()}
        summary = {"metrics": metrics}
        (out / "metrics.json").write_text(json.dumps(summary, indent=1))
        _html_report(summary, [], out / "report.html")
        return summary
    val_logits, val_targets = results["val"]
    temperature = fit_temperature(val_logits, val_targets)
    summary: dict = {"temperature": temperature, "metrics": {}}
    if positive_class in classes:
        positive = list(classes).index(positive_class)
        p_val = softmax(val_logits, temperature)[:, positive]
        value = choose_threshold(val_targets == positive, p_val, rule="youden")
        summary["threshold"] = {
            "value": float(value), "positive_class": positive_class, "rule": "youden",
            "chosen_on": "validation split (near-duplicate-free groups)",
        }
        if len(classes) > 2:
            probs_val = softmax(val_logits, temperature)
            summary["class_thresholds"] = {
                name: float(choose_threshold(val_targets == k, probs_val[:, k], rule="youden"))
                for k, name in enumerate(classes)
                if k != positive and (val_targets == k).any() and not (val_targets == k).all()
            }
    images = []
    for name, (logits, targets) in results.items():
        probs = softmax(logits, temperature)
        metrics = classification_metrics(targets, probs, tuple(classes))
        metrics["uncalibrated_ece"] = classification_metrics(targets, softmax(logits, 1.0), tuple(classes))["ece"]
        if positive_class in classes:
            positive = list(classes).index(positive_class)
            value = summary.get("threshold", {}).get("value")
            metrics["positive"] = positive_summary(targets == positive, probs[:, positive], value)
            if "class_thresholds" in summary:
                by_index = {list(classes).index(c): t for c, t in summary["class_thresholds"].items()}
                decided = np.array([decide(p, positive, value, by_index) for p in probs])
                metrics["at_thresholds"] = classification_metrics(targets, np.eye(len(classes))[decided], tuple(classes))
            grouped = (groups or {}).get(name)
            if grouped is not None:
                score, label = group_means(probs[:, positive], targets == positive, *grouped)
                if name == "val" and label.any() and not label.all():
                    summary["study_threshold"] = {
                        "value": float(choose_threshold(label, score, rule="youden")), "rule": "youden",
                        "groups": int(len(score)),
                        "chosen_on": "validation groups (runs of a patient's scanner slices, paper figure groups), "
                        "lung-area-weighted mean probability per group",
                    }
                metrics["groups"] = positive_summary(label, score, summary.get("study_threshold", {}).get("value"))
            names = np.asarray((sources or {}).get(name, []))
            if len(names) == len(targets) and len(set(names.tolist())) > 1:
                metrics["per_source"] = {
                    src: positive_summary(targets[names == src] == positive, probs[names == src, positive], value)
                    for src in sorted(set(names.tolist()))
                }
        summary["metrics"][name] = metrics
        _plot_confusion(np.asarray(metrics["confusion_matrix"]), classes, out / f"confusion_{name}.png", f"{name} confusion")
        _plot_reliability(metrics["reliability"], out / f"reliability_{name}.png", f"{name} reliability (T={temperature:.2f})")
        images += [f"confusion_{name}.png", f"reliability_{name}.png"]
    (out / "metrics.json").write_text(json.dumps(summary, indent=1, default=float))
    _html_report(summary, images, out / "report.html")
    return summary
