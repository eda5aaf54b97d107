"""``lunglens analyze PATH``: headless analysis of one study, for batch jobs and scripts.

The JSON document (``--json`` on stdout, and ``analysis.json`` in ``--out``) holds at least::

    {"device": "cpu", "models": [{"id", "task", "classes", ...}],
     "results": {MODEL_ID: {"per_slice": [[p_class0, p_class1, ...], ...], "verdict": {"label", "probability", ...}}},
     "lung": {"volume_ml": {"right", "left", "total"}, ...}, "consensus": {...}, "warnings": [str]}

``per_slice`` has one row per slice in slice order; a row of nulls is a slice without lung, not
analysed (``per_slice_rule`` in the document says so too). With ``--out DIR`` it also writes the
lung mask (CT: ``lung_mask.nii.gz`` with the series geometry; X-ray: ``lung_mask.png``, values 0/1/2)
and per model ``cam_<id>.npz`` (all classes at the model's resolution, as the viewer keeps them) plus
the finding class's map on the image (CT: ``cam_<id>.nii.gz``, X-ray: ``cam_<id>.png``, 0..255 = 0..1).
``--out`` may not lie inside the study's folder: LungLens never writes into a study.
Progress goes to stderr, so stdout stays clean JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PIL import Image as PILImage

from inference.cache import ResultCache
from inference.jobs import Cancelled, Job, StderrProgress
from inference.lung_segmentation import volume_image
from inference.manifest import INTENDED_USE
from inference.opinion_rules import finding_class
from inference.output_paths import output_problem, write_atomically
from inference.pipelines.analysis import analyze_study, choose_models
from inference.pipelines.results import Note, StudyAnalysis
from inference.registry import discover_models
from inference.runtime import Device, DeviceUnavailable
from inference.safe_text import printable
from inference.study import CTVolume, Image, SkippedFile
from inference.study_document import study_document

log = logging.getLogger(__name__)

HELP = "analyse a CT series or chest X-ray with the installed models; JSON report, lung mask and Grad-CAM files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="a DICOM folder or file, a PNG/JPEG X-ray, or a NIfTI/MHA/NRRD volume")
    parser.add_argument("--model", action="append", metavar="ID", help="run only this model (repeatable); default: all for the modality")
    parser.add_argument("--device", type=Device, choices=list(Device), default=Device.AUTO, help="auto: GPU if usable else CPU; gpu: fail if no GPU; cpu")
    parser.add_argument("--lung-mask", default="auto", metavar="auto|classical|ID", help="lung segmentation to use (default: the installed U-Net, else classical)")
    parser.add_argument("--series", metavar="N|UID", help="which series when PATH holds several (index as listed by 'lunglens info', or SeriesInstanceUID)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="write analysis.json, the lung mask and Grad-CAM files here (not inside the study folder)")
    parser.add_argument("--dicom-out", type=Path, metavar="DIR", help="write the results as DICOM here: lung mask SEG, Grad-CAM SEG per model, TID 1500 SR, report as Encapsulated PDF, key images as Secondary Capture")
    parser.add_argument("--json", action="store_true", help="print the JSON document on stdout")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the result cache")


def pick_series(images: list[Image], wanted: str | None) -> tuple[Image, list[Note]]:
    """The series to analyse: the one asked for, else the CT with most slices, else the first image."""
    if wanted is not None:
        if wanted.isdigit() and int(wanted) < len(images):
            return images[int(wanted)], []
        for image in images:
            if image.uid == wanted:
                return image, []
        raise LookupError(f"--series {wanted}: no such series (there are {len(images)}, numbered from 0)")
    volumes = [i for i in images if isinstance(i, CTVolume)]
    chosen = max(volumes, key=lambda v: v.shape[0]) if volumes else images[0]
    notes = []
    if len(images) > 1:
        notes.append(Note(f"{len(images)} series found, analysed number {images.index(chosen)}; choose another with --series"))
    return chosen, notes


def write_outputs(analysis: StudyAnalysis, image: Image, out: Path) -> dict[str, str]:
    """Lung mask and Grad-CAM files for ``analysis`` in ``out``; returns role -> file name."""
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    ct = isinstance(image, CTVolume)
    if analysis.lung_mask is not None:
        labels = analysis.lung_mask.labels
        name = "lung_mask.nii.gz" if ct else "lung_mask.png"
        if ct:
            write_atomically(out / name, lambda p: sitk.WriteImage(volume_image(labels, image), str(p), True))
        else:
            write_atomically(out / name, lambda p: PILImage.fromarray(labels).save(p, format="PNG"))
        written["lung_mask"] = name
    for opinion in analysis.opinions:
        stem = f"cam_{opinion.model_id}"
        arrays = {
            "cams": opinion.cams,
            "probabilities": opinion.probabilities,
            "classes": np.array(opinion.classes),
            "image_shape": np.array(opinion.image_shape),
            "input_size": np.array(opinion.input_size),
            "resize": np.array(opinion.resize),
            "crop_boxes": opinion.crop_boxes if opinion.crop_boxes is not None else np.array([(0, 0, *opinion.image_shape)]),
        }
        write_atomically(out / f"{stem}.npz", lambda p: np.savez_compressed(p, **arrays))
        written[f"{stem}.npz"] = f"{stem}.npz"
        maps = opinion.cam_volume(finding_class(opinion))
        name = f"{stem}.nii.gz" if ct else f"{stem}.png"
        if ct:
            write_atomically(out / name, lambda p: sitk.WriteImage(volume_image(maps, image), str(p), True))
        else:
            write_atomically(out / name, lambda p: PILImage.fromarray(maps[0]).save(p, format="PNG"))
        written[stem] = name
    return written


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def summary(analysis: StudyAnalysis, outputs: Mapping[str, str]) -> str:
    """The human-readable report printed without --json: the same analysis and outputs as the JSON."""
    lines = [f"{analysis.modality} {' x '.join(map(str, analysis.shape))}, device {analysis.device}"]
    mask, lung = analysis.lung_mask, analysis.lung
    if mask is not None:
        text = f"lung mask: {mask.model_id or mask.source}"
        if lung is not None and _finite(lung.volume_ml.get("right")):
            severity = f"{lung.severity_percent:.1f} %" if _finite(lung.severity_percent) else "n/a"
            text += f"; right {lung.volume_ml['right']:.0f} ml, left {lung.volume_ml['left']:.0f} ml, severity {severity}"
        lines.append(text)
    for opinion in analysis.opinions:
        verdict = opinion.verdict
        if verdict.label is None:
            lines.append(f"  {opinion.model_id:<16} no verdict: {verdict.reason}")
            continue
        threshold = "" if verdict.threshold is None else f" (threshold {verdict.threshold:.2f} on {verdict.positive_class})"
        lines.append(f"  {opinion.model_id:<16} {verdict.label} {verdict.probability:.2f}{threshold}, {verdict.slices_used} slices")
    if analysis.consensus is not None and analysis.consensus.voters:
        c = analysis.consensus
        lines.append(f"consensus: {c.label} ({c.positive_votes} of {c.voters} models positive)")
    lines += [f"warning: {w}" for w in analysis.warnings]
    if outputs:
        lines.append("written: " + ", ".join(outputs.values()))
    lines.append(INTENDED_USE)
    return "\n".join(lines)


def _fail(message: str, code: int = 2) -> int:
    print(printable(f"lunglens analyze: {message}"), file=sys.stderr)
    return code


def _skipped_notes(skipped: list[SkippedFile]) -> list[Note]:
    if not skipped:
        return []
    return [Note(f"{len(skipped)} file(s) skipped while loading, e.g. {Path(skipped[0].path).name}: {skipped[0].reason}")]


def run(args: argparse.Namespace) -> int:
    from inference.loading import load_path

    if not args.path.exists():
        return _fail(f"{args.path} does not exist")
    for option, folder in (("--out", args.out), ("--dicom-out", args.dicom_out)):
        if folder is not None and (problem := output_problem(folder, args.path, "folder")):
            return _fail(f"{option}: {problem}")
    progress = StderrProgress()
    try:
        images, skipped = load_path(args.path, Job(progress).counting("loading"))
        if not images:
            reasons = "; ".join(f"{Path(s.path).name}: {s.reason}" for s in skipped[:5]) or "no image files"
            return _fail(f"nothing to analyse in {args.path} ({reasons})", 1)
        image, notes = pick_series(images, args.series)
        choice = choose_models(discover_models(), image.modality, args.model, args.lung_mask)
        cache = None if args.no_cache else ResultCache()
        analysis = analyze_study(image, choice, args.device, cache, progress)
        analysis = replace(analysis, notes=(*notes, *_skipped_notes(list(skipped)), *analysis.notes))
    except (LookupError, DeviceUnavailable) as exc:
        return _fail(str(exc))
    except Cancelled:
        return _fail("cancelled", 130)
    except Exception as exc:  # a bug must not lose the user's batch run: say so, keep the traceback in the log
        log.exception("analysis failed")
        return _fail(f"the analysis failed unexpectedly ({type(exc).__name__}: {exc}); please report it", 1)
    try:
        outputs = write_outputs(analysis, image, args.out) if args.out is not None else {}
    except OSError as exc:  # the folder was checked before; it changed or filled up meanwhile
        return _fail(f"--out {args.out}: the results could not be written ({exc.strerror or exc})", 1)
    if args.dicom_out is not None:
        from inference.dicom_out.sources import DicomOutError
        from inference.dicom_out.write import write_dicom_results

        try:
            outputs.update({f"dicom {p.name}": str(p) for p in write_dicom_results(analysis, image, args.dicom_out)})
        except DicomOutError as exc:
            return _fail(f"--dicom-out: {exc}", 1)
    if args.out is not None:
        outputs["analysis"] = "analysis.json"
    doc = study_document(analysis, image, outputs)
    if args.out is not None:
        try:
            write_atomically(args.out / "analysis.json", lambda p: p.write_text(json.dumps(doc, indent=2)))
        except OSError as exc:
            return _fail(f"--out {args.out}: analysis.json could not be written ({exc.strerror or exc})", 1)
    print(json.dumps(doc, indent=2) if args.json else printable(summary(analysis, outputs)))
    return 0
