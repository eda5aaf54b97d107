"""``lunglens view PATH``: open a study in the viewer, or render it headless to a PNG."""

from __future__ import annotations

import argparse

HELP = "open a DICOM file or folder, an X-ray picture or a volume in the viewer (--screenshot renders headless)"
LAYOUT_CHOICES = ("1x1", "1x3", "2x2")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", help="DICOM file or folder, PNG/JPEG X-ray, NIfTI/MHA/NRRD volume")
    add_view_options(parser)


def add_view_options(parser: argparse.ArgumentParser) -> None:
    """Options shared with ``lunglens demo``."""
    parser.add_argument("--screenshot", metavar="OUT.png", help="render offscreen to this PNG and exit")
    parser.add_argument("--preset", help="window preset: lung, mediastinum, bone, soft_tissue, full, or 1-5")
    parser.add_argument("--slice", type=int, dest="slice_number", metavar="N",
                        help="slice number of the active (axial) pane, 1-based as shown on screen")
    parser.add_argument("--layout", choices=LAYOUT_CHOICES, help="pane layout (CT)")
    parser.add_argument("--window", action="store_true", dest="whole_window",
                        help="with --screenshot: capture the whole window, not only the views")
    parser.add_argument("--analyze", action="store_true",
                        help="run the installed models once the study has loaded; with --screenshot the "
                             "picture is the whole window (overlays, model panel, curves, verdict)")
    parser.add_argument("--compare", action="store_true",
                        help="compare mode: the slice once per model, side by side (implies --analyze)")
    parser.add_argument("--report", metavar="OUT.html",
                        help="with --screenshot: also export the report (.html or .pdf), its view PNG and the "
                             "results JSON (implies --analyze; never inside the study folder)")


def check_view_options(args: argparse.Namespace) -> str:
    """Why these options cannot go together, or ""."""
    if args.preset:
        from viewer.app import preset_key

        try:
            preset_key(args.preset)
        except ValueError as exc:
            return str(exc)
    if args.report and not args.screenshot:
        return "--report is for headless runs, with --screenshot; in the viewer use Models > Export"
    return ""


def output_options_problem(args: argparse.Namespace, study: str | None) -> str:
    """Why --screenshot or --report cannot be written where asked, checked before the study is opened."""
    from pathlib import Path

    from inference.output_paths import output_problem

    for option, target in (("--screenshot", args.screenshot), ("--report", args.report)):
        if target and (problem := output_problem(Path(target), Path(study) if study else None, "file")):
            return f"{option}: {problem}"
    return ""


def run(args: argparse.Namespace) -> int:
    from viewer.app import run_viewer

    problem = check_view_options(args) or output_options_problem(args, args.path)
    if not problem and args.screenshot and not args.path:
        problem = "--screenshot needs a PATH to open"
    if problem:
        print(f"lunglens view: {problem}")
        return 2
    return run_viewer(args.path, args.screenshot, args.preset, args.slice_number, args.layout, args.whole_window,
                      **analysis_options(args))


def analysis_options(args: argparse.Namespace) -> dict:
    """The model-opinion options as ``run_viewer`` keywords."""
    return {"analyze": args.analyze, "compare": args.compare, "report": args.report}
