"""Exporting an analysis: a report (HTML or PDF), the current view (PNG) and the results (JSON).

For a report saved as ``NAME.html`` (or ``NAME.pdf``) three files are written side by side:

- ``NAME.html`` / ``NAME.pdf``: study summary, models and versions, verdicts and consensus, the
  per-slice curves, each model's key slice (its most confident slice) without and with its Grad-CAM,
  lung quantification, input warnings, and the rules behind the numbers. The HTML is one file with
  the pictures embedded; the PDF is the same document printed by Qt.
- ``NAME-view.png``: the views as they are on screen.
- ``NAME-analysis.json``: ``study_document`` (what ``lunglens analyze --json`` prints), with the
  reader's measurements.

The patient's name appears in the report only, as the viewer shows it; the report and the JSON
carry the identifiers a PACS matches by (patient ID, accession number, study date, UIDs). Nothing is
ever written inside the study's folders, and every file is written to a temporary name and renamed
(``inference.output_paths``), so an interrupted export leaves no half file.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QRectF, QSizeF, Qt, QUrl
from PySide6.QtGui import QColor, QFont, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter, QTextDocument

from inference import __version__
from inference.output_paths import output_problem, write_atomically
from inference.manifest import INTENDED_USE
from inference.pipelines.results import PER_SLICE_RULE, ModelOpinion, StudyAnalysis
from inference.preprocessing import PREPROCESSING_VERSION
from inference.identifiers import study_identifiers
from inference.measurements import Measurement
from inference.slice_numbers import SliceNumbering, slice_numbering
from inference.study_document import study_document
from inference.study import WINDOW_PRESETS, CTVolume, Image, Modality
from inference.verdict import CONSENSUS_RULE, VERDICT_RULE
from viewer.curves import ProbabilityCurves
from viewer.logic.display import heatmap_table, windowed_rgb32
from viewer.logic.layers import HeatmapLayer
from viewer.logic.opinion_data import (
    CAM_COLORMAP, CAM_THRESHOLD, CamMaps, finding_class, finding_probabilities, key_slice, probabilities_title,
)
from viewer.logic.summary_html import (
    consensus_line, esc, lung_block, mask_source, number, verdict_table, warnings_block,
)
from viewer.raster import blend

REPORT_SUFFIXES = (".html", ".pdf")
KEY_SLICE_SIDE = 384  # px per panel in the report
KEY_SLICE_WIDTH = 2 * KEY_SLICE_SIDE + 8
CAPTION_HEIGHT = 24
CURVES_SIZE = (960, 300)
HTML_WIDTH = 980  # px: the HTML page's column
PDF_MARGIN_MM = 15
_CSS = """
body { font-family: sans-serif; font-size: 10pt; color: #202020; max-width: 980px; }
h1 { font-size: 16pt; margin-bottom: 2px; } h2 { font-size: 12pt; margin-top: 18px; border-bottom: 1px solid #ccc; }
th { text-align: left; background: #f0f0f0; } td, th { padding: 3px 8px 3px 0; vertical-align: top; }
.banner { background: #fdf1d6; color: #5a4000; padding: 6px; font-weight: bold; }
.muted { color: #6b737d; }
"""


class ExportError(ValueError):
    """The export cannot go where asked; the message says why."""


@dataclass(frozen=True)
class ReportFiles:
    report: Path
    view: Path
    results: Path


def check_destination(path: Path, image: Image, opened: str | Path | None) -> Path:
    """``path`` with a report suffix; ExportError where it may not go (``output_paths.output_problem``:
    inside the study's folders, among others)."""
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give the report a file name (.html or .pdf)")
    if path.suffix.lower() not in REPORT_SUFFIXES:
        path = path.with_name(path.name + ".html")
    if problem := output_problem(path, Path(opened) if opened is not None else None, "file", image.source_files):
        raise ExportError(problem)
    return path


def _write(path: Path, data: bytes) -> None:
    """With the user's usual permissions: a report is made to be shared."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda tmp: tmp.write_bytes(data), mode=0o666)


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise OSError("could not encode a PNG picture")
    buffer.close()
    return bytes(data.data())


# --- pictures ----------------------------------------------------------------------------------


def _slice_of(image: Image, index: int) -> tuple[np.ndarray, bool, tuple[float, float]]:
    """(RGB32 picture, is CT, (row, column) spacing) of the slice a model read, in the lung window for CT."""
    if isinstance(image, CTVolume):
        return windowed_rgb32(image.hu[index], WINDOW_PRESETS["lung"]), True, (image.spacing[1], image.spacing[2])
    spacing = image.spacing if image.spacing and all(s > 0 for s in image.spacing) else (1.0, 1.0)
    return windowed_rgb32(image.pixels, image.default_window, image.invert), False, spacing


def key_slice_caption(opinion: ModelOpinion, numbering: SliceNumbering) -> str:
    index = key_slice(opinion)
    where = f"slice {numbering.label(index)}" if numbering.count > 1 else "the image"
    cls = finding_class(opinion)
    p = number(float(finding_probabilities(opinion)[index]))
    return f"{opinion.model_id} \u2014 {where}, p({cls}) {p}. Left as read, right with the Grad-CAM of {cls}."


def key_slice_picture(image: Image, opinion: ModelOpinion, cams: CamMaps, numbering: SliceNumbering) -> QImage | None:
    """The model's key slice twice, side by side: as read and with its Grad-CAM, under its caption
    (drawn into the picture, so no page break can separate them)."""
    index = key_slice(opinion)
    if index is None:
        return None
    base, is_ct, (row_mm, col_mm) = _slice_of(image, index)
    steps = cams.maps[finding_class(opinion)].array()
    steps = steps[index] if is_ct else steps
    overlay = heatmap_table(HeatmapLayer("cam", steps, CAM_COLORMAP, 0.5, CAM_THRESHOLD))[steps]
    plain_pixels, plain = blend(base, [])
    cam_pixels, with_cam = blend(base, [overlay])
    rows, cols = base.shape
    scale = KEY_SLICE_SIDE / max(rows * row_mm, cols * col_mm)
    width, height = max(1, round(cols * col_mm * scale)), max(1, round(rows * row_mm * scale))
    gap, top = KEY_SLICE_WIDTH - 2 * KEY_SLICE_SIDE, CAPTION_HEIGHT
    picture = QImage(2 * width + gap, height + top, QImage.Format.Format_RGB32)
    picture.fill(QColor("white"))
    painter = QPainter(picture)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    painter.setPen(QColor("#202020"))
    font = QFont(painter.font())
    font.setPixelSize(13)
    painter.setFont(font)
    painter.drawText(QRectF(0, 0, picture.width(), top - 4), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                     key_slice_caption(opinion, numbering))
    painter.drawImage(QRectF(0, top, width, height), plain)
    painter.drawImage(QRectF(width + gap, top, width, height), with_cam)
    painter.end()
    del plain_pixels, cam_pixels  # the QImages borrowed them until here
    return picture


def curves_picture(opinions: Sequence[ModelOpinion], colours: Mapping[str, str], numbering: SliceNumbering) -> QImage:
    """The per-slice curves (bars for one image) on white, for print."""
    widget = ProbabilityCurves(background="#ffffff", foreground="#202020")
    widget.values.hide()
    widget.resize(*CURVES_SIZE)
    widget.reset(numbering.count, numbering)
    widget.show_opinions(opinions, colours)
    widget.marker.hide()
    picture = widget.grab().toImage()
    widget.deleteLater()
    return picture


# --- the document ------------------------------------------------------------------------------


def _rows(pairs: Sequence[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in pairs)


def study_summary(image: Image, analysis: StudyAnalysis) -> str:
    info = image.info
    spacing = " x ".join(f"{s:g}" for s in analysis.spacing_mm) + " mm" if analysis.spacing_mm else "unknown"
    pairs = [
        ("Patient", esc(info.patient_name or "\u2014")),
        *[(label, esc(value)) for label, value in study_identifiers(image).rows()],
        ("Series", esc(image.description or "\u2014")),
        ("Modality", esc("CT series" if analysis.modality == Modality.CT else "chest X-ray")),
        ("Size", esc(" x ".join(map(str, analysis.shape)) + (" (slices, rows, columns)" if len(analysis.shape) == 3 else " (rows, columns)"))),
        ("Spacing", esc(spacing)),
    ]
    if isinstance(image, CTVolume) and image.slice_thickness_mm:
        pairs.append(("Slice thickness", f"{image.slice_thickness_mm:g} mm"))
    return f"<table>{_rows(pairs)}</table>"


def models_table(opinions: Sequence[ModelOpinion], analysis: StudyAnalysis) -> str:
    head = "<tr><th>Model</th><th>Version</th><th>Method</th><th>Classes</th><th>Finding</th><th>Threshold</th><th>Device</th><th>sha256</th></tr>"
    rows = "".join(
        f"<tr><td>{esc(o.model_id)}</td><td>{esc(o.version)}</td><td>{esc(o.method)}</td><td>{esc(', '.join(o.classes))}</td>"
        f"<td>{esc(finding_class(o))}</td><td>{number(o.verdict.threshold)}</td>"
        f"<td>{esc(o.device)}{' (cached)' if o.from_cache else ''}</td><td><tt>{esc(o.sha256[:16])}</tt></td></tr>"
        for o in opinions
    )
    mask = f"<p>Lung mask: {esc(mask_source(analysis.lung_mask))}</p>"
    return f"<table>{head}{rows}</table>{mask}"


def key_slices_section(opinions: Sequence[ModelOpinion], pictures: Mapping[str, str], numbering: SliceNumbering, width: int) -> str:
    parts = []
    for opinion in opinions:
        index = key_slice(opinion)
        if index is None or opinion.model_id not in pictures:
            parts.append(f"<p><b>{esc(opinion.model_id)}</b>: no slice analysed.</p>")
            continue
        caption = esc(key_slice_caption(opinion, numbering))
        parts.append(f'<p><img src="{pictures[opinion.model_id]}" alt="{caption}" title="{caption}" '
                     f'width="{min(KEY_SLICE_WIDTH, width)}"></p>')
    return "".join(parts)


def measurements_table(measurements: Sequence[Measurement], numbering: SliceNumbering) -> str:
    rows = "".join(f"<tr><td>{esc(m.where(numbering))}</td><td>{esc(m.text())}</td></tr>" for m in measurements)
    return f"<table><tr><th>Where</th><th>Measurement</th></tr>{rows}</table>"


def report_html(
    image: Image,
    analysis: StudyAnalysis,
    opinions: Sequence[ModelOpinion],
    colours: Mapping[str, str],
    pictures: Mapping[str, str],
    generated: datetime.datetime,
    width: int = HTML_WIDTH,
    measurements: Sequence[Measurement] = (),
) -> str:
    """The whole report; ``pictures`` maps "curves" and model ids to image sources (data: URLs or names),
    drawn at most ``width`` pixels wide (the PDF's column is narrower than a browser's)."""
    numbering = slice_numbering(image)
    slice_count = numbering.count
    sections = [
        "<h1>LungLens report</h1>",
        f'<p class="muted">Generated {generated:%Y-%m-%d %H:%M} by LungLens {esc(__version__)}</p>',
        f'<p class="banner">{esc(INTENDED_USE)}</p>',
        "<h2>Study</h2>", study_summary(image, analysis),
        "<h2>Verdict</h2>", consensus_line(analysis.consensus), verdict_table(opinions, colours, numbering),
        "<h2>Models</h2>", models_table(opinions, analysis),
    ]
    if opinions:
        title = probabilities_title(slice_count)
        key = "dashed: operating thresholds" + (", shaded: slices where the models disagree" if slice_count > 1 else "")
        # Figures start on a page of their own when printed: a heading never ends a page alone.
        sections += [f'<h2 style="page-break-before: always">{title}</h2>',
                     f'<p><img src="{pictures["curves"]}" width="{min(CURVES_SIZE[0], width)}"></p>',
                     f'<p class="muted">Colours as in the verdict table; {key}.</p>']
        sections += ["<h2>Key slices</h2>" if slice_count > 1 else "<h2>Grad-CAM</h2>",
                     key_slices_section(opinions, pictures, numbering, width)]
    if analysis.modality == Modality.CT:
        sections += ["<h2>Lungs</h2>", lung_block(analysis.lung, analysis.lung_mask)]
    if measurements:
        sections += ["<h2>Measurements</h2>", measurements_table(measurements, numbering)]
    if analysis.warnings:
        sections += ["<h2>Warnings</h2>", warnings_block(analysis.notes)]
    rules = [
        ("Study verdict", esc(VERDICT_RULE)),
        ("Consensus", esc(CONSENSUS_RULE)),
        ("Per-slice values", esc(PER_SLICE_RULE)),
        ("Grad-CAM", "normalised per slice to its own maximum: it shows where a model looked, not how sure it was"),
        ("Preprocessing version", esc(PREPROCESSING_VERSION)),
        ("Device", esc(analysis.device)),
    ]
    sections += ["<h2>How these numbers were made</h2>", f"<table>{_rows(rules)}</table>"]
    body = "".join(sections)
    return f'<html><head><meta charset="utf-8"><title>LungLens report</title><style>{_CSS}</style></head><body>{body}</body></html>'


PDF_DPI = 96  # the document is laid out in screen pixels, so the pictures keep their sizes


def pdf_column_width() -> int:
    """Pixels (at PDF_DPI) between the margins of an A4 portrait page."""
    return _pdf_layout().paintRectPixels(PDF_DPI).width()


def _pdf_layout() -> QPageLayout:
    margins = QMarginsF(PDF_MARGIN_MM, PDF_MARGIN_MM, PDF_MARGIN_MM, PDF_MARGIN_MM)
    return QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait, margins,
                       QPageLayout.Unit.Millimeter)


def _pdf_bytes(html: str, images: Mapping[str, QImage]) -> bytes:
    document = QTextDocument()
    for name, picture in images.items():
        document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), picture)
    document.setHtml(html)
    document.setDocumentMargin(0)  # the page layout has the margins; pictures use the whole column
    layout = _pdf_layout()
    page = layout.paintRectPixels(PDF_DPI)
    document.setPageSize(QSizeF(page.width(), page.height()))
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setResolution(PDF_DPI)
    writer.setPageLayout(layout)
    writer.setTitle("LungLens report")
    document.print_(writer)
    del writer  # ends the PDF
    buffer.close()
    return bytes(data.data())


def _pictures(image: Image, opinions: Sequence[ModelOpinion], cams: Mapping[str, CamMaps], colours: Mapping[str, str],
              numbering: SliceNumbering) -> dict[str, QImage]:
    """The report's figures: "curves" and each model's key slice picture."""
    images: dict[str, QImage] = {}
    if opinions:
        images["curves"] = curves_picture(opinions, colours, numbering)
        for opinion in opinions:
            picture = key_slice_picture(image, opinion, cams[opinion.model_id], numbering)
            if picture is not None:
                images[opinion.model_id] = picture
    return images


def report_pdf(
    image: Image,
    analysis: StudyAnalysis,
    opinions: Sequence[ModelOpinion],
    cams: Mapping[str, CamMaps],
    colours: Mapping[str, str],
    measurements: Sequence[Measurement] = (),
) -> bytes:
    """The report as PDF bytes (what a .pdf export writes and the DICOM export encapsulates). GUI thread."""
    pictures = _pictures(image, opinions, cams, colours, slice_numbering(image))
    names = {key: f"{key}.png" for key in pictures}
    html = report_html(image, analysis, opinions, colours, names, datetime.datetime.now(), pdf_column_width(), measurements)
    return _pdf_bytes(html, {names[key]: picture for key, picture in pictures.items()})


def export_report(
    path: str | Path,
    image: Image,
    analysis: StudyAnalysis,
    opinions: Sequence[ModelOpinion],
    cams: Mapping[str, CamMaps],
    colours: Mapping[str, str],
    view: QImage,
    opened: str | Path | None = None,
    measurements: Sequence[Measurement] = (),
) -> ReportFiles:
    """Write the report, the view and the results JSON; ExportError when ``path`` is in the study's folder."""
    path = check_destination(Path(path), image, opened)
    files = ReportFiles(path, path.with_name(f"{path.stem}-view.png"), path.with_name(f"{path.stem}-analysis.json"))
    if path.suffix.lower() == ".pdf":
        report = report_pdf(image, analysis, opinions, cams, colours, measurements)
    else:
        pictures = _pictures(image, opinions, cams, colours, slice_numbering(image))
        sources = {key: "data:image/png;base64," + base64.b64encode(png_bytes(p)).decode("ascii") for key, p in pictures.items()}
        report = report_html(image, analysis, opinions, colours, sources, datetime.datetime.now(),
                             measurements=measurements).encode("utf-8")
    outputs = {"report": files.report.name, "view": files.view.name}
    _write(files.report, report)
    _write(files.view, png_bytes(view))
    _write(files.results, json.dumps(study_document(analysis, image, outputs, measurements), indent=2).encode("utf-8"))
    return files
