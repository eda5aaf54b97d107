"""Export cost and parity per method, onnxruntime vs torch eager speed, INT8 vs FP32 speed.

Networks are freshly built and made to behave like trained ones (BatchNorm statistics measured,
zero-initialised branches switched on; see inference/training/trained_like.py), then go through the same
`export_checkpoint` the `lunglens export` command runs. Speeds are images per second at batch 1.
Run: python bench/bench_export.py [--size 224] [--methods baseline M1 ...] [--calibration ../shared/data/xray]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import onnxruntime
import torch

from inference.preprocessing import InputSpec
from inference.training.checkpoint import build_from_checkpoint, save_checkpoint
from inference.training.export import example_feeds, export_checkpoint
from inference.training.networks import MASK_LABELS, build_network, is_segmentation, network_config
from inference.training.trained_like import trained_like

ALL_METHODS = ("baseline", "M1", "M2", "M3", "M4", "M5", "unet2d", "unet3d")


def make_checkpoint(folder: Path, method: str, size: int) -> Path:
    spec = InputSpec(size=128, channels=1) if method == "unet3d" else InputSpec(size=size)
    config = network_config(method)
    model = build_network(method, **config)
    feeds = example_feeds(spec, method, method == "M4", count=4, seed=5)
    trained_like(model, *(torch.from_numpy(v) for v in feeds.values()))
    classes = tuple(MASK_LABELS.values()) if is_segmentation(method) else ("COVID", "Normal", "Viral_Pneumonia")
    return save_checkpoint(
        folder / f"{method}.pt",
        model=model,
        method=method,
        model_config=config,
        classes=classes[: config.get("num_classes", 3)],
        modality="CT" if method in ("M1", "M3", "M4", "unet3d") else "XR",
        input_spec=spec,
        epoch=1,
    )


def images_per_second(run, repeats: int = 20) -> float:
    for _ in range(3):
        run()
    started = time.perf_counter()
    for _ in range(repeats):
        run()
    return repeats / (time.perf_counter() - started)


def speeds(folder: Path, size: int, calibration: str | None) -> None:
    """ResNet50 (the baseline) at batch 1: torch eager vs onnxruntime FP32, then INT8 vs FP32."""
    checkpoint = folder / "baseline.pt"
    model = build_from_checkpoint(checkpoint)
    image = example_feeds(InputSpec(size=size), "baseline", False, count=1)["image"]
    fp32 = onnxruntime.InferenceSession(str(folder / "models" / "baseline.onnx"), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        eager = images_per_second(lambda: model(torch.from_numpy(image)))
    ort = images_per_second(lambda: fp32.run(None, {"image": image}))
    print(f"ResNet50 {size}px batch 1: torch eager (logits) {eager:.1f} img/s, onnxruntime (logits + cam) {ort:.1f} img/s")
    if not calibration:
        return
    report = export_checkpoint(checkpoint, folder / "int8", model_id="baseline", int8=True, calibration_dir=calibration)
    int8 = onnxruntime.InferenceSession(report.int8.onnx_path, providers=["CPUExecutionProvider"])
    fp32_speed = images_per_second(lambda: fp32.run(None, {"image": image}))
    int8_speed = images_per_second(lambda: int8.run(None, {"image": image}))
    sizes = [Path(path).stat().st_size / 1e6 for path in (report.onnx_path, report.int8.onnx_path)]
    figures = {key: value for key, value in asdict(report.int8).items() if not key.endswith("path")}
    print(f"INT8 batch 1: FP32 {fp32_speed:.1f} img/s, INT8 {int8_speed:.1f} img/s; {sizes[0]:.0f} MB -> {sizes[1]:.0f} MB")
    print("INT8 report:", json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--methods", nargs="*", default=list(ALL_METHODS))
    parser.add_argument("--calibration", help="folder-per-class images: also export INT8 of the baseline")
    parser.add_argument("--torch-threads", type=int, default=2, help="1 is faster on an oversubscribed machine")
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for method in args.methods:
            report = export_checkpoint(make_checkpoint(folder, method, args.size), folder / "models", model_id=method.lower())
            row = {key: value for key, value in report.to_json().items() if isinstance(value, float)}
            row["onnx_mb"] = Path(report.onnx_path).stat().st_size / 1e6
            print(method, json.dumps({key: float(f"{value:.3g}") for key, value in row.items()}), flush=True)
        if "baseline" in args.methods:
            speeds(folder, args.size, args.calibration)


if __name__ == "__main__":
    main()
