"""Small synthetic studies with known ground truth, built in memory."""

from __future__ import annotations

import numpy as np

from inference.phantoms import make_xray_phantom
from inference.study import CTVolume, Window, XRayImage


def ct_volume(hu: np.ndarray, spacing=(5.0, 6.0, 6.0), direction=None, uid: str = "1.2.826.0.1.3680043.8.498.7") -> CTVolume:
    direction = np.eye(3) if direction is None else np.asarray(direction, dtype=float)
    positions = np.array([[0.0, 0.0, z * spacing[0]] for z in range(hu.shape[0])]) @ direction.T
    return CTVolume(
        hu=hu.astype(np.int16),
        spacing=tuple(float(s) for s in spacing),
        origin=(0.0, 0.0, 0.0),
        direction=direction,
        slice_positions=positions,
        uid=uid,
        slice_thickness_mm=float(spacing[0]),
    )


def chest_phantom(shape=(24, 64, 64), spacing=(5.0, 6.0, 6.0), seed: int = 0, lesion: bool = False, offset_mm: float = 72.0, airways: bool = False):
    """(hu int16, truth uint8): body, two lung ellipsoids (1 = low x = patient right), spine, vessels,
    and with ``lesion`` a ground-glass ball (-450 HU, radius 30 mm) in the middle of the left lung.

    The lungs span the middle slices only, so the first and last slices hold no lung; with
    ``offset_mm`` under 55 the two lungs touch at the midline; ``airways`` adds a trachea from the
    top slice and two main bronchi, which join both lungs into one air component (as in most scans).
    """
    rng = np.random.default_rng(seed)
    z, y, x = (np.indices(shape).astype(float) + 0.5) * np.asarray(spacing)[:, None, None, None]
    cz, cy, cx = (np.asarray(shape) * np.asarray(spacing)) / 2
    hu = np.full(shape, -1000.0)
    body = ((x - cx) / 160) ** 2 + ((y - cy) / 115) ** 2 <= 1
    hu[body] = 40.0
    lungs = [
        ((x - cx - side * offset_mm) / 55) ** 2 + ((y - cy + 5) / 75) ** 2 + ((z - cz) / (0.36 * shape[0] * spacing[0])) ** 2 <= 1
        for side in (-1, 1)
    ]
    truth = np.where(lungs[0] | lungs[1], np.where(x < cx, 1, 2), 0).astype(np.uint8)
    hu[truth > 0] = -850.0
    if airways:
        trachea = (((x - cx) / 9) ** 2 + ((y - cy + 5) / 9) ** 2 <= 1) & (z >= cz)
        bronchi = (((y - cy + 5) / 6) ** 2 + ((z - cz) / 6) ** 2 <= 1) & (np.abs(x - cx) <= offset_mm)
        hu[(trachea | bronchi) & (truth == 0)] = -1000.0
    hu[((x - cx) / 20) ** 2 + ((y - cy - 85) / 20) ** 2 <= 1] = 700.0
    vessels = (truth > 0) & (rng.random(shape) < 0.01)
    hu[vessels] = 40.0
    if lesion:
        hu[(truth == 2) & (((x - cx - 72) / 30) ** 2 + ((y - cy) / 30) ** 2 + ((z - cz) / 30) ** 2 <= 1)] = -450.0
    hu += rng.normal(0, 15, shape) * (hu < -500)
    return hu.astype(np.int16), truth


def xray_phantom(shape=(96, 80)) -> tuple[XRayImage, np.ndarray]:
    """The project's PA radiograph phantom as a loaded MONOCHROME2 image (stored values 0..4095) and its mask."""
    display, truth = make_xray_phantom(shape)
    image = XRayImage(
        pixels=(display * 4095).astype(np.float32),
        spacing=(0.5, 0.5),
        invert=False,
        default_window=Window(4096.0, 2048.0),
        uid="1.2.826.0.1.3680043.8.498.9",
    )
    return image, truth
