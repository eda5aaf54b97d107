"""Augmentation per method, applied to the 8-bit square image (and its mask) before normalisation.

Geometric transforms move an image and its lung mask together (torchvision v2 with tv_tensors.Mask
uses nearest-neighbour for the mask). "resolution" is ours, not the papers': the CT figures come at
very different sizes per class, so random down-and-up sampling keeps a model from reading sharpness
as a label. Grey images are replicated to three channels only later, so hue and saturation jitter
(named by M1) are no-ops here; brightness and contrast are what remains of "colour jitter".
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2


@dataclass(frozen=True)
class AugmentConfig:
    flip_horizontal: bool = False
    flip_vertical: bool = False
    rotation_deg: float = 0.0
    translate: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    shear_deg: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    resolution: tuple[float, float] | None = None

    def is_identity(self) -> bool:
        return self == AugmentConfig()


LIGHT = AugmentConfig(rotation_deg=10, translate=0.05, scale=(0.9, 1.1), brightness=0.2, contrast=0.2, resolution=(0.4, 1.0))

METHOD_AUGMENTATION: dict[str, AugmentConfig] = {
    "baseline": LIGHT,
    # M1: flips, rotation, colour jitter, random affine (rotation, shear, translation, scale).
    "M1": replace(LIGHT, flip_horizontal=True, flip_vertical=True, rotation_deg=15, shear_deg=10),
    # M2's paper names no augmentation; the light set keeps the comparison fair.
    "M2": LIGHT,
    # M3: heavy small-sample augmentation: shear, rotation, translation.
    "M3": replace(LIGHT, rotation_deg=20, translate=0.1, shear_deg=15),
    "M4": replace(LIGHT, flip_horizontal=True),
    "M5": LIGHT,
    # Left/right labels must not swap: no flips for lung masks.
    "unet2d": AugmentConfig(rotation_deg=10, translate=0.05, scale=(0.9, 1.1), brightness=0.2, contrast=0.2),
    "unet3d": AugmentConfig(),
}


class RandomResolution(torch.nn.Module):
    """Down-sample by a random factor and back up, blurring away per-source sharpness."""

    def __init__(self, factors: tuple[float, float]):
        super().__init__()
        self.factors = factors

    def forward(self, image, mask=None):
        size = image.shape[-1]
        factor = float(torch.empty(1).uniform_(*self.factors))
        small = max(8, int(size * factor))
        image = tv_tensors.wrap(v2.functional.resize(v2.functional.resize(image, [small, small], antialias=True), [size, size], antialias=True), like=image)
        return image if mask is None else (image, mask)


def build_augmentation(config: AugmentConfig) -> v2.Compose | None:
    """A transform taking (tv_tensors.Image uint8 [1,S,S], tv_tensors.Mask or None)."""
    if config.is_identity():
        return None
    steps: list[torch.nn.Module] = []
    if config.flip_horizontal:
        steps.append(v2.RandomHorizontalFlip())
    if config.flip_vertical:
        steps.append(v2.RandomVerticalFlip())
    if config.rotation_deg or config.translate or config.shear_deg or config.scale != (1.0, 1.0):
        steps.append(
            v2.RandomAffine(
                degrees=config.rotation_deg,
                translate=(config.translate, config.translate) if config.translate else None,
                scale=config.scale,
                shear=config.shear_deg or None,
            )
        )
    if config.brightness or config.contrast:
        steps.append(v2.ColorJitter(brightness=config.brightness, contrast=config.contrast))
    if config.resolution is not None:
        steps.append(RandomResolution(config.resolution))
    return v2.Compose(steps)
