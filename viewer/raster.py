"""A graphics item that paints one 32-bit image into a rectangle of the scene, nothing else.

pyqtgraph's ImageItem hands Qt 8-bit indexed images that Qt converts on every paint (3-4 ms at
1024x1024 here); this item keeps the RGB32 / premultiplied ARGB32 buffer made by viewer.display and
Qt blits it as is (0.5-0.9 ms). See viewer/display.py for the measurements.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem


class RasterItem(QGraphicsItem):
    """Paints a (rows, cols) uint32 pixel buffer stretched over ``rect`` (scene units, e.g. mm)."""

    def __init__(self, opaque: bool) -> None:
        super().__init__()
        self._format = QImage.Format.Format_RGB32 if opaque else QImage.Format.Format_ARGB32_Premultiplied
        self._pixels: np.ndarray | None = None
        self._qimage: QImage | None = None
        self._rect = QRectF()
        self.smooth = False

    def set_pixels(self, pixels: np.ndarray, rect: QRectF) -> None:
        pixels = np.ascontiguousarray(pixels, dtype=np.uint32)
        rows, cols = pixels.shape
        self._pixels = pixels  # the QImage borrows this buffer
        self._qimage = QImage(pixels.data, cols, rows, cols * 4, self._format)
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = QRectF(rect)
        self.update()

    def clear(self) -> None:
        self._pixels, self._qimage = None, None
        self.update()

    @property
    def pixels(self) -> np.ndarray | None:
        return self._pixels

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if self._qimage is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.smooth)
            painter.drawImage(self._rect, self._qimage)
