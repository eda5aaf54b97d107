"""What the viewer derives from the models' opinions, Qt-free: overlay layers, the finding each model
is read on, where models disagree along the series, and each model's key slice.

Grad-CAM maps stay at the model's feature resolution in a ``ModelOpinion`` (a few KB per slice) and
become image-sized layers only when drawn (``LazyMap``, filled by ``ModelOpinion.cam_volume``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from inference.opinion_rules import finding_class, finding_probabilities, key_slice  # noqa: F401 - the viewer's modules import them from here
from inference.pipelines.results import LungMask, ModelOpinion
from viewer.logic.layers import LUNG_LABEL_NAMES, LabelLayer, LazyMap, Layer

# Tableau 10: distinct on the dark viewer and on a white printed report alike.
MODEL_COLOURS: tuple[str, ...] = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#bab0ac",
)
CAM_COLORMAP = "inferno"  # perceptually uniform, readable with colour-blindness and in grey; jet is neither
CAM_OPACITY = 0.45
CAM_THRESHOLD = 0.25
MASK_OPACITY = 0.8  # drawn as an outline (contour): the parenchyma and the Grad-CAM stay readable


def model_colour(index: int) -> str:
    return MODEL_COLOURS[index % len(MODEL_COLOURS)]


def probabilities_title(slice_count: int) -> str:
    """Heading of the probabilities plot (dock and report): one bar per model is not "per slice"."""
    return "Probabilities" if slice_count == 1 else "Per-slice probabilities"


def disagreement(opinions: Sequence[ModelOpinion]) -> np.ndarray:
    """(slices,) True where, among the models with an operating threshold that analysed the slice,
    one reads it at or above its threshold and another below."""
    voters = [o for o in opinions if o.verdict.per_slice_threshold is not None]
    if len(voters) < 2:
        return np.zeros(len(opinions[0].probabilities) if opinions else 0, dtype=bool)
    above = np.stack([finding_probabilities(o) >= o.verdict.per_slice_threshold for o in voters])
    looked = np.stack([o.analysed for o in voters])
    any_above = (above & looked).any(axis=0)
    any_below = (~above & looked).any(axis=0)
    return any_above & any_below


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs of True as (first, last + 1) index pairs."""
    padded = np.concatenate([[False], np.asarray(flags, dtype=bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def lung_mask_layer_name(mask: LungMask) -> str:
    return f"lung mask ({mask.model_id or mask.source})"


def lung_mask_layer(mask: LungMask) -> LabelLayer:
    """Right lung (label 1) and left lung (label 2) outlined in the palette's two colours."""
    return LabelLayer(lung_mask_layer_name(mask), mask.labels, label_names=LUNG_LABEL_NAMES, opacity=MASK_OPACITY,
                      contour=True)


@dataclass(frozen=True)
class CamKey:
    """Which model and class a Grad-CAM layer shows."""

    model_id: str
    cls: str


def cam_layer_name(model_id: str, cls: str) -> str:
    return f"Grad-CAM {model_id}: {cls}"


class CamMaps:
    """The Grad-CAMs of one opinion on the image grid, one LazyMap (uint8, 255 = 1.0) per class: exact maps
    for the report's key slices (the viewer draws ``viewer.logic.cam_display``'s maps).

    ``shape`` is the open image's: (slices, H, W) for CT, (H, W) for an X-ray.
    """

    def __init__(self, opinion: ModelOpinion, shape: tuple[int, ...]) -> None:
        if tuple(shape[-2:]) != tuple(opinion.image_shape):
            raise ValueError(f"model {opinion.model_id} mapped slices of {opinion.image_shape}, the image is {shape}")
        self.opinion = opinion
        self.shape = tuple(shape)
        self.maps: dict[str, LazyMap] = {
            cls: LazyMap(self.shape, lambda k=k: self._steps(k)) for k, cls in enumerate(opinion.classes)
        }

    def _steps(self, k: int) -> np.ndarray:
        out = self.opinion.cam_volume(k)
        return out[0] if len(self.shape) == 2 else out


def compare_layers(layers: Iterable[Layer], cam_keys: dict[str, CamKey], model_id: str, cls: str) -> list[Layer]:
    """A compare pane's layers: the shared overlays as they are in the main list, no other model's
    Grad-CAM, and this model's map of ``cls`` shown (in the style the main list gives it)."""
    chosen = []
    for layer in layers:
        key = cam_keys.get(layer.name)
        if key is None:
            chosen.append(layer)
        elif key == CamKey(model_id, cls):
            chosen.append(layer if layer.visible else dataclasses.replace(layer, visible=True))
    return chosen
