"""Lung masks for 8-bit lung-window CT slice images (the CT slice training data), for M4's pooling.

The slices are figures from papers, tightly cropped, with the lungs often running into the figure's
edge, so the rule of inference's 3D classical segmentation ("air touching the border is outside the
body") would throw the lungs away. Here the mask is every sizeable region below about -400 HU
(inverting the lung window) inside the figure, closed and hole-filled so vessels and lesions count,
except room air that wraps around the body (a region touching all four edges of the figure).
It is a superset of the lungs (it keeps room air a crop shows in a corner); at 7x7 after Gaussian
smoothing that still puts M4's pooling weight on the lungs rather than the mediastinum. At run time
M4 gets the proper lung mask of the 3D segmentation. Where nothing is found the mask is empty and
M4's pooling falls back to plain GAP, as at run time.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from inference.study import WINDOW_PRESETS

_LUNG = WINDOW_PRESETS["lung"]
AIR_BELOW_HU = -400.0
_DARK_BELOW = round((AIR_BELOW_HU - _LUNG.low) * 255.0 / _LUNG.width)


def _figure_box(image: np.ndarray) -> tuple[slice, slice]:
    """The figure inside the letterbox: rows and columns that are not all padding zeros."""
    rows = np.nonzero(image.any(axis=1))[0]
    cols = np.nonzero(image.any(axis=0))[0]
    if len(rows) == 0:
        return slice(0, 0), slice(0, 0)
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def window_image_lung_mask(image: np.ndarray, min_fraction: float = 0.01) -> np.ndarray:
    """uint8 (H, W) lung-window image -> uint8 (H, W) mask, 1 in dark (lung-like) regions."""
    mask = np.zeros(image.shape, dtype=np.uint8)
    rows, cols = _figure_box(image)
    figure = image[rows, cols]
    if figure.size == 0:
        return mask
    dark = sitk.GetImageFromArray((figure < _DARK_BELOW).astype(np.uint8))
    components = sitk.GetArrayFromImage(
        sitk.RelabelComponent(sitk.ConnectedComponent(dark), minimumObjectSize=int(min_fraction * figure.size))
    )
    edges = (components[0], components[-1], components[:, 0], components[:, -1])
    wrapping = set.intersection(*(set(np.unique(edge[edge > 0])) for edge in edges))
    kept = (components > 0) & ~np.isin(components, list(wrapping))
    closed = sitk.BinaryMorphologicalClosing(sitk.GetImageFromArray(kept.astype(np.uint8)), [3, 3])
    mask[rows, cols] = sitk.GetArrayFromImage(sitk.BinaryFillhole(closed))
    return mask
