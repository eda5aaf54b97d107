"""Measurement arithmetic (distance, ROI masks and statistics), Qt-free so it is tested directly.

Positions are in the pane's scene units: millimetres when the pixel spacing is known, pixels
otherwise (then the unit is "px" and an area is px^2). Pixel (row, col) covers
[col * sx, (col + 1) * sx) x [row * sy, (row + 1) * sy); a pixel belongs to an ROI when its centre does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

RoiShape = Literal["ellipse", "rectangle"]


@dataclass(frozen=True)
class RoiStats:
    """What a radiologist reads off an ROI: area, and mean/SD/min/max of the values inside."""

    area: float
    unit: str
    count: int
    mean: float
    sd: float
    minimum: float
    maximum: float


def roi_mask(
    shape: tuple[int, int],
    pixel_size: tuple[float, float],
    kind: RoiShape,
    centre: tuple[float, float],
    half_axes: tuple[float, float],
    angle_deg: float = 0.0,
) -> np.ndarray:
    """Boolean (rows, cols) mask of the pixels whose centres fall inside a (rotated) ellipse or rectangle.

    centre and half_axes are (x, y) in scene units; pixel_size is (row, col) size in those units.
    """
    rows, cols = shape
    sy, sx = pixel_size
    y = (np.arange(rows) + 0.5)[:, None] * sy - centre[1]
    x = (np.arange(cols) + 0.5)[None, :] * sx - centre[0]
    theta = math.radians(angle_deg)
    u = x * math.cos(theta) + y * math.sin(theta)
    v = -x * math.sin(theta) + y * math.cos(theta)
    a, b = max(abs(half_axes[0]), 1e-9), max(abs(half_axes[1]), 1e-9)
    if kind == "ellipse":
        return (u / a) ** 2 + (v / b) ** 2 <= 1.0
    return (np.abs(u) <= a) & (np.abs(v) <= b)


def roi_area(kind: RoiShape, half_axes: tuple[float, float]) -> float:
    a, b = abs(half_axes[0]), abs(half_axes[1])
    return math.pi * a * b if kind == "ellipse" else 4.0 * a * b


def roi_stats(values: np.ndarray, mask: np.ndarray, kind: RoiShape, half_axes: tuple[float, float], unit: str) -> RoiStats:
    inside = values[mask].astype(np.float64)
    area = roi_area(kind, half_axes)
    if inside.size == 0:
        return RoiStats(area, unit, 0, math.nan, math.nan, math.nan, math.nan)
    return RoiStats(area, unit, int(inside.size), float(inside.mean()), float(inside.std()),
                    float(inside.min()), float(inside.max()))


def scale_bar_length(units_per_screen_pixel: float, target_pixels: float = 100.0) -> float:
    """A round length (1, 2 or 5 x 10^n units) whose bar is closest to ``target_pixels`` on screen."""
    if not math.isfinite(units_per_screen_pixel) or units_per_screen_pixel <= 0:
        return 0.0
    wanted = units_per_screen_pixel * target_pixels
    exponent = math.floor(math.log10(wanted))
    candidates = [m * 10.0 ** e for e in (exponent - 1, exponent, exponent + 1) for m in (1, 2, 5)]
    return min(candidates, key=lambda length: abs(math.log(length / wanted)))
