"""What an annotation measures on its slice: lengths, angles, ROI statistics, the value under a probe.
No Qt here.

The numbers become an ``inference.measurements.Measurement`` (the record the report, the JSON and the
DICOM SR carry), and the label drawn beside the annotation is read off that record, so the screen
and the report cannot disagree. Distances use the pane's pixel size (mm when the spacing is known).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inference.measurements import Measurement
from viewer.logic.annotations.model import ROI_KINDS, Annotation, Point
from viewer.logic.measure import roi_area, roi_mask, roi_stats
from viewer.logic.planes import MPR_PLANES, PROJECTION, Plane, mpr_plane

MAX_OUTLINE_POINTS = 256


@dataclass(frozen=True)
class SliceContext:
    """The slice an annotation lies on as its pane shows it: raw values (HU for CT), pixel size and units."""

    values: np.ndarray
    pixel_size: tuple[float, float]  # (row, column) size in mm, or (1, 1) when the spacing is unknown
    length_unit: str  # "mm" or "px"
    value_unit: str  # "HU" or ""
    plane: Plane


def plane_of(source, plane_name: str) -> Plane:
    """The plane a pane named ``plane_name`` shows of ``source`` (a ``view_state.ImageSource``)."""
    if source.is_ct and plane_name in MPR_PLANES:
        return mpr_plane(plane_name, source.image.direction)
    return PROJECTION


def context_for(source, plane_name: str, slice_index: int) -> SliceContext:
    """The slice an annotation of ``plane_name``/``slice_index`` lies on, as its pane shows it."""
    plane = plane_of(source, plane_name)
    pixel_size = plane.pixel_spacing(source.spacing) if source.spacing_known else (1.0, 1.0)
    return SliceContext(plane.view(source.values)[slice_index], pixel_size,
                        "mm" if source.spacing_known else "px", source.unit, plane)


def thinned_outline(points: list[Point], max_points: int = MAX_OUTLINE_POINTS) -> tuple[Point, ...]:
    """A traced outline without points closer than a pixel to the last kept one, at most ``max_points``."""
    kept = [points[0]]
    for x, y in points[1:]:
        if math.hypot(x - kept[-1][0], y - kept[-1][1]) >= 1.0:
            kept.append((x, y))
    step = max(1, math.ceil(len(kept) / max_points))
    return tuple(kept[::step])


def _scene(point: Point, pixel_size: tuple[float, float]) -> tuple[float, float]:
    return point[0] * pixel_size[1], point[1] * pixel_size[0]


def length_of(a: Point, b: Point, pixel_size: tuple[float, float]) -> float:
    (x0, y0), (x1, y1) = _scene(a, pixel_size), _scene(b, pixel_size)
    return math.hypot(x1 - x0, y1 - y0)


def angle_at(first: Point, vertex: Point, second: Point, pixel_size: tuple[float, float]) -> float:
    """The angle between the two arms at ``vertex``, in degrees (0..180), measured in the patient, not on screen."""
    (ax, ay), (bx, by), (cx, cy) = (_scene(p, pixel_size) for p in (first, vertex, second))
    u, v = (ax - bx, ay - by), (cx - bx, cy - by)
    return math.degrees(math.atan2(abs(u[0] * v[1] - u[1] * v[0]), u[0] * v[0] + u[1] * v[1]))


def inside_outline(outline: tuple[Point, ...] | list[Point], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Even-odd rule: which of the points (x, y) (broadcast arrays) lie inside the closed outline."""
    inside = np.zeros(np.broadcast(x, y).shape, dtype=bool)
    for (xa, ya), (xb, yb) in zip(outline, [*outline[1:], outline[0]]):
        if ya != yb:
            inside ^= ((ya > y) != (yb > y)) & (x < xa + (y - ya) * (xb - xa) / (yb - ya))
    return inside


def polygon_mask(shape: tuple[int, int], outline: tuple[Point, ...]) -> np.ndarray:
    """Pixels whose centres lie inside the closed outline, tested in its bounding box only."""
    rows, cols = shape
    xs, ys = np.array([p[0] for p in outline]), np.array([p[1] for p in outline])
    c0, c1 = max(int(math.floor(xs.min())), 0), min(int(math.ceil(xs.max())), cols)
    r0, r1 = max(int(math.floor(ys.min())), 0), min(int(math.ceil(ys.max())), rows)
    mask = np.zeros(shape, dtype=bool)
    if c1 > c0 and r1 > r0:
        mask[r0:r1, c0:c1] = inside_outline(outline, (np.arange(c0, c1) + 0.5)[None, :], (np.arange(r0, r1) + 0.5)[:, None])
    return mask


def polygon_area(outline: tuple[Point, ...], pixel_size: tuple[float, float]) -> float:
    points = [_scene(p, pixel_size) for p in outline]
    twice = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]))
    return abs(twice) / 2.0


