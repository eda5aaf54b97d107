"""A graphics item that paints one 32-bit image (a slice with its overlays) into a rectangle of the scene.

pyqtgraph's ImageItem hands Qt 8-bit indexed images that Qt converts on every paint (3-4 ms at
1024x1024 here); this item keeps the RGB32 buffer made by viewer.logic.display and Qt blits it as is
(0.5 ms). Overlays are blended onto the slice once, at the slice's own resolution (0.2 ms per
layer at 512x512), instead of each being scaled to the screen on every paint (0.9 ms per layer).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem


def _qimage(pixels: np.ndarray, image_format: QImage.Format) -> QImage:
    rows, cols = pixels.shape
    return QImage(pixels.data, cols, rows, cols * 4, image_format)


def blend(pixels: np.ndarray, overlays: Sequence[np.ndarray], opaque: bool = True) -> tuple[np.ndarray, QImage]:
    """``pixels`` (RGB32, or premultiplied ARGB32) with ``overlays`` (premultiplied ARGB32, same shape)
    drawn on in order: the new buffer and a QImage that borrows it (keep the buffer alive, or copy)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint32)
    if overlays:
        pixels = pixels.copy()
    qimage = _qimage(pixels, QImage.Format.Format_RGB32 if opaque else QImage.Format.Format_ARGB32_Premultiplied)
    if overlays:
        painter = QPainter(qimage)
        for overlay in overlays:
            overlay = np.ascontiguousarray(overlay, dtype=np.uint32)
            painter.drawImage(0, 0, _qimage(overlay, QImage.Format.Format_ARGB32_Premultiplied))
        painter.end()
    return pixels, qimage


class RasterItem(QGraphicsItem):
    """Paints a (rows, cols) uint32 pixel buffer stretched over ``rect`` (scene units, e.g. mm)."""

    def __init__(self, opaque: bool) -> None:
        super().__init__()
        self._opaque = opaque
        self._pixels: np.ndarray | None = None
        self._qimage: QImage | None = None
        self._rect = QRectF()

    def set_pixels(self, pixels: np.ndarray, rect: QRectF, overlays: Sequence[np.ndarray] = ()) -> None:
        """Show ``pixels`` (RGB32, or premultiplied ARGB32) with ``overlays`` (premultiplied ARGB32, same
        shape) blended on top in order; ``pixels`` itself is left untouched."""
        pixels, qimage = blend(pixels, overlays, self._opaque)
        self._pixels, self._qimage = pixels, qimage  # the QImage borrows the numpy buffer
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
            painter.drawImage(self._rect, self._qimage)
