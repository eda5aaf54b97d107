"""Per-slice probability curves: every model's finding probability along the series, in one plot.

x is the slice number as the axial pane and a PACS show it (``inference.slice_numbers``), y the calibrated probability of
each model's finding, with its operating threshold dashed in the same colour. Slices where the
models disagree (one at or over its threshold, another under it) are shaded. A marker follows the
current slice; clicking the plot or dragging the marker moves the viewer there. Wheel and drag zoom
and pan along the series only. A single image (an X-ray) becomes one bar per model instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from inference.pipelines.results import ModelOpinion
from inference.slice_numbers import BY_POSITION, SliceNumbering
from viewer.logic.opinion_data import disagreement, finding_class, finding_probabilities, probabilities_title, runs
from viewer.logic.summary_html import esc, number

DISAGREEMENT_BRUSH = (240, 185, 74, 60)
MARKER_COLOUR = "#e8553e"  # the axial pane's colour: the marker is the axial level


class ProbabilityCurves(QWidget):
    """The plot plus a line of values at the current slice; ``sliceClicked(index)`` asks to show a slice."""

    sliceClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None, background: str = "#101316", foreground: str = "#d5d9de") -> None:
        super().__init__(parent)
        self.foreground = foreground
        self.plot = pg.PlotWidget(background=background)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.setYRange(-0.02, 1.06, padding=0)
        self.plot.showGrid(x=False, y=True, alpha=0.15)
        for side in ("left", "bottom"):
            axis = self.plot.getAxis(side)
            axis.setPen(pg.mkPen(foreground))
            axis.setTextPen(pg.mkPen(foreground))
            # slice numbers and model bars are plain counts: never "(x0.001)" on the axis label
            axis.enableAutoSIPrefix(False)
        self.plot.setLabel("left", "probability", color=foreground)
        self.values = QLabel("")
        self.values.setTextFormat(Qt.TextFormat.RichText)
        self.values.setWordWrap(True)  # a line per model would otherwise set the panel's (and window's) width
        self.values.setStyleSheet(f"color: {foreground}; padding: 2px 6px;")
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        box.addWidget(self.values)
        box.addWidget(self.plot, 1)

        self.marker = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen(MARKER_COLOUR, width=1.5),
                                      hoverPen=pg.mkPen(MARKER_COLOUR, width=3))
        self.marker.setZValue(50)
        self.marker.sigDragged.connect(lambda line: self.sliceClicked.emit(self._index_at(line.value())))
        self.plot.scene().sigMouseClicked.connect(self._on_click)
        self.slice_count = 0
        self.numbering = SliceNumbering((1,), (), BY_POSITION)
        self.current = 0
        self.opinions: list[ModelOpinion] = []
        self.colours: dict[str, str] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.bands: list[pg.LinearRegionItem] = []
        self.bars: pg.BarGraphItem | None = None
        self.reset(0)

    @property
    def is_single_image(self) -> bool:
        return self.slice_count == 1

    def reset(self, slice_count: int, numbering: SliceNumbering | None = None) -> None:
        """A new study of ``slice_count`` slices (1 = a single image), numbered by ``numbering``
        (default: 1..n in array order); no curves yet."""
        self.slice_count = slice_count
        self.numbering = numbering or SliceNumbering(tuple(range(1, slice_count + 1)), (), BY_POSITION)
        self.opinions, self.colours = [], {}
        self._clear_items()
        self.setWindowTitle(probabilities_title(slice_count))  # the dock follows it (windowTitleChanged)
        self.plot.setLabel("bottom", "model" if self.is_single_image else "slice", color=self.foreground)
        if slice_count > 1:
            low, high = min(self.numbering.numbers) - 0.5, max(self.numbering.numbers) + 0.5
            self.plot.setLimits(xMin=low, xMax=high, minXRange=min(5, slice_count))
            self.plot.setXRange(low, high, padding=0)
            self.plot.getAxis("bottom").setTicks(None)
        else:  # one image, or none: no slice axis left over from a series (its bars bring their own ticks)
            self.plot.setLimits(xMin=None, xMax=None, minXRange=None)
            self.plot.setXRange(-0.6, 0.4, padding=0)
            self.plot.getAxis("bottom").setTicks([[]])
        self._show_values()

    def show_opinions(self, opinions: Sequence[ModelOpinion], colours: Mapping[str, str]) -> None:
        """Draw these models' curves (or bars), replacing what was drawn."""
        self.opinions, self.colours = list(opinions), dict(colours)
        self._clear_items()
        if self.slice_count == 0 or not self.opinions:
            self._show_values()
            return
        if self.is_single_image:
            self._draw_bars()
        else:
            self._draw_curves()
        self._show_values()

    def set_current(self, index: int) -> None:
        self.current = int(index)
        if self.slice_count > 1:
            self.marker.setValue(self._x(self.current))
        self._show_values()

    def curve_data(self, model_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(slice numbers, probabilities) drawn for one model; NaN where the model did not look."""
        x, y = self.curves[model_id].getData()
        return np.asarray(x), np.asarray(y)

    # --- drawing -------------------------------------------------------------------------------

    def _clear_items(self) -> None:
        self.plot.clear()  # removes curves, bands, bars, thresholds and the marker
        self.curves, self.bands, self.bars = {}, [], None

    def _x(self, index: int) -> float:
        """The x of array slice ``index``: its number."""
        return float(self.numbering.number(min(max(index, 0), self.slice_count - 1)))

    def _draw_curves(self) -> None:
        x = np.asarray(self.numbering.numbers, dtype=float)
        for first, end in runs(disagreement(self.opinions)):
            numbers = x[first:end]
            band = pg.LinearRegionItem((numbers.min() - 0.5, numbers.max() + 0.5), movable=False, brush=pg.mkBrush(*DISAGREEMENT_BRUSH),
                                       pen=pg.mkPen(None))
            band.setZValue(-10)
            self.plot.addItem(band)
            self.bands.append(band)
        symbols = self.slice_count <= 120  # dots help on short series, blur long ones
        for opinion in self.opinions:
            colour = self.colours.get(opinion.model_id, "#888")
            y = finding_probabilities(opinion)
            dots = symbols and bool(np.isfinite(y).any())  # a model that looked at no slice has no dots to draw
            self.curves[opinion.model_id] = self.plot.plot(
                x, y, pen=pg.mkPen(colour, width=2), connect="finite",
                symbol="o" if dots else None, symbolSize=4, symbolBrush=colour, symbolPen=None,
            )
            if opinion.verdict.per_slice_threshold is not None:
                threshold = pg.InfiniteLine(opinion.verdict.per_slice_threshold, angle=0, movable=False,
                                            pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine))
                self.plot.addItem(threshold, ignoreBounds=True)
        self.plot.addItem(self.marker, ignoreBounds=True)
        self.marker.setValue(self._x(self.current))

    def _draw_bars(self) -> None:
        x = np.arange(len(self.opinions), dtype=float)
        heights = [float(np.nan_to_num(finding_probabilities(o)[0])) for o in self.opinions]
        brushes = [pg.mkBrush(self.colours.get(o.model_id, "#888")) for o in self.opinions]
        self.bars = pg.BarGraphItem(x=x, height=heights, width=0.6, brushes=brushes)
        self.plot.addItem(self.bars)
        for i, opinion in enumerate(self.opinions):
            if opinion.verdict.per_slice_threshold is not None:
                tick = pg.PlotDataItem([i - 0.4, i + 0.4], [opinion.verdict.per_slice_threshold] * 2,
                                       pen=pg.mkPen(self.foreground, width=2, style=Qt.PenStyle.DashLine))
                self.plot.addItem(tick)
        labels = [(i, f"{o.model_id} p({finding_class(o)})") for i, o in enumerate(self.opinions)]
        self.plot.getAxis("bottom").setTicks([labels])
        self.plot.setLimits(xMin=-0.6, xMax=len(self.opinions) - 0.4, minXRange=1)
        self.plot.setXRange(-0.6, len(self.opinions) - 0.4, padding=0)

    def _show_values(self) -> None:
        """'Slice 12/24: ct_plain p(COVID) 0.33, ct_masked p(COVID) 0.90, models disagree': the numbers
        behind the marker, and the key to the plot (the colours, dashes and shading)."""
        if not self.opinions or self.slice_count == 0:
            self.values.setText("Per-slice probabilities appear here once the study is analysed.")
            return
        k = min(self.current, self.slice_count - 1) if not self.is_single_image else 0
        parts = []
        for opinion in self.opinions:
            colour = self.colours.get(opinion.model_id, "#888")
            parts.append(f'<span style="color:{colour}">\u25a0 {esc(opinion.model_id)}</span> '
                         f"p({esc(finding_class(opinion))}) <b>{number(float(finding_probabilities(opinion)[k]))}</b>")
        head = "Image" if self.is_single_image else f"Slice {self.numbering.label(k)}"
        disagree = (not self.is_single_image) and bool(disagreement(self.opinions)[k])
        key = "dashed: operating threshold" + ("" if self.is_single_image else ", shaded: the models disagree")
        self.values.setText(f"<b>{head}</b>: " + ", ".join(parts)
                            + (' <b style="color:#f0b94a">models disagree</b>' if disagree else "")
                            + f'<br><span style="color:#8b949e">{key}</span>')

    def _index_at(self, x: float) -> int:
        return self.numbering.index_of(x)

    def _on_click(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.slice_count <= 1 or not self.opinions:
            return
        box = self.plot.plotItem.vb
        if not box.sceneBoundingRect().contains(event.scenePos()):
            return
        self.sliceClicked.emit(self._index_at(box.mapSceneToView(event.scenePos()).x()))
