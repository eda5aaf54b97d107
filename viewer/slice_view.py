"""One image pane: a slice of the open image in a pyqtgraph ViewBox with overlays, text and tools.

Scene coordinates are millimetres when the pixel spacing is known (pixels otherwise), with y down,
so anisotropic voxels keep their true aspect and measurements come out in mm directly.
Mouse (OHIF-like): wheel scrolls, Ctrl+wheel zooms, middle-drag pans, right-drag sets window/level,
left-drag does the active tool (window/level, pan, zoom, crosshair, or an annotation: viewer.annotations).

Slicing stays on the GUI thread on purpose. Measured with bench/bench_slicing.py (512x512 slices,
1024x1024 pane): taking a slice is a numpy view (microseconds; a sagittal gather ~0.5 ms), the
window and overlay lookups 1-2 ms, and the rest of a scroll step is Qt painting, which must run on
the GUI thread anyway. A worker thread would add a queue hop and a frame of lag for under 2 ms of
work that mostly holds the GIL; Qt already coalesces repaints when wheel events outpace them.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from inference.study import Window
from viewer.annotations.overlay import ANNOTATION_TOOLS, CLICK_TOOLS, DRAG_TOOLS, AnnotationOverlay
from viewer.logic.display import grey_of, heatmap_table, label_edges, label_table, windowed_rgb32
from viewer.logic.layers import HeatmapLayer, Layer, LayerEvent, LayerList
from viewer.logic.overlay_style import EDGE_STYLE, OVERLAY_STYLE
from viewer.logic.planes import MPR_PLANES, PROJECTION, Plane, edge_labels, mpr_plane, next_slice_step, radiograph_edge_labels
from viewer.pane_overlays import PaneOverlays
from viewer.raster import RasterItem
from viewer.view_state import HoverInfo, ViewState

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

PLANE_COLOURS = {"axial": "#e8553e", "coronal": "#3f9ce8", "sagittal": "#4cc46a", "projection": "#9aa4b1"}
TOOLS = ("wl", "pan", "zoom", "crosshair", *ANNOTATION_TOOLS)


class _PaneViewBox(pg.ViewBox):
    """A ViewBox whose wheel scrolls slices and whose drags follow the pane's tool."""

    def __init__(self, pane: "SliceView") -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.02)
        self._pane = pane
        self._wheel = 0

    def wheelEvent(self, ev, axis=None):
        self._pane.activated.emit(self._pane)
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev, axis)
            return
        # One slice per wheel notch (120); touchpads send many small deltas that add up to notches.
        self._wheel += ev.delta()
        steps = int(self._wheel / 120)
        self._wheel -= steps * 120
        if steps:
            self._pane.scroll(-steps)
        ev.accept()

    def mouseDragEvent(self, ev, axis=None):
        if ev.isStart():
            self._pane.activated.emit(self._pane)
        if not self._pane.handle_drag(ev):
            super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev):
        self._pane.activated.emit(self._pane)
        self._pane.handle_click(ev)