def outline_of(annotation: Annotation, head_length: float) -> list[Point]:
    """The polyline that draws an annotation's shape, NaN points between separate strokes (an arrow's
    head, a probe's cross); a text has none. ``head_length``: the arrow head and the cross, in pixels."""
    points, kind = list(annotation.points), annotation.kind
    gap = (math.nan, math.nan)
    if kind in ("length", "angle"):
        return points
    if kind == "arrow":
        (x0, y0), (x1, y1) = points
        back = math.atan2(y0 - y1, x0 - x1)
        barbs = [(x1 + head_length * math.cos(back + s), y1 + head_length * math.sin(back + s)) for s in (-0.45, 0.45)]
        return [(x0, y0), (x1, y1), gap, barbs[0], (x1, y1), barbs[1]]
    if kind == "rectangle":
        (x0, y0), (x1, y1) = points
        return [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    if kind == "ellipse":
        (x0, y0), (x1, y1) = points
        t = np.linspace(0.0, 2.0 * math.pi, 65)
        return list(zip((x0 + x1) / 2 + abs(x1 - x0) / 2 * np.cos(t), (y0 + y1) / 2 + abs(y1 - y0) / 2 * np.sin(t)))
    if kind == "freehand":
        return points + points[:1]
    if kind == "point":
        (x, y), h = points[0], head_length / 2
        return [(x - h, y), (x + h, y), gap, (x, y - h), (x, y + h)]
    return []


def _segment_distance(p: Point, a: Point, b: Point) -> float:
    (px, py), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    t = 0.0 if dx == dy == 0 else min(max(((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy), 0.0), 1.0)
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def distance_to(annotation: Annotation, point: Point) -> float:
    """Pixels from ``point`` to what is drawn of an annotation; 0 inside an ROI."""
    outline = [p for p in outline_of(annotation, 0.0) if not math.isnan(p[0])] or list(annotation.points)
    if annotation.kind in ROI_KINDS and inside_outline(outline, np.array(point[0]), np.array(point[1])):
        return 0.0
    if len(outline) == 1:
        return math.hypot(point[0] - outline[0][0], point[1] - outline[0][1])
    return min(_segment_distance(point, a, b) for a, b in zip(outline, outline[1:]))


def nearest(annotations: list[Annotation], point: Point, tolerance: float) -> Annotation | None:
    """The annotation closest to ``point`` within ``tolerance`` pixels, or None."""
    scored = [(distance_to(a, point), a) for a in annotations]
    scored = [(d, a) for d, a in scored if d <= tolerance]
    return min(scored, key=lambda item: item[0])[1] if scored else None


def _sr_points(annotation: Annotation, pixel_size: tuple[float, float]) -> list[Point]:
    """The points DICOM SCOORD wants: polylines as drawn (rectangles and outlines closed), an ellipse's
    major axis ends then its minor axis ends, one point for a probe or a text."""
    points = list(annotation.points)
    if annotation.kind in ("rectangle", "ellipse"):
        (x0, y0), (x1, y1) = points
        if annotation.kind == "rectangle":
            return [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        across, down = [(x0, cy), (x1, cy)], [(cx, y0), (cx, y1)]
        wide = abs(x1 - x0) * pixel_size[1] >= abs(y1 - y0) * pixel_size[0]
        return across + down if wide else down + across
    if annotation.kind == "freehand":
        return points + points[:1]
    return points


def measurement(annotation: Annotation, context: SliceContext) -> Measurement:
    """The record of one annotation: its numbers, and its points on the array slice (flips undone)."""
    values, size, plane = context.values, context.pixel_size, context.plane
    rows, cols = values.shape
    kind, points = annotation.kind, annotation.points
    numbers: dict[str, float | None] = {}
    if kind in ("length", "arrow"):
        numbers["length"] = length_of(points[0], points[1], size) if kind == "length" else None
    elif kind == "angle":
        numbers["angle"] = angle_at(*points, size)
    elif kind == "point":
        col, row = (min(max(int(math.floor(v)), 0), n - 1) for v, n in zip(points[0], (cols, rows)))
        numbers["value"] = float(values[row, col])
    elif kind in ("ellipse", "rectangle"):
        (x0, y0), (x1, y1) = (_scene(p, size) for p in points)
        centre, half_axes = ((x0 + x1) / 2, (y0 + y1) / 2), (abs(x1 - x0) / 2, abs(y1 - y0) / 2)
        stats = roi_stats(values, roi_mask(values.shape, size, kind, centre, half_axes), kind, half_axes,
                          context.length_unit)
        numbers.update(area=roi_area(kind, half_axes), mean=stats.mean, sd=stats.sd, minimum=stats.minimum,
                       maximum=stats.maximum)
    elif kind == "freehand":
        inside = values[polygon_mask(values.shape, points)].astype(np.float64)
        numbers["area"] = polygon_area(points, size)
        if inside.size:
            numbers.update(mean=float(inside.mean()), sd=float(inside.std()), minimum=float(inside.min()),
                           maximum=float(inside.max()))

    def on_array(x: float, y: float) -> Point:
        return (cols - x if plane.flip_cols else x, rows - y if plane.flip_rows else y)

    on_source = plane.name == "projection" or (plane.name == "axial" and plane.axes == (0, 1, 2))
    return Measurement(
        kind=kind, plane=plane.name if on_source else f"{plane.name} reformat", slice_index=annotation.slice_index,
        points=tuple(on_array(*p) for p in _sr_points(annotation, size)), unit=context.length_unit,
        value_unit=context.value_unit, note=annotation.text, **numbers,
    )


def label(record: Measurement) -> str:
    """The few words drawn beside an annotation (the report has the longer ``record.text()``)."""
    if record.kind in ("ellipse", "rectangle", "freehand"):
        area = f"Area {record.area:.1f} {record.unit}\u00b2"
        if record.mean is None or math.isnan(record.mean):
            return f"{area} (no pixel centre inside)"
        return (f"{area}  Mean {record.mean:.1f} SD {record.sd:.1f} {record.value_unit}".rstrip()
                + f"\nMin {record.minimum:.0f} Max {record.maximum:.0f}")
    return record.note if record.kind in ("arrow", "text") else record.text()
