"""``lunglens export CHECKPOINT --out DIR``: a training checkpoint to a verified ONNX model + manifest + card."""

from __future__ import annotations

import argparse
import json
import sys

from inference.training.checkpoint import CheckpointError
from inference.training.export import ExportError, ExportReport, export_checkpoint

HELP = (
    "Export a training checkpoint to <id>.onnx + <id>.json (manifest) + <id>.md (model card), with Grad-CAM "
    "in the graph; the export checks itself against torch and refuses (exit 1) when it does not match."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint file written by `lunglens train`")
    parser.add_argument("--out", required=True, help="model directory to write into")
    parser.add_argument("--id", dest="model_id", help="model id, also the file names (default: <method>-<modality>)")
    parser.add_argument("--int8", action="store_true", help="also write a calibrated INT8 model <id>-int8")
    parser.add_argument("--calibration", help="folder-per-class images for INT8 calibration and its accuracy check")
    parser.add_argument("--json", action="store_true", help="print the export report as JSON")


def _summary(report: ExportReport) -> str:
    lines = [
        f"exported {report.model_id}: {report.onnx_path}",
        f"  manifest {report.manifest_path}, model card {report.card_path}",
        f"  onnxruntime vs torch: probabilities max |diff| {report.probability_max_abs_diff:.2e} "
        f"(allowed {report.probability_tolerance:.1e})",
    ]
    if report.cam_max_abs_diff is not None:
        lines.append(
            f"  Grad-CAM vs autograd (normalised): max |diff| {report.cam_max_abs_diff:.2e} "
            f"(allowed {report.cam_tolerance:.1e})"
        )
    lines.append(f"  export {report.export_seconds:.1f} s, verification {report.verify_seconds:.1f} s")
    if report.int8 is not None:
        int8 = report.int8
        accuracy = (
            f", accuracy FP32 {int8.fp32_accuracy:.3f} vs INT8 {int8.int8_accuracy:.3f}"
            if int8.fp32_accuracy is not None
            else ""
        )
        lines.append(
            f"  INT8 {int8.onnx_path}: top-1 agreement {int8.top1_agreement:.3f} on {int8.evaluation_images} images, "
            f"probabilities max |diff| {int8.probability_max_abs_diff:.3f}{accuracy}; "
            f"{int8.fp32_ms_per_image:.1f} -> {int8.int8_ms_per_image:.1f} ms/image; this CPU's kernels vs exact "
            f"arithmetic: top-1 agreement {int8.kernel_vs_exact_top1_agreement:.3f}, probabilities max |diff| "
            f"{int8.kernel_vs_exact_probability_max_abs_diff:.3f}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.calibration and not args.int8:
        print("lunglens export: --calibration is only used with --int8", file=sys.stderr)
        return 2
    try:
        report = export_checkpoint(
            args.checkpoint, args.out, model_id=args.model_id, int8=args.int8, calibration_dir=args.calibration
        )
    except (CheckpointError, ExportError) as exc:
        print(f"lunglens export: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_json(), indent=2) if args.json else _summary(report))
    return 0