class SliceView(QFrame):
    """One pane showing ``plane`` ("axial", "coronal", "sagittal" or "projection") of a ViewState's image.

    ``layers`` defaults to the state's LayerList; a compare view may pass its own.
    """

    hovered = Signal(object)
    activated = Signal(object)
    maximiseRequested = Signal(object)

    def __init__(self, state: ViewState, plane_name: str, layers: LayerList | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.plane_name = plane_name
        self.plane: Plane = PROJECTION
        self.layers = layers if layers is not None else state.layers
        self.tool = "wl"
        self.caption = ""
        self.show_crosshair = True
        self.pixel_size: tuple[float, float] = (1.0, 1.0)
        self._stack: np.ndarray | None = None
        self._shown_slice: int | None = None
        self._rect = QRectF()
        self._base = np.zeros((1, 1), np.uint32)
        self._layer_tables: dict[str, np.ndarray] = {}
        self._layer_pixels: dict[str, np.ndarray] = {}
        self._mouse_at: QPointF | None = None  # scene position of the mouse, for the readout after a scroll
        self._drag_start_window: Window | None = None

        self.setObjectName("pane")
        self.set_active(False)
        self.graphics = pg.GraphicsView(background="k")
        self.graphics.setFrameShape(QFrame.Shape.NoFrame)
        self.view = _PaneViewBox(self)
        self.graphics.setCentralItem(self.view)
        self.image_item = RasterItem(opaque=True)
        self.view.addItem(self.image_item)
        colour = PLANE_COLOURS.get(plane_name, "#9aa4b1")
        self._vline = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(colour, width=1))
        self._hline = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(colour, width=1))
        for line in (self._vline, self._hline):
            line.setZValue(200)
            line.setVisible(False)
            self.view.addItem(line, ignoreBounds=True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.addWidget(self.graphics)
        self._corner = {key: self._overlay_label(OVERLAY_STYLE) for key in ("tl", "tr", "bl", "br")}
        self._corner["tl"].setWordWrap(True)
        self._edge = {key: self._overlay_label(EDGE_STYLE) for key in ("left", "right", "top", "bottom")}
        for key in ("tr", "br"):
            self._corner[key].setAlignment(Qt.AlignmentFlag.AlignRight)
        self._placeholder = self._overlay_label("color: #7d8590; font-size: 14px; background: transparent;")
        self._placeholder.setText("Open a study: Ctrl+O, drag a DICOM folder or file here,\nor File > Recent studies")
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.view.sigRangeChanged.connect(lambda *_: self._update_text())
        state.imageChanged.connect(self._on_image)
        state.windowChanged.connect(self._on_window)
        state.cursorChanged.connect(self._on_cursor)
        disconnect = self.layers.connect(self._on_layer_event)
        self.annotation_overlay = AnnotationOverlay(self, state.annotations)
        self.overlays = PaneOverlays(self)  # scale bar and heatmap legend
        self.destroyed.connect(lambda *_: (disconnect(), self.annotation_overlay.disconnect()))
        self._on_image()

    # --- what is shown -------------------------------------------------------------------------

    @property
    def has_image(self) -> bool:
        return self._stack is not None

    @property
    def slice_count(self) -> int:
        return 0 if self._stack is None else self._stack.shape[0]

    @property
    def slice_index(self) -> int:
        if self.state.source is None:
            return 0
        return self.plane.from_array_index(self.state.cursor, self.state.source.shape)[0]

    @property
    def length_unit(self) -> str:
        return "mm" if self.state.source is not None and self.state.source.spacing_known else "px"

    @property
    def value_unit(self) -> str:
        return self.state.source.unit if self.state.source is not None else ""

    def slice_values(self, index: int | None = None) -> np.ndarray:
        """The raw values (HU for CT) of a slice as shown on screen (rows, columns)."""
        return self._stack[self.slice_index if index is None else index]

    def displayed_image(self) -> np.ndarray:
        """The uint8 grey image of the shown slice after window, level and inversion (without overlays)."""
        return grey_of(self._base)

    def layer_pixels(self, name: str) -> np.ndarray | None:
        """The premultiplied ARGB32 pixels of a layer on the shown slice; None while it is hidden."""
        return self._layer_pixels.get(name)

    def composited_pixels(self) -> np.ndarray:
        """RGB32 pixels handed to the screen: the windowed slice with every visible overlay blended on."""
        return self.image_item.pixels

    def set_slice(self, index: int) -> None:
        if self.state.source is None:
            return
        index = int(min(max(index, 0), self.slice_count - 1))
        shape = self.state.source.shape
        _, row, col = self.plane.from_array_index(self.state.cursor, shape)
        self.state.set_cursor(self.plane.to_array_index(index, row, col, shape))

    @property
    def slice_step(self) -> int:
        """The array index change of one slice on in reading order (axial: toward the feet)."""
        source = self.state.source
        return next_slice_step(self.plane, source.image.direction if source is not None and source.is_ct else None)

    def scroll(self, delta: int) -> None:
        """``delta`` slices on in reading order (negative: back): wheel down and Down go toward the feet."""
        self.set_slice(self.slice_index + delta * self.slice_step)

    def go_to_end(self, last: bool) -> None:
        """The first slice in reading order (the head end of an axial series), or the last."""
        at_start = 0 if self.slice_step > 0 else self.slice_count - 1
        self.set_slice(self.slice_count - 1 - at_start if last else at_start)

    def set_slice_number(self, number: int) -> None:
        """Show the slice with this number as ``slice_label`` shows it (e.g. from the command line)."""
        if self.plane.name == "axial" and self.plane.axes[0] == 0:
            self.set_slice(self.state.source.numbering.index_of(number))
        else:
            self.set_slice(number - 1 if self.slice_step > 0 else self.slice_count - number)

    def reading_position(self) -> int:
        """1-based place of the shown slice in reading order."""
        return self.slice_index + 1 if self.slice_step > 0 else self.slice_count - self.slice_index

    def slice_label(self) -> str:
        """'Slice 22/64' as a PACS numbers it: the axial pane by InstanceNumber (else head to foot),
        the other planes by their place in reading order."""
        n = self.slice_count
        if n <= 1:
            return "Image 1/1"
        if self.plane.name == "axial" and self.plane.axes[0] == 0:
            return f"Slice {self.state.source.numbering.label(self.slice_index)}"
        return f"Slice {self.reading_position()}/{n}"

    def fit(self) -> None:
        if self.has_image:
            self.view.setRange(rect=self._rect, padding=0.02)

    def zoom(self, factor: float) -> None:
        if self.has_image:
            self.view.scaleBy((1.0 / factor, 1.0 / factor))

    def zoom_factor(self) -> float:
        """Screen pixels per image pixel (1.0 = one image pixel per screen pixel)."""
        size_x, _ = self.view.viewPixelSize()
        return self.pixel_size[1] / size_x if size_x > 0 else 1.0

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; tools: {', '.join(TOOLS)}")
        self.tool = tool
        self.annotation_overlay.cancel()

    def set_crosshair_visible(self, visible: bool) -> None:
        self.show_crosshair = visible
        self._update_crosshair()

    def set_caption(self, html: str) -> None:
        """Rich text under the pane's title, in place of the series description (e.g. a model's reading)."""
        self.caption = html
        self._update_text()

    def set_active(self, active: bool) -> None:
        colour = PLANE_COLOURS.get(self.plane_name, "#9aa4b1") if active else "#2a2f36"
        self.setStyleSheet(f"QFrame#pane {{ border: 1px solid {colour}; background: black; }}")

    # --- state changes -------------------------------------------------------------------------

    def _on_image(self) -> None:
        source = self.state.source
        self._placeholder.setVisible(source is None)
        if source is None:
            self._stack = None
            self._layer_tables.clear()
            self._layer_pixels.clear()
            self.image_item.clear()
            self.annotation_overlay.refresh()
            self._update_text()
            self._update_readout()
            return
        if source.is_ct and self.plane_name in MPR_PLANES:
            self.plane = mpr_plane(self.plane_name, source.image.direction)
        else:
            self.plane = PROJECTION
        self._stack = self.plane.view(source.values)
        if self.plane.name in MPR_PLANES:
            # Each crosshair line is the trace of another pane's plane: draw it in that pane's colour.
            owner = {mpr_plane(name, source.image.direction).axes[0]: name for name in MPR_PLANES}
            self._vline.setPen(pg.mkPen(PLANE_COLOURS[owner[self.plane.axes[2]]], width=1))
            self._hline.setPen(pg.mkPen(PLANE_COLOURS[owner[self.plane.axes[1]]], width=1))
        self.pixel_size = self.plane.pixel_spacing(source.spacing) if source.spacing_known else (1.0, 1.0)
        rows, cols = self._stack.shape[1:]
        self._rect = QRectF(0.0, 0.0, cols * self.pixel_size[1], rows * self.pixel_size[0])
        self._shown_slice = None
        self._layer_tables.clear()
        self._render()
        self.fit()

    def _on_window(self) -> None:
        if self.has_image:
            self._base = windowed_rgb32(self._stack[self._shown_slice], self.state.window, self.state.invert)
            self._compose()
            self._update_text()

    def _on_cursor(self) -> None:
        if self.has_image and self.slice_index != self._shown_slice:
            self._render()
        self._update_crosshair()

    def _on_layer_event(self, event: LayerEvent) -> None:
        if not self.has_image:
            return
        if event.kind in ("moved", "cleared"):
            self._layer_tables.clear()
            self._layer_pixels.clear()
            for layer in self.layers:
                self._slice_layer(layer)
        else:
            gone = event.old if event.kind == "changed" else event.layer
            if gone is not None:
                self._layer_tables.pop(gone.name, None)
                self._layer_pixels.pop(gone.name, None)
            if event.kind in ("added", "changed"):
                self._slice_layer(event.layer)
        self._compose()

    # --- drawing -------------------------------------------------------------------------------

    def _render(self) -> None:
        self._shown_slice = self.slice_index
        self._base = windowed_rgb32(self._stack[self._shown_slice], self.state.window, self.state.invert)
        self._layer_pixels.clear()
        for layer in self.layers:
            self._slice_layer(layer)
        self._compose()
        self.annotation_overlay.refresh()
        self._update_crosshair()
        self._update_text()
        self._update_readout()

    def _slice_layer(self, layer: Layer) -> None:
        """Colour the shown slice of one layer (hidden layers cost nothing)."""
        if not layer.visible:
            self._layer_pixels.pop(layer.name, None)
            return
        table = self._layer_tables.get(layer.name)
        if table is None:
            table = heatmap_table(layer) if isinstance(layer, HeatmapLayer) else label_table(layer)
            self._layer_tables[layer.name] = table
        if isinstance(layer, HeatmapLayer):
            steps = layer.plane_slice(self.plane, self._shown_slice)
        else:
            steps = self.plane.view(layer.labels)[self._shown_slice]
            if layer.contour:
                steps = label_edges(steps)
        self._layer_pixels[layer.name] = table[steps]

    def _compose(self) -> None:
        overlays = [self._layer_pixels[layer.name] for layer in self.layers if layer.name in self._layer_pixels]
        self.image_item.set_pixels(self._base, self._rect, overlays)

    def _update_crosshair(self) -> None:
        show = self.show_crosshair and self.has_image and self.plane.name in MPR_PLANES
        for line in (self._vline, self._hline):
            line.setVisible(show)
        if not show:
            return
        _, row, col = self.plane.from_array_index(self.state.cursor, self.state.source.shape)
        self._vline.setPos((col + 0.5) * self.pixel_size[1])
        self._hline.setPos((row + 0.5) * self.pixel_size[0])

    def _update_text(self) -> None:
        texts = dict.fromkeys((*self._corner, *self._edge), "")
        source = self.state.source
        if source is not None:
            image, info, window = source.image, source.image.info, self.state.window
            title = self.plane_name.upper() if source.is_ct else f"X-RAY ({image.photometric})"
            inverted = "  INV" if self.state.invert else ""
            texts["tl"] = f"<b>{title}</b><br>{self.caption or _escape(image.description)}"
            texts["tr"] = "<br>".join(_escape(t) for t in (info.patient_name, info.patient_id, info.study_date) if t)
            texts["bl"] = f"W {window.width:.0f}  L {window.level:.0f}{inverted}<br>Zoom {self.zoom_factor():.2f}x"
            texts["br"] = self._slice_text()
            if self.plane.name in MPR_PLANES:
                texts.update(edge_labels(self.plane, image.direction))
            else:
                texts.update(radiograph_edge_labels(source.patient_orientation))
        changed = False
        for key, label in (*self._corner.items(), *self._edge.items()):
            if label.text() != texts[key]:  # re-measuring every label costs ~0.4 ms per slice; most do not change
                label.setText(texts[key])
                label.adjustSize()
                label.setVisible(bool(texts[key]))  # an empty label would still draw its dark plate
                changed = True
        if changed:
            self._place_overlays()

    def _slice_text(self) -> str:
        source = self.state.source
        k = self.slice_index
        lines = [self.slice_label()]
        if source.is_ct and self.plane.name in MPR_PLANES:
            _, row, col = self.plane.from_array_index(self.state.cursor, source.shape)
            normal = {"axial": 2, "coronal": 1, "sagittal": 0}[self.plane.name]
            position = source.patient_mm(self.plane.to_array_index(k, row, col, source.shape))[normal]
            letter = ("R", "A", "I")[normal] if position < 0 else ("L", "P", "S")[normal]
            lines.append(f"{letter} {abs(position):.1f} mm")
            thickness = source.image.slice_thickness_mm if self.plane.name == "axial" else None
            spacing = source.spacing[self.plane.axes[0]]
            lines.append(f"Thk {thickness:.2f} mm" if thickness else f"Spacing {spacing:.2f} mm")
        elif not source.spacing_known:
            lines.append("pixel spacing unknown (px)")
        return "<br>".join(lines)

    def _overlay_label(self, style: str) -> QLabel:
        label = QLabel(self.graphics)
        label.setStyleSheet(style)
        label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        label.setTextFormat(Qt.TextFormat.RichText)
        return label

    def _place_overlays(self) -> None:
        w, h, m = self.graphics.width(), self.graphics.height(), 6
        c, e = self._corner, self._edge
        # a long series description wraps before it runs under the patient lines at the top right
        c["tl"].setMaximumWidth(max(80, w - c["tr"].width() - 3 * m))
        c["tl"].adjustSize()
        c["tl"].move(m, m)
        c["tr"].move(w - c["tr"].width() - m, m)
        c["bl"].move(m, h - c["bl"].height() - m)
        c["br"].move(w - c["br"].width() - m, h - c["br"].height() - m)
        e["left"].move(m, (h - e["left"].height()) // 2)
        e["right"].move(w - e["right"].width() - m, (h - e["right"].height()) // 2)
        e["top"].move((w - e["top"].width()) // 2, m)
        e["bottom"].move((w - e["bottom"].width()) // 2, h - e["bottom"].height() - m)
        self._placeholder.setGeometry(0, 0, w, h)
        self.overlays.place()  # the scale bar and legend sit above these texts

    def bottom_text_height(self) -> int:
        """Height of the texts along the bottom (corners and orientation letter): what sits above them clears them."""
        labels = (self._corner["bl"], self._corner["br"], self._edge["bottom"])
        return max((label.height() for label in labels if label.text()), default=0)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._place_overlays()

    # --- mouse ---------------------------------------------------------------------------------

    def _pixel_at(self, view_point: QPointF) -> tuple[int, int] | None:
        if not self.has_image:
            return None
        row = math.floor(view_point.y() / self.pixel_size[0])
        col = math.floor(view_point.x() / self.pixel_size[1])
        rows, cols = self._stack.shape[1:]
        return (row, col) if 0 <= row < rows and 0 <= col < cols else None

    def hover_info(self, row: int, col: int) -> HoverInfo:
        """What the status bar says for the pixel at (row, col) of the shown slice."""
        source = self.state.source
        index = self.plane.to_array_index(self.slice_index, row, col, source.shape)
        number = source.numbering.number(index[0]) if source.is_ct else None
        return HoverInfo(self.plane_name, index, source.value_at(index), source.unit, source.patient_mm(index), number)

    def _on_mouse_moved(self, scene_pos) -> None:
        self._mouse_at = self.view.mapSceneToView(scene_pos)
        if self.has_image:
            self.annotation_overlay.hover(self._mouse_at)
        self._update_readout()

    def _update_readout(self) -> None:
        """What is under the mouse, again: after a scroll or a new image the pixel under it changed."""
        if self._mouse_at is None or not self.graphics.underMouse():
            return
        pixel = self._pixel_at(self._mouse_at)
        self.hovered.emit(None if pixel is None else self.hover_info(*pixel))

    def handle_click(self, ev) -> None:
        left = ev.button() == Qt.MouseButton.LeftButton
        if left and self.tool == "crosshair":
            self._move_cursor_to(self.view.mapToView(ev.pos()))
            ev.accept()
        elif left and self.tool in ANNOTATION_TOOLS and self.has_image:  # two quick probes are not a double click
            self.annotation_overlay.click(self.tool, self.view.mapToView(ev.pos()))
            ev.accept()
        elif left and ev.double():
            self.maximiseRequested.emit(self)
            ev.accept()
        elif left and self.has_image and self.annotation_overlay.click(self.tool, self.view.mapToView(ev.pos())):
            ev.accept()

    def handle_drag(self, ev) -> bool:
        """Handle a drag for the current tool; False leaves it to the ViewBox (pan)."""
        button = ev.button()
        left = button == Qt.MouseButton.LeftButton
        if not self.has_image or button == Qt.MouseButton.MiddleButton or (left and self.tool == "pan"):
            return False
        ev.accept()
        if button == Qt.MouseButton.RightButton or (left and self.tool == "wl"):
            self._drag_window(ev)
        elif left and self.tool == "zoom":
            step = ev.pos().y() - ev.lastPos().y()
            centre = self.view.mapToView(ev.buttonDownPos())
            self.view.scaleBy((1.01 ** step, 1.01 ** step), center=centre)
        elif left and self.tool == "crosshair":
            self._move_cursor_to(self.view.mapToView(ev.pos()))
        elif left and self.tool in DRAG_TOOLS:
            start, now = self.view.mapToView(ev.buttonDownPos()), self.view.mapToView(ev.pos())
            self.annotation_overlay.drag(self.tool, start, now, ev.isFinish())
        elif left and self.tool in CLICK_TOOLS:
            return True  # a click places these; a drag does nothing
        return True

    def _drag_window(self, ev) -> None:
        if ev.isStart() or self._drag_start_window is None:
            self._drag_start_window = self.state.window
        delta = ev.pos() - ev.buttonDownPos()
        step = self.state.source.full_range.width / 1024.0
        start = self._drag_start_window
        self.state.set_window(Window(max(start.width + delta.x() * step, 1.0), start.level + delta.y() * step))
        if ev.isFinish():
            self._drag_start_window = None

    def _move_cursor_to(self, view_point: QPointF) -> None:
        pixel = self._pixel_at(view_point)
        if pixel is not None:
            self.state.set_cursor(self.plane.to_array_index(self.slice_index, *pixel, self.state.source.shape))

    # --- annotations ---------------------------------------------------------------------------

    @property
    def measurements(self) -> list:
        """The annotations drawn on the shown slice (``DrawnAnnotation``: ``.annotation``, ``.text()``)."""
        return list(self.annotation_overlay.drawn.values())

    def add_measurement(self, kind: str, start: tuple[float, float], end: tuple[float, float]):
        """Place a two-point annotation (length, arrow, ellipse, rectangle) on the shown slice from scene
        points (mm, or px without spacing); returns it as drawn."""
        if kind not in ("length", "arrow", "ellipse", "rectangle"):
            raise ValueError(f"{kind!r} is not a two-point annotation: length, arrow, ellipse or rectangle")
        overlay = self.annotation_overlay
        added = overlay.add(kind, (overlay.to_pixels(start), overlay.to_pixels(end)))
        return overlay.drawn[added.uid]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
