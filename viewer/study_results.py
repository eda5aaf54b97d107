"""The DICOM SEG and SR a study folder holds beside its images, in the viewer.

A SEG's segments become layers on the series whose slices it cites: a binary or labelmap SEG one
label layer (outlined, as the lung mask), a fractional SEG (e.g. LungLens's Grad-CAMs) one heatmap
per segment, hidden and decoded only when ticked. Every result's reading (what it is, which series,
its segments or an SR's findings) is listed in the "DICOM results" panel. Files are read off the
GUI thread; what arrives for an image no longer shown is dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QTextBrowser

from inference.dicom_in.objects import DicomInError
from inference.dicom_in.reading import ResultReading, read_result
from inference.dicom_in.segmentation import PlacedSegmentation, segment_fraction
from inference.study import DicomResult, Image, ResultKind
from viewer.logic.layers import HeatmapLayer, LabelLayer, LazyMap, Layer
from viewer.logic.opinion_data import MASK_OPACITY
from viewer.logic.summary_html import MUTED_COLOUR, esc
from viewer.tasks import run_in_background

if TYPE_CHECKING:
    from viewer.main_window import MainWindow


def segmentation_layers(placed: PlacedSegmentation) -> list[Layer]:
    """A SEG's layers; label data is decoded here (off the GUI thread), fractional maps when first shown."""
    if placed.fractional:
        return [HeatmapLayer(f"SEG: {placed.name}, {segment.label}",
                             LazyMap(placed.image.shape, partial(segment_fraction, placed.result, placed.image, segment.number)),
                             visible=False)
                for segment in placed.segments]
    labels, names = placed.labels()
    return [LabelLayer(f"SEG: {placed.name}", labels, label_names=names, opacity=MASK_OPACITY, contour=True)]


def read_for_image(results: Sequence[DicomResult], image: Image, images: Sequence[Image]) -> tuple[list[ResultReading], list[Layer]]:
    """Every result's reading, and the layers of the SEGs that cite ``image``. Not on the GUI thread."""
    readings, layers = [], []
    for result in results:
        reading = read_result(result, images)
        if result.kind == ResultKind.SEGMENTATION and reading.image is image and not reading.problem:
            try:
                layers += segmentation_layers(PlacedSegmentation(result, image))
            except DicomInError as exc:
                reading = ResultReading(result, reading.title, image, reading.lines, reading.by_lunglens, str(exc))
        readings.append(reading)
    return readings, layers


def _where(reading: ResultReading, shown: Image | None) -> str:
    if reading.problem:
        return f'<span style="color:#e15759">{esc(reading.problem)}</span>'
    if reading.image is shown:
        return "on this series" + (" (shown as layers)" if reading.result.kind == ResultKind.SEGMENTATION else "")
    return f"on series {esc(reading.image.description or '(no description)')}"


def results_html(readings: Sequence[ResultReading], shown: Image | None) -> str:
    if not readings:
        return f'<p style="color:{MUTED_COLOUR}">No DICOM SEG or SR in this study.</p>'
    parts = []
    for reading in sorted(readings, key=lambda r: r.result.kind != ResultKind.REPORT):  # findings first
        who = " by LungLens" if reading.by_lunglens else ""
        parts.append(f"<p><b>{esc(reading.title)}</b><br>"
                     f'<span style="color:{MUTED_COLOUR}">{reading.result.kind.value}{who}, {_where(reading, shown)}</span></p>')
        if reading.lines:
            parts.append("<ul>" + "".join(f"<li>{esc(line)}</li>" for line in reading.lines) + "</ul>")
    return "".join(parts)


class StudyResults(QObject):
    """The open study's SEG/SR results: layers on the shown series and the panel's list."""

    available = Signal(bool)  # the study has results (the window shows the panel)

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window = window
        self.panel = QTextBrowser()
        self.panel.setOpenLinks(False)
        self.results: tuple[DicomResult, ...] = ()
        self.readings: list[ResultReading] = []
        self.layer_names: list[str] = []
        window.state.imageChanged.connect(self._on_image)
        window.loadingFinished.connect(self._refresh)
        self.set_results(())

    def set_results(self, results: Sequence[DicomResult]) -> None:
        """The results the scan found (none for images opened from memory)."""
        self.results = tuple(results)
        self.readings, self.layer_names = [], []
        self.panel.setHtml(results_html([], None) if not self.results else "<p>Reading the study's DICOM results\u2026</p>")
        self.available.emit(bool(self.results))

    def _on_image(self) -> None:
        self.layer_names = []  # the layers went with the previous image
        self._refresh()

    def _refresh(self) -> None:
        image = self.window.image
        if not self.results or image is None or self.window.showing_preview:
            return
        results, images = self.results, list(self.window.images.values())
        run_in_background(lambda: read_for_image(results, image, images), lambda found: self._show(image, *found), self,
                          lambda message: self.panel.setHtml(f"<p>The DICOM results could not be read: {esc(message)}</p>"))

    def _show(self, image: Image, readings: list[ResultReading], layers: list[Layer]) -> None:
        if self.window.image is not image:
            return  # another series is shown since
        self.readings = readings
        for layer in layers:
            if layer.name not in self.layer_names:
                name = self.window.layers.unique_name(layer.name)
                self.window.layers.add(dataclasses.replace(layer, name=name))
                self.layer_names.append(layer.name)
        self.panel.setHtml(results_html(readings, image))

