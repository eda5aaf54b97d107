"""``lunglens evaluate``: a site measures a model on its own labelled data before trusting it.

The data layouts, the preprocessing and the metrics are ``inference.evaluation``'s; this module reads
the options and prints the document (``--json``) or a table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from inference.evaluation import evaluate_model
from inference.jobs import StderrProgress
from inference.pipelines.results import jsonable
from inference.registry import ModelNotFound, find_model
from inference.runtime import Device, DeviceUnavailable, ModelError

HELP = "measure a model on your own labelled data: accuracy, sensitivity, specificity, AUC, calibration; Dice for masks"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="ID_OR_PATH", help="an installed model's id, or a model's .onnx/.json path")
    parser.add_argument("--data", required=True, type=Path, metavar="DIR", help="one folder per class, or images/ + masks/ for a segmentation model")
    parser.add_argument("--map", action="append", default=[], metavar="NAME=LABEL", help="treat folder NAME as the model's class LABEL (repeatable)")
    parser.add_argument("--device", type=Device, choices=list(Device), default=Device.AUTO)
    parser.add_argument("--json", action="store_true", help="print a JSON document")


def _interval(bounds: tuple[float, float]) -> str:
    return f"{bounds[0]:.3f}-{bounds[1]:.3f}"


def _class_table(report: dict) -> list[str]:
    m = report["metrics"]
    lines = [
        f"accuracy {m['accuracy']:.3f} (95% CI {_interval(m['accuracy_ci95'])})   macro AUC {m['macro_auc']:.3f}   "
        f"ECE {m['ece']:.3f}",
        f"{'class':<20}{'n':>6}{'sens':>8}{'spec':>8}{'prec':>8}{'F1':>8}{'AUC':>8}{'sens 95% CI':>14}{'spec 95% CI':>14}",
    ]
    for name, c in m["per_class"].items():
        values = "".join(f"{c[k]:>8.3f}" for k in ("sensitivity", "specificity", "precision", "f1", "auc"))
        intervals = "".join(f"{_interval(c[k]):>14}" for k in ("sensitivity_ci95", "specificity_ci95"))
        lines.append(f"{name:<20}{c['support']:>6}{values}{intervals}")
    lines.append("confusion matrix (rows: true, columns: predicted)")
    width = max(len(c) for c in m["classes"]) + 2
    lines.append(" " * width + "".join(f"{c:>{width}}" for c in m["classes"]))
    for name, row in zip(m["classes"], m["confusion_matrix"]):
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{width}}" for v in row))
    t = report["at_threshold"]
    if t is not None:
        lines.append(
            f"at the operating threshold {t['threshold']:.3f} on {t['positive_class']}: "
            f"sensitivity {t['sensitivity']:.3f} ({_interval(t['sensitivity_ci95'])}), "
            f"specificity {t['specificity']:.3f} ({_interval(t['specificity_ci95'])}), F1 {t['f1']:.3f}"
        )
    return lines


def human(report: dict) -> str:
    model = report["model"]
    lines = [f"model {model['id']} ({model['method']}, {model['modality']}) on {report['n']} images, {len(report['skipped'])} skipped"]
    if report["task"] == "classification":
        lines += _class_table(report)
    else:
        lines.append("mean Dice: " + ", ".join(f"{k} {v:.3f}" for k, v in report["mean_dice"].items()))
    lines += [f"warning: {w}" for w in report["warnings"]]
    lines += [f"skipped {Path(s['path']).name}: {s['reason']}" for s in report["skipped"][:10]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        report = evaluate_model(find_model(args.model), args.device, args.data, args.map, StderrProgress())
    except (ModelNotFound, ModelError, DeviceUnavailable, ValueError) as exc:
        print(f"lunglens evaluate: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(jsonable(report), indent=2) if args.json else human(report))
    return 0
