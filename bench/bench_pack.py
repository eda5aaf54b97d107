"""Per-image inference time of the trained pack: torch eager vs onnxruntime FP32 vs onnxruntime INT8.

    python bench/bench_pack.py EXPORT_DIR [--repeats 20] [--threads 2] [--json]

EXPORT_DIR holds what `lunglens export --int8` wrote: <id>.onnx (FP32) and, where made, <id>-int8.onnx.
Each FP32 manifest names the training run it came from (training.config.out); its best.pt is rebuilt
in torch. All three run the same inputs at batch 1, interleaved (one call of each in turn) so a change
in machine load hits them alike. Classifiers return probabilities and the Grad-CAM in one call
(onnxruntime) or need a backward pass (torch, timed here without it: torch's figure is a lower bound).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import onnxruntime
import torch

from inference.manifest import ModelManifest
from inference.training.checkpoint import build_from_checkpoint, checkpoint_input_spec, load_checkpoint
from inference.training.export import example_feeds


def _session(path: Path, threads: int) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def bench_model(fp32_path: Path, repeats: int, threads: int) -> dict:
    manifest = ModelManifest.from_json(json.loads(fp32_path.with_suffix(".json").read_text()))
    checkpoint = load_checkpoint(Path(manifest.training["config"]["out"]) / "best.pt")
    model = build_from_checkpoint(checkpoint).eval()
    feeds = example_feeds(checkpoint_input_spec(checkpoint), manifest.method, manifest.uses_lung_mask, count=1)
    tensors = [torch.from_numpy(value) for value in feeds.values()]
    int8_path = fp32_path.with_name(fp32_path.stem + "-int8.onnx")
    runners = {
        "torch_fp32": lambda: model(*tensors),
        "ort_fp32": lambda session=_session(fp32_path, threads): session.run(None, feeds),
    }
    if int8_path.exists():
        runners["ort_int8"] = lambda session=_session(int8_path, threads): session.run(None, feeds)
    times: dict[str, list[float]] = {name: [] for name in runners}
    with torch.inference_mode():
        for run in runners.values():  # warm-up: first calls allocate and pick kernels
            run()
        for _ in range(repeats):
            for name, run in runners.items():
                started = time.perf_counter()
                run()
                times[name].append(1000.0 * (time.perf_counter() - started))
    median = {name: statistics.median(values) for name, values in times.items()}
    return {
        "id": manifest.id,
        "method": manifest.method,
        "input": list(next(iter(feeds.values())).shape),
        "ms": {name: round(value, 1) for name, value in median.items()},
        "ort_fp32_vs_torch": round(median["torch_fp32"] / median["ort_fp32"], 2),
        "int8_vs_fp32": round(median["ort_fp32"] / median["ort_int8"], 2) if "ort_int8" in median else None,
        "mb": {
            "fp32": round(fp32_path.stat().st_size / 1e6, 1),
            "int8": round(int8_path.stat().st_size / 1e6, 1) if int8_path.exists() else None,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exports", type=Path)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    fp32_files = sorted(p for p in args.exports.glob("*.onnx") if not p.stem.endswith("-int8"))
    rows = []
    for path in fp32_files:
        rows.append(bench_model(path, args.repeats, args.threads))
        print(f"  {path.stem} done", file=sys.stderr)
    load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, {args.threads} threads"
    if args.json:
        print(json.dumps({"load": load, "rows": rows}, indent=2))
        return 0
    print(f"# per-image time, batch 1, median of {args.repeats} ({load})")
    print(f"{'model':<16} {'input':<22} {'torch ms':>9} {'ORT FP32':>9} {'ORT INT8':>9} {'ORT/torch':>10} {'INT8/FP32':>10} {'MB fp32/int8':>13}")
    for row in rows:
        ms = row["ms"]
        int8 = f"{ms['ort_int8']:9.1f}" if "ort_int8" in ms else f"{'-':>9}"
        ratio = f"{row['int8_vs_fp32']:9.2f}x" if row["int8_vs_fp32"] else f"{'-':>10}"
        print(f"{row['id']:<16} {'x'.join(map(str, row['input'])):<22} {ms['torch_fp32']:9.1f} {ms['ort_fp32']:9.1f} {int8} "
              f"{row['ort_fp32_vs_torch']:9.2f}x {ratio} {row['mb']['fp32']:>6}/{row['mb']['int8'] or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
