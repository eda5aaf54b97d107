"""Whether an image can carry an AI verdict at all.

A blank picture (one grey value: a black 2000x2000 PNG, a CT series of one value) or a radiograph of
a few pixels holds nothing a model can judge, yet a classifier still answers with confident
probabilities. Such an image is shown, and its analysis says why there is no verdict instead of
giving one. Damaged files never get this far: the loader skips them with their reason.
"""

from __future__ import annotations

import numpy as np

from inference.study import Image, Modality

MIN_SIDE_PX = 64  # a radiograph smaller than this on a side is a thumbnail, not a chest X-ray


def verdict_blockers(image: Image) -> list[str]:
    """Why no model may judge ``image`` (empty when it may)."""
    pixels = image.values
    rows, columns = pixels.shape[-2:]
    reasons = []
    if image.modality == Modality.XRAY and min(rows, columns) < MIN_SIDE_PX:
        reasons.append(f"the image is only {columns}x{rows} pixels (at least {MIN_SIDE_PX} on each side are needed)")
    non_finite = np.issubdtype(pixels.dtype, np.floating) and not np.isfinite(pixels).all()
    if pixels.size == 0 or non_finite or np.ptp(pixels) == 0:
        reasons.append("the image is blank or holds no valid values")
    return reasons
