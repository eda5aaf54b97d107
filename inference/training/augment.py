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
    # Left/right labels must not swap: no flips for lung masks (unet2d: see build_xray_mask_augmentation).
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


class SourceIntensity(torch.nn.Module):
    """What differs between CT sources after the lung window, simulated on what the contract shows
    (the black outside the thorax stays black): another window width and level (a
    linear map), another display gamma, blur or sharpness of another kernel, noise of another dose,
    and JPEG re-compression of a screen capture."""

    def __init__(self, contrast=(0.75, 1.3), shift=30.0, gamma=(0.7, 1.4), blur_p=0.3, noise_p=0.3, jpeg_p=0.3):
        super().__init__()
        self.contrast, self.shift, self.gamma = contrast, shift, gamma
        self.blur = v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 1.2))], p=blur_p)
        self.noise_p = noise_p
        self.jpeg = v2.RandomApply([v2.JPEG((30, 95))], p=jpeg_p)

    def forward(self, image, mask=None):
        # what the contract left visible (the thorax; black outside), not the lung region M4 pools over
        inside = image > 0
        x = image.float() / 255.0
        gamma = float(torch.empty(1).uniform_(*self.gamma))
        scale = float(torch.empty(1).uniform_(*self.contrast))
        shift = float(torch.empty(1).uniform_(-self.shift, self.shift)) / 255.0
        x = (x.clamp(min=0) ** gamma - 0.5) * scale + 0.5 + shift
        if float(torch.rand(1)) < self.noise_p:
            x = x + torch.randn_like(x) * float(torch.empty(1).uniform_(0.0, 0.04))
        out = (x.clamp(0, 1) * 255).round().to(torch.uint8)
        out = self.jpeg(self.blur(tv_tensors.Image(torch.where(inside, out, torch.zeros_like(out)))))
        out = tv_tensors.wrap(torch.where(inside, out, torch.zeros_like(out)), like=image)
        return out if mask is None else (out, mask)


LUNG_CROP_STRENGTHS = ("method", "light")


def build_lung_crop_augmentation(flip: bool = True, strength: str = "method") -> v2.Compose:
    """Lung crops from several sources (the contract's square view and lung region, moved together):
    horizontal flip (CT slices; not radiographs, where it would move the heart), small rotation,
    crop/scale, then ``SourceIntensity`` and a random resolution. ``light`` halves the intensity
    and resolution ranges: ground glass is a small change of density and fine texture, which the
    full ranges can wash out."""
    light = strength == "light"
    intensity = (
        SourceIntensity(contrast=(0.88, 1.14), shift=15.0, gamma=(0.85, 1.18), blur_p=0.15, noise_p=0.15, jpeg_p=0.2)
        if light
        else SourceIntensity()
    )
    return v2.Compose(
        ([v2.RandomHorizontalFlip()] if flip else [])
        + [
            v2.RandomAffine(degrees=10, translate=(0.05, 0.05), scale=(0.85, 1.15)),
            intensity,
            RandomResolution((0.75, 1.0) if light else (0.5, 1.0)),
        ]
    )


class RandomGamma(torch.nn.Module):
    """A display gamma drawn from ``gammas`` (exposure and detector response differ between sites)."""

    def __init__(self, gammas: tuple[float, float] = (0.6, 1.6)):
        super().__init__()
        self.gammas = gammas

    def forward(self, image, mask=None):
        gamma = float(torch.empty(1).uniform_(*self.gammas))
        out = tv_tensors.wrap(((image.float() / 255.0) ** gamma * 255.0).round().to(torch.uint8), like=image)
        return out if mask is None else (out, mask)


def build_xray_mask_augmentation(size: int) -> v2.Compose:
    """The X-ray lung U-Net learns from children's radiographs only (the one masked set there is), so
    training makes them look like adults' and other sites': zoom out (an adult chest fills less of
    the film, with shoulders and abdomen around it), random crop with another aspect (body habitus,
    collimation), rotation, exposure (brightness, contrast, gamma), histogram equalisation (the
    CLAHE-like look of some processed radiographs), blur and JPEG. No flips: right and left stay."""
    return v2.Compose(
        [
            v2.RandomZoomOut(fill=0, side_range=(1.0, 1.6), p=0.5),
            v2.RandomResizedCrop(size, scale=(0.55, 1.0), ratio=(0.75, 1.33), antialias=True),
            v2.RandomAffine(degrees=10),
            v2.ColorJitter(brightness=0.3, contrast=0.35),
            RandomGamma(),
            v2.RandomEqualize(p=0.25),
            v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 1.5))], p=0.25),
            v2.RandomApply([v2.JPEG((40, 95))], p=0.3),
        ]
    )
