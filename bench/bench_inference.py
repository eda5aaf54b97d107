"""Whole-study analysis time: lung mask + every CT model on every slice with lung.

    python bench/bench_inference.py [--device auto|cpu|gpu] [--json]

Studies: the real series ../shared/data/ct_series/Lung_Dx-A0001 (when present), a 141-slice and a
300-slice phantom (512 x 512). Models: the CT models the registry finds; when no CT classifier is
installed, untrained M4, M1 and M3 networks and a 3D U-Net are exported at the pack's input sizes
(224, 160 and 160 px, 128^3) with ``inference.training`` (needs the [train] extra) - their weights are random,
their graphs and cost are the real ones, and the output says so.
Goal (issue 5): a 141-slice CT with lung mask and three CT models in at most 20 s on 2 CPU cores.

For each study: the first analysis (sessions already loaded, nothing cached), the split of that time
(lung mask, each model, slices analysed), and a second analysis of the same study through the result
cache (the "open it again" case).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inference.cache import ResultCache  # noqa: E402
from inference.phantoms import make_ct_phantom  # noqa: E402
from inference.pipelines.analysis import analyze_study, choose_models  # noqa: E402
from inference.registry import discover_models, inspect_model  # noqa: E402
from inference.runtime import thread_count  # noqa: E402
from inference.study import CTVolume  # noqa: E402

REAL_SERIES = ROOT.parent / "shared" / "data" / "ct_series" / "Lung_Dx-A0001"
UNTRAINED = (("M4", 224), ("M1", 160), ("M3", 160), ("unet3d", 128))  # the pack's input sizes


def export_untrained(out: Path) -> list:
    """Random-weight exports of the pack's CT networks, through the real export (verified, with manifests)."""
    import torch

    from inference.preprocessing import InputSpec
    from inference.training.checkpoint import save_checkpoint
    from inference.training.export import export_checkpoint
    from inference.training.networks import MASK_LABELS, build_network, is_segmentation, network_config

    torch.set_num_threads(thread_count())
    statuses = []
    for method, size in UNTRAINED:
        segmentation = is_segmentation(method)
        if segmentation:
            spec = InputSpec(size=size, channels=1, mean=(0.5,), std=(0.25,), window=(1500.0, -600.0))
            config = network_config(method)
        else:
            spec = InputSpec(size=size, window=(1500.0, -600.0))
            config = network_config(method, num_classes=2)
        model = build_network(method, **config).eval()
        checkpoint = save_checkpoint(
            out / f"{method}.pt", model=model, method=method, model_config=config,
            classes=tuple(MASK_LABELS.values()) if segmentation else ("COVID", "NonCOVID"),
            modality="CT", input_spec=spec, epoch=0,
        )
        report = export_checkpoint(checkpoint, out / "models", model_id=f"untrained-{method.lower()}")
        statuses.append(inspect_model(Path(report.manifest_path), "bench"))
        print(f"  exported untrained {method} ({size}) in {report.export_seconds:.1f} s", file=sys.stderr)
    return statuses


def phantom_volume(slices: int, spacing=(1.0, 0.7, 0.7)) -> CTVolume:
    hu, _ = make_ct_phantom((slices, 512, 512), spacing, seed=3)
    return CTVolume(
        hu=hu, spacing=spacing, origin=(0.0, 0.0, 0.0), direction=np.eye(3),
        slice_positions=np.array([[0.0, 0.0, z * spacing[0]] for z in range(slices)]),
        uid=f"2.25.{slices}{int(time.time())}", slice_thickness_mm=spacing[0],
    )


def studies() -> list[tuple[str, CTVolume]]:
    found = []
    if REAL_SERIES.is_dir():
        from inference.loading import load_path

        images, _ = load_path(REAL_SERIES)
        found.append(("Lung_Dx-A0001 (real, 64 x 512 x 512, 5 mm)", images[0]))
    # 141 slices of 2.5 mm and 300 of 1 mm cover the same chest at the goal's and a thin-slice count.
    found.append(("phantom 141 x 512 x 512", phantom_volume(141, (2.5, 0.7, 0.7))))
    found.append(("phantom 300 x 512 x 512", phantom_volume(300, (1.0, 0.7, 0.7))))
    return found


def bench_study(name: str, volume: CTVolume, choice, device: str, cache_root: Path) -> dict:
    cache = ResultCache(cache_root / name.split()[0])
    started, cpu_started = time.perf_counter(), time.process_time()
    analysis = analyze_study(volume, choice, device, cache)
    first, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    started = time.perf_counter()
    again = analyze_study(volume, choice, device, cache)
    cached = time.perf_counter() - started
    analysed = {o.model_id: int(o.analysed.sum()) for o in analysis.opinions}
    return {
        "study": name,
        "slices": volume.shape[0],
        "device": analysis.device,
        "first_s": round(first, 2),
        # CPU seconds of all threads: on a shared machine wall time inflates, this does not; on an
        # idle machine wall time is about cpu_s / cores (minus what does not run in parallel).
        "cpu_s": round(cpu, 2),
        "parts_s": {k: round(v, 2) for k, v in analysis.timings_s.items()},
        "slices_analysed": analysed,
        "cached_s": round(cached, 3),
        "all_from_cache": all(o.from_cache for o in again.opinions),
        "lung_mask": analysis.lung_mask.model_id or analysis.lung_mask.source,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lunglens-bench-"))
    statuses = [s for s in discover_models() if s.usable and s.manifest.modality == "CT"]
    note = "installed models"
    if not any(s.manifest.task == "classification" for s in statuses):
        note = "no trained CT classifier installed: UNTRAINED exports of M4 (224 px), M1, M3 (160 px) and unet3d (128^3), real graphs, random weights"
        print(note, file=sys.stderr)
        statuses = export_untrained(work)
    choice = choose_models(statuses, "CT")
    print(f"models: {', '.join(s.id for s in choice.classifiers)}; lung mask: "
          f"{choice.segmenter.id if choice.segmenter else 'classical'}; {thread_count()} threads", file=sys.stderr)
    # Load every session once so the timings below are per study, as in a running viewer.
    warm = phantom_volume(8, (5.0, 0.7, 0.7))
    analyze_study(warm, choice, args.device)
    rows = [bench_study(name, volume, choice, args.device, work / "cache") for name, volume in studies()]
    # The machine is shared: a load above the core count means the figures are pessimistic.
    load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    if args.json:
        print(json.dumps({"models": note, "load": load, "rows": rows}, indent=2))
        return 0
    print(f"# whole-study analysis ({note}; {load})")
    for row in rows:
        print(f"{row['study']:<44} {row['first_s']:6.2f} s first ({row['cpu_s']:.1f} CPU s), {row['cached_s']:6.3f} s from cache "
              f"(lung mask {row['lung_mask']} {row['parts_s']['lung_mask']:.2f} s; "
              + ", ".join(f"{m} {row['parts_s'][m]:.2f} s / {n} slices" for m, n in row["slices_analysed"].items())
              + f"; of {row['slices']} slices)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
