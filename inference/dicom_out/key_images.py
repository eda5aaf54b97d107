"""Key images without Qt: each model's key slice in the lung window with its finding's Grad-CAM
blended on, as RGB pixels for a Secondary Capture and the command line's PDF."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference.opinion_rules import finding_class, finding_probabilities, key_slice
from inference.pipelines.results import ModelOpinion
from inference.preprocessing import window_to_uint8
from inference.slice_numbers import SliceNumbering
from inference.study import WINDOW_PRESETS, CTVolume, Image

CAM_OPACITY = 0.5
CAM_FLOOR = 0.2  # below this share of a map's maximum nothing is drawn, as in the viewer
# A dark-to-bright heat scale (black-red-yellow-white) sampled at four points.
_HEAT = np.array([[0, 0, 0], [200, 30, 0], [255, 200, 0], [255, 255, 255]], dtype=np.float32)


@dataclass(frozen=True)
class KeyImage:
    model_id: str
    slice_index: int
    pixels: np.ndarray  # (rows, columns, 3) uint8
    caption: str


def _grey(image: Image, index: int) -> np.ndarray:
    if isinstance(image, CTVolume):
        return window_to_uint8(image.hu[index], WINDOW_PRESETS["lung"])
    return window_to_uint8(image.pixels, image.default_window, image.invert)


def heat_overlay(grey: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """RGB of a grey slice with a [0, 1] map blended on where it passes CAM_FLOOR."""
    steps = np.linspace(0.0, 1.0, len(_HEAT))
    colour = np.stack([np.interp(cam, steps, _HEAT[:, c]) for c in range(3)], axis=-1)
    alpha = np.where(cam >= CAM_FLOOR, CAM_OPACITY, 0.0)[..., None]
    base = np.repeat(grey[..., None].astype(np.float32), 3, axis=-1)
    return np.clip(base * (1 - alpha) + colour * alpha + 0.5, 0, 255).astype(np.uint8)


def key_images(image: Image, opinions: tuple[ModelOpinion, ...], numbering: SliceNumbering) -> list[KeyImage]:
    """One key image per model that looked at a slice."""
    found = []
    for opinion in opinions:
        index = key_slice(opinion)
        if index is None:
            continue
        cls = finding_class(opinion)
        cam = opinion.cam_volume(cls, [index])[index].astype(np.float32) / 255.0
        where = f"slice {numbering.label(index)}" if numbering.count > 1 else "the image"
        p = finding_probabilities(opinion)[index]
        caption = f"{opinion.model_id}: {where}, p({cls}) {p:.2f}, Grad-CAM of {cls} (research use)"
        found.append(KeyImage(opinion.model_id, index, heat_overlay(_grey(image, index), cam), caption))
    return found
