"""Loading a CT series: LungLens's loader against a plain pydicom loop, same files, same run.

    python bench/bench_loading.py [--slices 500] [--size 512] [--repeat 3] [--json]

Writes a phantom series (default 500 slices of 512 x 512, uncompressed) to a temporary folder, then
alternates the two loaders ``--repeat`` times over the same (page-cached) files and reports the best
and median time of each. The plain loop is what a script would do: ``dcmread`` every file,
``apply_modality_lut`` on ``pixel_array``, sort by position, stack. Ours is ``load_path`` (header
scan + pixel loading). Time to first image = header scan + ``read_first_image`` (one slice decoded),
and also ``read_first_image`` alone, which is what a viewer waits for after listing the series.
Both results are checked to be the same HU volume.
Goal (issue 2): at least 1.5x faster than the plain loop, first image in under 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inference.loading import load_path, read_first_image, scan_path  # noqa: E402
from inference.phantoms import make_ct_phantom, write_ct_series  # noqa: E402


def plain_pydicom_loop(folder: Path) -> np.ndarray:
    slices = []
    for path in sorted(folder.iterdir()):
        ds = pydicom.dcmread(path)
        slices.append((float(ds.ImagePositionPatient[2]), apply_modality_lut(ds.pixel_array, ds)))
    slices.sort(key=lambda item: item[0])
    return np.stack([values for _, values in slices])


def timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - started, result


def first_image(folder: Path) -> tuple[float, float]:
    """(scan + first image, first image alone) in seconds."""
    scan_time, scan = timed(scan_path, folder)
    preview_time, _ = timed(read_first_image, scan.series[0])
    return scan_time + preview_time, preview_time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=500)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    spacing = (300.0 / args.slices, 384.0 / args.size, 384.0 / args.size)
    with tempfile.TemporaryDirectory(prefix="lunglens-bench-") as tmp:
        folder = Path(tmp) / "series"
        hu, _ = make_ct_phantom((args.slices, args.size, args.size), spacing, seed=1)
        write_ct_series(folder, hu, spacing, shuffle=True)
        ours, plain, first, first_alone = [], [], [], []
        for _ in range(args.repeat):
            seconds, volume = timed(plain_pydicom_loop, folder)
            plain.append(seconds)
            seconds, (images, skipped) = timed(load_path, folder)
            ours.append(seconds)
            both, alone = first_image(folder)
            first.append(both)
            first_alone.append(alone)
        same = len(images) == 1 and not skipped and np.array_equal(images[0].hu, volume.astype(np.int16))

    result = {
        "series": f"{args.slices} x {args.size} x {args.size}, uncompressed, shuffled file names",
        "repeats": args.repeat,
        "plain_pydicom_s": {"best": min(plain), "median": statistics.median(plain)},
        "lunglens_load_path_s": {"best": min(ours), "median": statistics.median(ours)},
        "ratio_best": min(plain) / min(ours),
        "ratio_median": statistics.median(plain) / statistics.median(ours),
        "first_image_from_start_s": {"best": min(first), "median": statistics.median(first)},
        "first_image_after_scan_s": {"best": min(first_alone), "median": statistics.median(first_alone)},
        "same_hu": bool(same),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"series: {result['series']}, {args.repeat} runs each (best / median)")
        print(f"plain pydicom loop      {min(plain):6.3f} s / {statistics.median(plain):6.3f} s")
        print(f"lunglens load_path      {min(ours):6.3f} s / {statistics.median(ours):6.3f} s")
        print(f"ratio (plain / ours)    {result['ratio_best']:6.2f} x / {result['ratio_median']:6.2f} x   goal >= 1.5 x")
        print(f"first image from start  {min(first):6.3f} s / {statistics.median(first):6.3f} s  (scan + one slice)")
        print(f"first image after scan  {min(first_alone):6.3f} s / {statistics.median(first_alone):6.3f} s   goal < 0.2 s")
        print(f"identical HU volumes    {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
