"""Grad-CAM maps after the model: normalised per map, and brought back onto the image the user sees.

Classifiers export ``cam`` (N, K, h, w): Grad-CAM computed inside the graph (DESIGN.md section 4),
already ReLU'd but not normalised. Here each map is divided by its own maximum, the usual Grad-CAM
display convention (Selvaraju et al.), so every slice's map spans [0, 1] and shows *where* the model
looked; *how sure* it was is the probability beside it. An all-zero map (no positive evidence) stays
zero rather than being stretched.

Maps are kept at the model's feature resolution (a few KB per slice) and mapped onto a slice only
when someone looks at it: feature grid -> the model's square input -> undo the letterbox/stretch
with the same geometry the preprocessing used (``preprocessing.map_to_image``), and the CT crop box.
"""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage

from inference.preprocessing import Box, ResizePolicy, map_to_image


def normalise_cams(cams: np.ndarray) -> np.ndarray:
    """(..., h, w) raw maps -> float32 in [0, 1], each map divided by its own maximum."""
    cams = np.maximum(np.nan_to_num(np.asarray(cams, dtype=np.float32)), 0.0)
    peak = cams.max(axis=(-2, -1), keepdims=True)
    return np.divide(cams, peak, out=np.zeros_like(cams), where=peak > 0)


def cam_to_image(
    cam: np.ndarray, image_shape: tuple[int, int], input_size: int, resize: ResizePolicy, box: Box | None = None
) -> np.ndarray:
    """One (h, w) map -> (H, W) float32 on the original image, bilinear, through the model's square frame
    and the crop ``box`` the model saw (zero outside it)."""
    square = PILImage.fromarray(np.ascontiguousarray(cam, dtype=np.float32), mode="F").resize(
        (input_size, input_size), PILImage.BILINEAR
    )
    return np.clip(map_to_image(np.asarray(square), image_shape, resize, box), 0.0, 1.0)
