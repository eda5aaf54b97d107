"""One pane's annotations as graphics items, and the mouse gestures of the annotation tools.

The pane's shown slice decides what is drawn: the annotations of its plane and slice, from the
window's ``AnnotationList``. Length, arrow, angle, ellipse and rectangle get handles; dragging one is
an undoable edit, committed when the drag ends. Gestures (left button):

- length, arrow, ellipse, rectangle: drag from one end (corner) to the other;
- angle: drag the first arm to the vertex, then click the end of the second arm;
- freehand: trace the outline (closed when the button is let go);
- text: click, then type the words; point: click (the value under it is the probe).

A click with any other tool selects the annotation under the mouse (Del deletes it).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QInputDialog

from viewer.logic.annotations.measuring import SliceContext, context_for, label, measurement, nearest, outline_of, thinned_outline
from viewer.logic.annotations.model import POINT_COUNTS, Annotation, AnnotationEvent, AnnotationList, Point
from viewer.logic.overlay_style import ANNOTATION_COLOUR, LABEL_BACKGROUND, SELECTED_COLOUR

if TYPE_CHECKING:
    from viewer.slice_view import SliceView

ANNOTATION_TOOLS = tuple(POINT_COUNTS)
DRAG_TOOLS = ("length", "arrow", "ellipse", "rectangle", "angle", "freehand")
CLICK_TOOLS = ("text", "point")
HIT_TOLERANCE_PX = 6  # screen pixels from an annotation that still select it


class _AngleROI(pg.PolyLineROI):
    """Three handles, no more and no fewer: a click on an arm must not add a vertex."""

    def segmentClicked(self, *args, **kwargs) -> None:
        pass

    def checkRemoveHandle(self, handle) -> bool:
        return False


class DrawnAnnotation:
    """The items of one annotation on a pane: its shape (editable where it has handles) and its label."""

    def __init__(self, overlay: "AnnotationOverlay", annotation: Annotation) -> None:
        self.overlay, self.annotation = overlay, annotation
        pane = overlay.pane
        pen = pg.mkPen(ANNOTATION_COLOUR, width=1.5)
        scene = [overlay.to_scene(p) for p in annotation.points]
        kind = annotation.kind
        self.roi: pg.ROI | None = None
        if kind in ("length", "arrow"):
            self.roi = pg.LineSegmentROI(scene, pen=pen)
        elif kind == "angle":
            self.roi = _AngleROI(scene, closed=False, pen=pen)
        elif kind in ("ellipse", "rectangle"):
            (x0, y0), (x1, y1) = scene
            corner, size = (min(x0, x1), min(y0, y1)), (max(abs(x1 - x0), 1e-3), max(abs(y1 - y0), 1e-3))
            self.roi = pg.EllipseROI(corner, size, pen=pen) if kind == "ellipse" else pg.RectROI(corner, size, pen=pen)
            if kind == "ellipse":
                self.roi.removeHandle(0)  # no rotation: the axes stay along the rows and columns
        self.shape = pg.PlotCurveItem(pen=pen)  # freehand outline, point cross, arrow head
        self.label = pg.TextItem(color=ANNOTATION_COLOUR, anchor=(0, 0), fill=pg.mkBrush(*LABEL_BACKGROUND))
        for item, z in ((self.roi, 250), (self.shape, 250), (self.label, 300)):
            if item is not None:
                item.setZValue(z)
                pane.view.addItem(item)
        if self.roi is not None:
            self.roi.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
            self.roi.sigClicked.connect(lambda *_: overlay.annotations.select(self.annotation.uid))
            self.roi.sigRegionChanged.connect(lambda *_: self.refresh(self.edited()))
            self.roi.sigRegionChangeFinished.connect(lambda *_: overlay.commit_edit(self))
        self.refresh(annotation)

    def edited(self) -> Annotation:
        """The annotation as its handles now place it."""
        roi, overlay = self.roi, self.overlay
        if isinstance(roi, (pg.EllipseROI, pg.RectROI)):
            corners = (roi.mapToParent(QPointF(0, 0)), roi.mapToParent(QPointF(roi.size().x(), roi.size().y())))
        else:
            corners = [roi.mapToParent(handle.pos()) for handle in roi.getHandles()]
        return self.annotation.moved_to(overlay.to_pixels((p.x(), p.y())) for p in corners)

    def refresh(self, annotation: Annotation) -> None:
        """Redraw the non-ROI parts and the label for ``annotation`` (during a drag: not yet committed)."""
        overlay = self.overlay
        shape = [overlay.to_scene(p) for p in outline_of(annotation, overlay.head_length())]
        if annotation.kind in ("freehand", "point", "arrow"):
            xs, ys = zip(*shape) if shape else ((), ())
            self.shape.setData(np.array(xs, float), np.array(ys, float), connect="finite")
        self.label.setText(label(measurement(annotation, overlay.context())))
        self.label.setPos(*overlay.to_scene(_label_anchor(annotation)))

    def set_selected(self, selected: bool) -> None:
        pen = pg.mkPen(SELECTED_COLOUR if selected else ANNOTATION_COLOUR, width=2.5 if selected else 1.5)
        for item in (self.roi, self.shape):
            if item is not None:
                item.setPen(pen)

    def text(self) -> str:
        return self.label.toPlainText()

    def remove(self) -> None:
        for item in (self.roi, self.shape, self.label):
            if item is not None:
                self.overlay.pane.view.removeItem(item)


def _label_anchor(annotation: Annotation) -> Point:
    points = annotation.points
    if annotation.kind in ("ellipse", "rectangle", "freehand"):
        return max(p[0] for p in points), max(p[1] for p in points)
    if annotation.kind == "angle":
        return points[1]
    if annotation.kind == "arrow":
        return points[0]
    return points[-1]


class AnnotationOverlay:
    """Draws ``annotations`` on ``pane`` and turns the pane's mouse gestures into new annotations."""

    def __init__(self, pane: "SliceView", annotations: AnnotationList) -> None:
        self.pane, self.annotations = pane, annotations
        self.drawn: dict[int, DrawnAnnotation] = {}
        self._trace: list[Point] = []  # points of the gesture in progress
        self._committing = False
        preview_pen = pg.mkPen(ANNOTATION_COLOUR, width=1.5, style=Qt.PenStyle.DashLine)
        self.preview = pg.PlotCurveItem(pen=preview_pen)
        self.preview_label = pg.TextItem(color=ANNOTATION_COLOUR, anchor=(0, 0), fill=pg.mkBrush(*LABEL_BACKGROUND))
        for item in (self.preview, self.preview_label):
            item.setZValue(320)
            item.setVisible(False)
            pane.view.addItem(item, ignoreBounds=True)
        self.disconnect = annotations.connect(self._on_event)

    # --- coordinates ---------------------------------------------------------------------------

    def to_scene(self, point: Point) -> tuple[float, float]:
        sy, sx = self.pane.pixel_size
        return point[0] * sx, point[1] * sy

    def to_pixels(self, scene: tuple[float, float]) -> Point:
        sy, sx = self.pane.pixel_size
        return scene[0] / sx, scene[1] / sy

    def context(self) -> SliceContext:
        return context_for(self.pane.state.source, self.pane.plane.name, self.pane.slice_index)

    def head_length(self) -> float:
        """An arrow head's length in pixels of the slice: a constant share of the slice."""
        rows, cols = self.pane.slice_values().shape
        return max(rows, cols) / 40.0

    # --- what is drawn -------------------------------------------------------------------------

    def refresh(self) -> None:
        """Draw exactly the annotations of the shown slice (after a scroll, a new image, a reset)."""
        for drawn in self.drawn.values():
            drawn.remove()
        self.drawn.clear()
        self.cancel()
        if not self.pane.has_image:
            return
        for annotation in self.annotations.on_slice(self.pane.plane.name, self.pane.slice_index):
            self._draw(annotation)

    def _draw(self, annotation: Annotation) -> None:
        drawn = DrawnAnnotation(self, annotation)
        drawn.set_selected(annotation.uid == self.annotations.selected)
        self.drawn[annotation.uid] = drawn

    def _shown_here(self, annotation: Annotation | None) -> bool:
        return (annotation is not None and self.pane.has_image and annotation.plane == self.pane.plane.name
                and annotation.slice_index == self.pane.slice_index)

    def _on_event(self, event: AnnotationEvent) -> None:
        if event.kind == "reset":
            self.refresh()
            return
        if event.kind == "selected":
            for uid, drawn in self.drawn.items():
                drawn.set_selected(uid == self.annotations.selected)
            return
        annotation = event.annotation
        if event.kind == "changed" and self._committing and annotation.uid in self.drawn:
            self.drawn[annotation.uid].annotation = annotation  # our own handles put it there already
            return
        if annotation.uid in self.drawn:
            self.drawn.pop(annotation.uid).remove()
        if event.kind != "removed" and self._shown_here(annotation):
            self._draw(annotation)

    def commit_edit(self, drawn: DrawnAnnotation) -> None:
        """A handle drag ended: the moved annotation replaces the old one (undoable)."""
        moved = drawn.edited()
        if moved.uid not in {a.uid for a in self.annotations}:
            return
        self._committing = True
        try:
            self.annotations.replace(moved)
        finally:
            self._committing = False

    # --- gestures ------------------------------------------------------------------------------

    def drag(self, tool: str, start: QPointF, now: QPointF, finished: bool) -> None:
        """A left drag with an annotation tool, in scene coordinates."""
        point = self.to_pixels((now.x(), now.y()))
        if tool == "freehand":
            self._trace = (self._trace or [self.to_pixels((start.x(), start.y()))]) + [point]
        elif tool == "angle" and len(self._trace) == 2 and not finished:
            return  # the first arm is drawn; the second waits for the click
        else:
            self._trace = [self.to_pixels((start.x(), start.y())), point]
        if not finished:
            self._show_preview(tool, self._trace)
            return
        if tool == "angle":
            self._show_preview(tool, self._trace)  # now waiting for the second arm's end
            return
        trace, self._trace = self._trace, []
        self._hide_preview()
        if tool == "freehand":
            outline = thinned_outline(trace)
            if len(outline) >= 3:
                self.add("freehand", outline)
        elif self._long_enough(trace):
            self.add(tool, trace)

    def hover(self, scene: QPointF) -> None:
        """The mouse moved with no button: the second arm of an angle follows it."""
        if self.pane.tool == "angle" and len(self._trace) == 2:
            self._show_preview("angle", [*self._trace, self.to_pixels((scene.x(), scene.y()))])

    def click(self, tool: str, scene: QPointF) -> bool:
        """A left click: places a point, a text or an angle's last point, else selects; True when used."""
        point = self.to_pixels((scene.x(), scene.y()))
        if tool == "angle" and len(self._trace) == 2:
            first, vertex = self._trace
            self._trace = []
            self._hide_preview()
            self.add("angle", (first, vertex, point))
            return True
        if tool == "point":
            self.add("point", (point,))
            return True
        if tool == "text":
            words, ok = QInputDialog.getText(self.pane, "Text annotation", "Text on the image:")
            if ok and words.strip():
                self.add("text", (point,), words.strip())
            return True
        hit = nearest(self.annotations.on_slice(self.pane.plane.name, self.pane.slice_index), point,
                      HIT_TOLERANCE_PX * self._pixels_per_screen_pixel())
        self.annotations.select(hit.uid if hit is not None else None)
        return hit is not None

    def add(self, kind: str, points, text: str = "") -> Annotation:
        annotation = Annotation(self.annotations.new_uid(), kind, self.pane.plane.name, self.pane.slice_index,
                                tuple(points), text)
        self.annotations.add(annotation)
        self.annotations.select(annotation.uid)
        return annotation

    def cancel(self) -> None:
        """Drop a gesture in progress (Esc, another tool, another slice)."""
        self._trace = []
        self._hide_preview()

    def _long_enough(self, trace: list[Point]) -> bool:
        """A click that moved a pixel or two is not a measurement."""
        (x0, y0), (x1, y1) = trace
        return math.hypot(x1 - x0, y1 - y0) >= 2 * self._pixels_per_screen_pixel()

    def _pixels_per_screen_pixel(self) -> float:
        view = self.pane.view
        width = view.viewRect().width()
        screen = max(view.width(), 1.0)
        return width / screen / self.pane.pixel_size[1]

    def _show_preview(self, tool: str, points: list[Point]) -> None:
        try:
            annotation = Annotation(0, tool, self.pane.plane.name, self.pane.slice_index, tuple(points))
        except ValueError:  # not enough points yet (an angle's first arm, a trace just begun)
            xs, ys = zip(*(self.to_scene(p) for p in points))
            self.preview.setData(np.array(xs, float), np.array(ys, float))
            self.preview.setVisible(True)
            return
        scene = [self.to_scene(p) for p in outline_of(annotation, self.head_length())]
        xs, ys = zip(*scene)
        self.preview.setData(np.array(xs, float), np.array(ys, float), connect="finite")
        self.preview.setVisible(True)
        self.preview_label.setText(label(measurement(annotation, self.context())))
        self.preview_label.setPos(*self.to_scene(_label_anchor(annotation)))
        self.preview_label.setVisible(tool not in ("arrow",))

    def _hide_preview(self) -> None:
        self.preview.setVisible(False)
        self.preview_label.setVisible(False)
