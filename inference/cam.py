"""Grad-CAM maps after the model: normalised per map, and brought back onto the image the user sees.

Classifiers export ``cam`` (N, K, h, w): Grad-CAM computed inside the graph (ARCHITECTURE.md section 4),
already ReLU'd but not normalised. Here each map is divided by its own maximum, the usual Grad-CAM
display convention (Selvaraju et al.), so every slice's map spans [0, 1] and shows *where* the model
looked; *how sure* it was is the probability beside it. An all-zero map (no positive evidence) stays
zero rather than being stretched.

Maps are kept at the model's feature resolution (a few KB per slice) and mapped onto a slice only
when someone looks at it: feature grid -> the model's square input -> undo the letterbox/stretch
with the same geometry the preprocessing used, and the CT slice's crop box (``cam_operators``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image as PILImage

from inference.preprocessing import Box, ResizePolicy, letterbox_box


def normalise_cams(cams: np.ndarray) -> np.ndarray:
    """(..., h, w) raw maps -> float32 in [0, 1], each map divided by its own maximum."""
    cams = np.maximum(np.nan_to_num(np.asarray(cams, dtype=np.float32)), 0.0)
    peak = cams.max(axis=(-2, -1), keepdims=True)
    return np.divide(cams, peak, out=np.zeros_like(cams), where=peak > 0)


def _resize_1d(values: np.ndarray, length: int) -> np.ndarray:
    """PIL's bilinear resize along one axis (its 2D resize is separable: the same 1D filter per axis)."""
    column = PILImage.fromarray(np.ascontiguousarray(values, dtype=np.float32)[:, None], mode="F")
    return np.asarray(column.resize((1, length), PILImage.BILINEAR), dtype=np.float32)[:, 0]


def _axis_operator(cells: int, input_size: int, inner: tuple[int, int], placed: tuple[int, int], full: int) -> np.ndarray:
    """(full, cells): feature cells -> square input -> the image's part of it (``inner`` offset,
    length) -> resized onto its place on the image (``placed`` offset, length), zero elsewhere."""
    operator = np.zeros((full, cells), dtype=np.float32)
    for cell in range(cells):
        unit = np.zeros(cells, dtype=np.float32)
        unit[cell] = 1.0
        square = _resize_1d(unit, input_size)
        operator[placed[0] : placed[0] + placed[1], cell] = _resize_1d(square[inner[0] : inner[0] + inner[1]], placed[1])
    return operator


@lru_cache(maxsize=4096)
def cam_operators(
    grid: tuple[int, int], image_shape: tuple[int, int], input_size: int, resize: ResizePolicy, box: Box | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(H, h) and (W, w) float32 matrices such that the map on the image is ``rows @ cam @ cols.T``.

    Resizing and cropping are linear and separable, so two small matrices carry the whole mapping
    (feature grid -> the model's square input -> undo letterbox/stretch -> the crop ``box`` on the
    image); one matrix product per slice then replaces image resizes, and a series with one box per
    slice costs a few microseconds per slice."""
    top, left, height, width = box if box is not None else (0, 0, *image_shape)
    inner_top, inner_left, inner_h, inner_w = letterbox_box((height, width), input_size, resize)
    rows = _axis_operator(grid[0], input_size, (inner_top, inner_h), (top, height), image_shape[0])
    cols = _axis_operator(grid[1], input_size, (inner_left, inner_w), (left, width), image_shape[1])
    return rows, cols


def cam_to_image(
    cam: np.ndarray, image_shape: tuple[int, int], input_size: int, resize: ResizePolicy, box: Box | None = None
) -> np.ndarray:
    """One (h, w) map -> (H, W) float32 on the original image, bilinear, through the model's square frame
    and the crop ``box`` the model saw (zero outside it)."""
    rows, cols = cam_operators(tuple(cam.shape), tuple(image_shape), int(input_size), resize, None if box is None else tuple(box))
    return np.clip(rows @ np.asarray(cam, dtype=np.float32) @ cols.T, 0.0, 1.0)
