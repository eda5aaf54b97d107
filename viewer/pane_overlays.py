"""What every pane draws over its image besides the corner texts: a scale bar and the heatmap legend.

Both are small widgets on the pane's graphics view, so they keep their size on screen at any zoom and
show in screenshots and reading mode alike. The scale bar has a round length (1, 2 or 5 x 10^n mm,
px when the spacing is unknown) that follows the zoom; the legend names the heatmap drawn on top
(its colormap from its threshold up; below it nothing is drawn) whenever one is visible.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QEvent, QObject, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QWidget

from viewer.logic.colormaps import colormap_table
from viewer.logic.layers import HeatmapLayer, LayerEvent
from viewer.logic.measure import scale_bar_length
from viewer.logic.overlay_style import OVERLAY_TEXT, PLATE_ALPHA

if TYPE_CHECKING:
    from viewer.slice_view import SliceView

MARGIN = 6
_PLATE = QColor(0, 0, 0, round(255 * PLATE_ALPHA))


class _PlateWidget(QWidget):
    """A transparent-for-the-mouse widget painted on a dark plate, in the overlay text's font size."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        font = QFont(self.font())
        font.setPointSizeF(8.5)
        self.setFont(font)

    def _begin(self) -> QPainter:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(_PLATE)
        painter.drawRoundedRect(QRectF(self.rect()), 2, 2)
        painter.setPen(QColor(OVERLAY_TEXT))
        return painter


class ScaleBar(_PlateWidget):
    """A bar of a round length in the patient, with its length written beside it."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.length = 0.0
        self.unit = "mm"
        self.bar_pixels = 0

    def set_scale(self, units_per_screen_pixel: float, unit: str) -> None:
        self.length = scale_bar_length(units_per_screen_pixel)
        self.unit = unit
        self.bar_pixels = round(self.length / units_per_screen_pixel) if self.length else 0
        self.setVisible(self.bar_pixels > 0)
        text_width = self.fontMetrics().horizontalAdvance(self.text())
        self.resize(self.bar_pixels + text_width + 16, self.fontMetrics().height() + 6)
        self.update()

    def text(self) -> str:
        return f"{self.length:g} {self.unit}"

    def paintEvent(self, event) -> None:
        painter = self._begin()
        y = self.height() // 2
        painter.setPen(QPen(QColor(OVERLAY_TEXT), 2))
        painter.drawLine(4, y, 4 + self.bar_pixels, y)
        for x in (4, 4 + self.bar_pixels):
            painter.drawLine(x, y - 4, x, y + 4)
        painter.drawText(QRectF(10 + self.bar_pixels, 0, self.width(), self.height()),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.text())
        painter.end()


class HeatmapLegend(_PlateWidget):
    """The colour ramp of the top visible heatmap, from its threshold (left) to 1 (right), and its name."""

    RAMP = 110

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.layer: HeatmapLayer | None = None
        self._ramp = QImage()
        self._ramp_pixels = np.zeros((1, 1), np.uint32)

    def show_layer(self, layer: HeatmapLayer | None) -> None:
        self.layer = layer
        self.setVisible(layer is not None)
        if layer is None:
            return
        table = colormap_table(layer.colormap)
        steps = np.linspace(layer.threshold, 1.0, self.RAMP)
        rgb = table[np.rint(steps * 255).astype(int)].astype(np.uint32)
        self._ramp_pixels = np.ascontiguousarray(
            np.tile((0xFF000000 | (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2])[None, :], (8, 1)))
        self._ramp = QImage(self._ramp_pixels.data, self.RAMP, 8, self.RAMP * 4, QImage.Format.Format_RGB32)
        metrics = self.fontMetrics()
        self.resize(max(self.RAMP + 60, metrics.horizontalAdvance(self.title()) + 12), 2 * metrics.height() + 14)
        self.update()

    def title(self) -> str:
        return self.layer.name if self.layer is not None else ""

    def paintEvent(self, event) -> None:
        if self.layer is None:
            return
        painter = self._begin()
        metrics = self.fontMetrics()
        line = metrics.height()
        painter.drawText(6, 3 + metrics.ascent(), self.title())
        top = line + 6
        painter.drawImage(QRectF(6 + metrics.horizontalAdvance("0.00 "), top + (line - 8) / 2, self.RAMP, 8), self._ramp)
        painter.drawText(6, top + metrics.ascent(), f"{self.layer.threshold:.2f}")
        painter.drawText(int(10 + metrics.horizontalAdvance("0.00 ") + self.RAMP), top + metrics.ascent(), "1")
        painter.end()


class PaneOverlays(QObject):
    """The scale bar and the legend of one pane, kept in place and up to date."""

    def __init__(self, pane: "SliceView") -> None:
        super().__init__(pane)
        self.pane = pane
        self.scale_bar = ScaleBar(pane.graphics)
        self.legend = HeatmapLegend(pane.graphics)
        self.scale_bar.hide()
        self.legend.hide()
        pane.graphics.installEventFilter(self)
        pane.view.sigRangeChanged.connect(lambda *_: self.update_scale())
        pane.state.imageChanged.connect(self.update_scale)
        self._disconnect = pane.layers.connect(self._on_layers)
        pane.destroyed.connect(lambda *_: self._disconnect())

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.update_scale()
        return False

    def update_scale(self) -> None:
        pane = self.pane
        if not pane.has_image:
            self.scale_bar.hide()
            return
        units_per_pixel = pane.view.viewPixelSize()[0]
        self.scale_bar.set_scale(units_per_pixel, pane.length_unit)
        self.place()

    def _on_layers(self, event: LayerEvent) -> None:
        shown = [layer for layer in self.pane.layers if isinstance(layer, HeatmapLayer) and layer.visible]
        self.legend.show_layer(shown[-1] if shown else None)
        self.place()

    def place(self) -> None:
        """Bottom centre, above the bottom texts (a narrow pane has no room beside them)."""
        graphics = self.pane.graphics
        w, h = graphics.width(), graphics.height()
        bottom = h - MARGIN - self.pane.bottom_text_height() - 4
        self.scale_bar.move((w - self.scale_bar.width()) // 2, bottom - self.scale_bar.height())
        self.legend.move((w - self.legend.width()) // 2, bottom - self.scale_bar.height() - 4 - self.legend.height())
