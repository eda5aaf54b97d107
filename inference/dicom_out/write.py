"""All of a study's DICOM results into one folder: lung mask SEG, a Grad-CAM SEG per model, the SR,
the report as Encapsulated PDF and key images as Secondary Capture. ``lunglens analyze --dicom-out``
and the viewer's export call ``write_dicom_results``; ``lunglens pacs send`` sends the folder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import highdicom as hd
from pydicom.dataset import Dataset

from inference.dicom_out.documents import encapsulated_pdf, key_image
from inference.dicom_out.key_images import key_images
from inference.dicom_out.measurement_report import measurement_report
from inference.dicom_out.report_pdf import report_pdf
from inference.dicom_out.segmentation import cam_segmentation, lung_mask_segmentation
from inference.dicom_out.sources import read_sources
from inference.measurements import Measurement
from inference.output_paths import write_atomically
from inference.pipelines.results import StudyAnalysis
from inference.slice_numbers import slice_numbering
from inference.study import Image


def without_source_flaws(ds: Dataset) -> Dataset:
    """Leave out what some archives' files get wrong and highdicom copies from the source into the
    patient and study modules (TCIA's Referenced Study items without a SOP Class, an age written
    '62' instead of '062Y'): flaws that would make our object invalid, not ours to repeat."""
    items = ds.get("ReferencedStudySequence")
    if items is not None and any("ReferencedSOPClassUID" not in item for item in items):
        del ds.ReferencedStudySequence
    if "PatientAge" in ds and not re.fullmatch(r"\d{3}[DWMY]", str(ds.PatientAge or "000Y")):
        del ds.PatientAge
    return ds


def dicom_results(
    analysis: StudyAnalysis, image: Image, measurements: Sequence[Measurement] = (), pdf: bytes | None = None
) -> dict[str, Dataset]:
    """File name -> DICOM object; ``pdf`` is the report to encapsulate (default: a plain one made here)."""
    sources = read_sources(image)
    numbering = slice_numbering(image)
    objects: dict[str, Dataset] = {}
    if analysis.lung_mask is not None and analysis.lung_mask.labels.any():
        objects["lung_mask_seg.dcm"] = lung_mask_segmentation(analysis.lung_mask, sources)
    cam_series, key_series = hd.UID(), hd.UID()
    for number, opinion in enumerate(analysis.opinions, start=1):
        if opinion.analysed.any():
            objects[f"gradcam_{opinion.model_id}_seg.dcm"] = cam_segmentation(opinion, sources, cam_series, number)
    objects["measurement_report_sr.dcm"] = measurement_report(analysis, sources, measurements)
    pictures = key_images(image, analysis.opinions, numbering)
    report = pdf if pdf is not None else report_pdf(image, analysis, numbering, measurements, pictures)
    objects["report_pdf.dcm"] = encapsulated_pdf(report, sources)
    for number, picture in enumerate(pictures, start=1):
        objects[f"key_image_{picture.model_id}.dcm"] = key_image(picture.pixels, sources, key_series, number, picture.caption)
    return objects


def write_dicom_results(
    analysis: StudyAnalysis, image: Image, out: Path, measurements: Sequence[Measurement] = (), pdf: bytes | None = None
) -> list[Path]:
    """Write every DICOM result of ``analysis`` into ``out`` (created); returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, ds in dicom_results(analysis, image, measurements, pdf).items():
        write_atomically(out / name, lambda p: without_source_flaws(ds).save_as(p, enforce_file_format=True))
        written.append(out / name)
    return written
