"""The pane layouts: 1x1, 1x3 (axial, coronal, sagittal) and 2x2 (the three planes + an overview).

The 2x2 overview is a coronal average projection of the whole volume (like the CT localiser) with
the current axial level drawn across it; clicking it moves the axial slice there. It costs one pass
over the volume, computed on the thread pool the first time the 2x2 layout is shown for a series.
An X-ray always shows one projection pane, whatever layout is chosen.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from viewer.logic.display import windowed_rgb32
from viewer.logic.planes import mpr_plane
from viewer.raster import RasterItem
from viewer.slice_view import PLANE_COLOURS, SliceView
from viewer.tasks import run_in_background
from viewer.view_state import ViewState

LAYOUTS: tuple[str, ...] = ("1x1", "1x3", "2x2")


class OverviewPane(QFrame):
    """Coronal average projection with the axial level marked; a click or drag picks the axial slice."""

    def __init__(self, state: ViewState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.projection: np.ndarray | None = None
        self._for_image = None
        self.setObjectName("pane")
        self.setStyleSheet("QFrame#pane { border: 1px solid #2a2f36; background: black; }")
        self.graphics = pg.GraphicsView(background="k")
        self.graphics.setFrameShape(QFrame.Shape.NoFrame)
        self.view = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False, enableMouse=False)
        self.graphics.setCentralItem(self.view)
        self.image_item = RasterItem(opaque=True)
        self.view.addItem(self.image_item)
        self.level_line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(PLANE_COLOURS["axial"], width=1.5))
        self.view.addItem(self.level_line, ignoreBounds=True)
        self.title = QLabel("<b>OVERVIEW</b><br>coronal average projection", self.graphics)
        self.title.setStyleSheet("color: #e6e6e6; background: transparent; font-size: 11px;")
        self.title.move(6, 6)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.addWidget(self.graphics)
        self.graphics.scene().sigMouseClicked.connect(self._on_click)
        state.imageChanged.connect(self.refresh)
        state.windowChanged.connect(self._render)
        state.cursorChanged.connect(self._place_line)

    def refresh(self) -> None:
        """Start computing the projection of the open CT if not done yet (only while shown)."""
        source = self.state.source
        if source is None or not source.is_ct:
            self.projection, self._for_image = None, None
            self.image_item.clear()
            return
        if not self.isVisible() or self._for_image is source.image:
            return
        self._for_image = source.image
        self.projection = None
        self.image_item.clear()
        plane = mpr_plane("coronal", source.image.direction)
        values = plane.view(source.values)
        image = source.image
        run_in_background(
            lambda: np.rint(values.mean(axis=0, dtype=np.float32)).astype(np.int16),
            lambda projection: self._on_projection(image, projection, plane),
            self,
        )

    def _on_projection(self, image, projection: np.ndarray, plane) -> None:
        if self.state.source is None or self.state.source.image is not image:
            return
        self.projection, self._plane = projection, plane
        sy, sx = plane.pixel_spacing(self.state.source.spacing)
        self._rect = QRectF(0, 0, projection.shape[1] * sx, projection.shape[0] * sy)
        self._row_mm = sy
        self._render()
        self._place_line()
        self.view.setRange(rect=self._rect, padding=0.02)

    def _render(self) -> None:
        if self.projection is not None:
            self.image_item.set_pixels(windowed_rgb32(self.projection, self.state.window, self.state.invert), self._rect)

    def _place_line(self) -> None:
        if self.projection is not None:
            _, row, _ = self._plane.from_array_index(self.state.cursor, self.state.source.shape)
            self.level_line.setPos((row + 0.5) * self._row_mm)

    def _on_click(self, event) -> None:
        if self.projection is None or event.button() != Qt.MouseButton.LeftButton:
            return
        point = self.view.mapSceneToView(event.scenePos())
        row = int(point.y() // self._row_mm)
        k, _, col = self._plane.from_array_index(self.state.cursor, self.state.source.shape)
        self.state.set_cursor(self._plane.to_array_index(k, min(max(row, 0), self.projection.shape[0] - 1), col,
                                                         self.state.source.shape))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()


class ViewGrid(QWidget):
    """The central area: the panes of the open image in the chosen layout, one of them active."""

    activePaneChanged = Signal(object)
    hovered = Signal(object)

    def __init__(self, state: ViewState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.panes: dict[str, SliceView] = {
            name: SliceView(state, name, parent=self) for name in ("axial", "coronal", "sagittal", "projection")
        }
        self.overview = OverviewPane(state, self)
        self.layout_name = "1x3"
        self._maximised_from: str | None = None
        self.active: SliceView = self.panes["axial"]
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(2)
        for pane in self.panes.values():
            pane.activated.connect(self.set_active)
            pane.maximiseRequested.connect(self.toggle_maximise)
            pane.hovered.connect(self.hovered)
            pane.hide()
        self.overview.hide()
        state.imageChanged.connect(self._on_image)
        self._arrange()

    @property
    def is_ct(self) -> bool:
        return self.state.source is not None and self.state.source.is_ct

    def visible_panes(self) -> list[SliceView]:
        return [pane for pane in self.panes.values() if pane.isVisibleTo(self)]

    def set_layout(self, name: str) -> None:
        if name not in LAYOUTS:
            raise ValueError(f"unknown layout {name!r}; layouts: {', '.join(LAYOUTS)}")
        self.layout_name = name
        self._maximised_from = None
        self._arrange()

    def toggle_maximise(self, pane: SliceView) -> None:
        """Double-click behaviour: show this pane alone, and back to the previous layout."""
        if self._maximised_from is not None:
            self.layout_name, self._maximised_from = self._maximised_from, None
        elif self.is_ct:
            self._maximised_from, self.layout_name = self.layout_name, "1x1"
            self.set_active(pane)
        self._arrange()

    def set_active(self, pane: SliceView) -> None:
        if pane is self.active:
            return
        self.active.set_active(False)
        self.active = pane
        pane.set_active(True)
        self.activePaneChanged.emit(pane)

    def cycle_active(self, step: int) -> None:
        panes = self.visible_panes()
        if self.active in panes and len(panes) > 1:
            self.set_active(panes[(panes.index(self.active) + step) % len(panes)])

    def _on_image(self) -> None:
        wanted = "axial" if self.is_ct else "projection"
        if self.is_ct and self.active.plane_name in ("axial", "coronal", "sagittal"):
            wanted = self.active.plane_name
        self._arrange()
        self.active.set_active(False)
        self.active = self.panes[wanted]
        self.active.set_active(True)
        self.activePaneChanged.emit(self.active)

    def _arrange(self) -> None:
        for widget in (*self.panes.values(), self.overview):
            self._grid.removeWidget(widget)
            widget.hide()
        for r in range(2):
            self._grid.setRowStretch(r, 0)
            self._grid.setColumnStretch(r, 0)
        self._grid.setColumnStretch(2, 0)
        if not self.is_ct:
            cells = [(self.panes["projection"], 0, 0)]
        elif self.state.source.shape[0] == 1:  # one CT slice (or the quick look while a series loads): no MPR
            cells = [(self.panes["axial"], 0, 0)]
        elif self.layout_name == "1x1":
            active = self.active if self.active.plane_name != "projection" else self.panes["axial"]
            cells = [(active, 0, 0)]
        elif self.layout_name == "1x3":
            cells = [(self.panes[name], 0, c) for c, name in enumerate(("axial", "coronal", "sagittal"))]
        else:
            cells = [(self.panes["axial"], 0, 0), (self.panes["coronal"], 0, 1),
                     (self.panes["sagittal"], 1, 0), (self.overview, 1, 1)]
        for widget, row, col in cells:
            self._grid.addWidget(widget, row, col)
            self._grid.setRowStretch(row, 1)
            self._grid.setColumnStretch(col, 1)
            widget.show()
        for pane in self.visible_panes():
            pane.fit()
