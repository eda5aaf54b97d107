"""A plain PDF report made without Qt (fpdf2), for ``lunglens analyze --dicom-out``: the viewer's
export encapsulates its own richer PDF instead. Same facts as the viewer's report: identifiers,
each model's verdict, the consensus, the lungs, the reader's measurements and the key images."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from fpdf import FPDF
from PIL import Image as PILImage

from inference import __version__
from inference.dicom_out.key_images import KeyImage
from inference.identifiers import study_identifiers
from inference.manifest import INTENDED_USE
from inference.measurements import Measurement
from inference.pipelines.results import StudyAnalysis
from inference.slice_numbers import SliceNumbering
from inference.study import Image

WIDTH_MM = 180


def _latin(text: str) -> str:
    """The core PDF fonts are Latin-1: anything else is shown as '?', never a crash."""
    return str(text).replace("\u2014", "-").replace("\u00b2", "2").encode("latin-1", "replace").decode("latin-1")


def _section(pdf: FPDF, title: str, rows: Sequence[tuple[str, str]]) -> None:
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, _latin(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    for label, value in rows:
        pdf.multi_cell(0, 5, _latin(f"{label}: {value}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


def report_pdf(
    image: Image, analysis: StudyAnalysis, numbering: SliceNumbering,
    measurements: Sequence[Measurement] = (), pictures: Sequence[KeyImage] = (),
) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title("LungLens report")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, "LungLens report", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(0, 5, _latin(f"Generated {datetime.datetime.now():%Y-%m-%d %H:%M} by LungLens {__version__}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 9)
    pdf.multi_cell(0, 5, _latin(INTENDED_USE), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    _section(pdf, "Study", [("Patient", image.info.patient_name or "-"), *study_identifiers(image).rows(),
                            ("Series", image.description or "-"), ("Size", " x ".join(map(str, analysis.shape)))])
    verdicts = []
    for o in analysis.opinions:
        v = o.verdict
        p = "-" if v.probability is None else f"{v.probability:.2f}"
        t = "-" if v.threshold is None else f"{v.threshold:.2f}"
        verdicts.append((o.model_id, f"{v.label or 'no verdict'} (p {p}, threshold {t}); version {o.version}, sha256 {o.sha256[:16]}"))
    if analysis.consensus is not None and analysis.consensus.voters:
        c = analysis.consensus
        verdicts.append(("Consensus", f"{c.label} ({c.positive_votes} of {c.voters} models positive)"))
    _section(pdf, "Verdicts", verdicts or [("Models", "none ran")])
    if analysis.lung is not None:
        lung = analysis.lung
        _section(pdf, "Lungs", [
            *[(f"{side} volume", f"{lung.volume_ml[side]:.0f} ml") for side in ("right", "left", "total")],
            *[(f"share in {band} HU", f"{100 * shares['total']:.1f} %") for band, shares in lung.hu_bands.items()],
            ("severity (-750..0 HU)", f"{lung.severity_percent:.1f} %"),
        ])
    if measurements:
        _section(pdf, "Measurements", [(m.where(numbering), m.text()) for m in measurements])
    if analysis.warnings:
        _section(pdf, "Warnings", [("note", w) for w in analysis.warnings])
    for picture in pictures:
        pdf.add_page()
        pdf.set_font("Helvetica", "", 9)
        pdf.multi_cell(0, 5, _latin(picture.caption), new_x="LMARGIN", new_y="NEXT")
        pdf.image(PILImage.fromarray(picture.pixels), w=WIDTH_MM)
    return bytes(pdf.output())
