"""``lunglens demo``: open the bundled demo study, or a generated phantom chest CT when none is bundled,
and analyse it with the installed models on open (a demo is there to show their opinions).

The phantom is written once into the user's cache folder (never into the repository or a study
folder) with its ground-truth lung mask, which opens as a layer so the overlay system shows too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from viewer.commands.view import add_view_options, analysis_options, check_view_options, output_options_problem

HELP = "open the demo study and analyse it with the installed models (a phantom chest CT when none is bundled)"
PHANTOM_VERSION = 1
PHANTOM_SHAPE = (96, 256, 256)
PHANTOM_SPACING = (2.5, 1.4, 1.4)
BUNDLED_DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_view_options(parser)
    parser.set_defaults(analyze=True)
    parser.add_argument("--no-analyze", dest="analyze", action="store_false",
                        help="open the demo study without running the models")


def bundled_demo() -> Path | None:
    """resources/demo/ when it holds a study (anything besides READMEs), else None."""
    if not BUNDLED_DEMO.is_dir():
        return None
    files = [p for p in BUNDLED_DEMO.rglob("*") if p.is_file() and not p.name.lower().startswith("readme")]
    return BUNDLED_DEMO if files else None


def phantom_demo(cache_root: Path | None = None) -> tuple[Path, Path]:
    """(DICOM series folder, lung-mask NIfTI) of the demo phantom, generating it on first use, in
    LungLens's one cache folder (``lunglens cache info`` shows it, $LUNGLENS_CACHE_DIR moves it)."""
    from inference.cache import cache_dir

    root = Path(cache_root or cache_dir()) / "demo" / f"phantom-v{PHANTOM_VERSION}"
    series, mask_file = root / "series", root / "lung_mask.nii.gz"
    if series.is_dir() and mask_file.is_file():
        return series, mask_file
    import SimpleITK as sitk

    from inference.phantoms import make_ct_phantom, write_ct_series

    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="phantom-", dir=root.parent))
    try:
        hu, mask = make_ct_phantom(PHANTOM_SHAPE, PHANTOM_SPACING, seed=7)
        write_ct_series(staging / "series", hu, PHANTOM_SPACING)
        mask_image = sitk.GetImageFromArray(mask)
        mask_image.SetSpacing(tuple(float(s) for s in reversed(PHANTOM_SPACING)))
        sitk.WriteImage(mask_image, str(staging / "lung_mask.nii.gz"))
        if root.exists():
            shutil.rmtree(root)
        os.replace(staging, root)  # all or nothing: a half-written phantom is never opened
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return series, mask_file


def run(args: argparse.Namespace) -> int:
    from viewer.app import run_viewer

    problem = check_view_options(args) or output_options_problem(args, None)
    if problem:
        print(f"lunglens demo: {problem}")
        return 2
    bundled = bundled_demo()
    if bundled is not None:
        return run_viewer(str(bundled), args.screenshot, args.preset, args.slice_number, args.layout, args.whole_window,
                          **analysis_options(args))
    series, mask_file = phantom_demo()
    print(f"demo phantom: {series}")

    def add_ground_truth(window) -> None:
        window.load_mask_file(mask_file)
        window.layers.update(window.layers.names[-1], opacity=0.3)

    return run_viewer(str(series), args.screenshot, args.preset, args.slice_number, args.layout, args.whole_window,
                      after_open=add_ground_truth, **analysis_options(args))
