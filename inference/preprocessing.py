"""The preprocessing contract shared by training and inference, written once so they cannot drift.

Every classifier and 2D segmenter sees the same thing whatever the source:
an 8-bit grey image (lungs dark, bone bright) -> letterbox or stretch to the model's square input ->
float32 in [0, 1] -> per-channel (x - mean) / std -> C identical channels, NCHW.

Real CT is brought to that 8-bit image with the lung window (1500/-600), because the CT slice
training data are figures from papers shown in a lung window, and cropped to the thorax
(``lung_crop_box``), because those figures show the chest, not the scanner's field of view with
table and room air; an X-ray goes through its VOI window and MONOCHROME1 inversion. Training calls
the same functions on its PNGs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from PIL import Image as PILImage

from inference.study import WINDOW_PRESETS, Window, XRayImage

# Bumped whenever any function here changes what a model sees; part of every result-cache key.
PREPROCESSING_VERSION = 2

ResizePolicy = Literal["letterbox", "stretch"]
# (top, left, height, width) of a region of the image, in pixels
Box = tuple[int, int, int, int]
# Lung bounding box plus this share of its size on each side: takes in the chest wall, as the
# thorax crops of the CT training figures do. Chosen by looking at those figures, not tuned.
CT_CROP_MARGIN = 0.08

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputSpec:
    """How a model wants its input; stored in the model manifest under ``preprocessing``.

    size: square side in pixels. channels: 1 or 3 (grey replicated).
    mean/std: per channel, applied after scaling to [0, 1]; length 1 or ``channels``.
    window: (width, level) in HU used to turn CT into the 8-bit image; None for X-ray models.
    """

    size: int
    channels: int = 3
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    resize: ResizePolicy = "letterbox"
    window: tuple[float, float] | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "InputSpec":
        window = data.get("window")
        return cls(
            size=int(data["size"]),
            channels=int(data.get("channels", 3)),
            mean=tuple(float(v) for v in data.get("mean", IMAGENET_MEAN)),
            std=tuple(float(v) for v in data.get("std", IMAGENET_STD)),
            resize=data.get("resize", "letterbox"),
            window=None if window is None else (float(window[0]), float(window[1])),
        )


def window_to_uint8(values: np.ndarray, window: Window, invert: bool = False) -> np.ndarray:
    """Linear VOI window to 0..255 (clipped), then inversion for MONOCHROME1: VOI first, inversion after."""
    low, high = window.low, window.high
    scale = 255.0 / max(high - low, 1e-6)
    out = np.clip((values.astype(np.float32) - low) * scale, 0.0, 255.0)
    if invert:
        out = 255.0 - out
    return np.rint(out).astype(np.uint8)


def ct_to_uint8(hu: np.ndarray, window: Window = WINDOW_PRESETS["lung"]) -> np.ndarray:
    """CT slice(s) in HU -> the 8-bit lung-window image the CT slice models were trained on."""
    return window_to_uint8(hu, window)


def xray_to_uint8(xray: XRayImage) -> np.ndarray:
    """An X-ray through its default VOI window and photometric inversion -> 8-bit, lungs dark."""
    return window_to_uint8(xray.pixels, xray.default_window, invert=xray.invert)


def fit_to_square(image: np.ndarray, size: int, policy: ResizePolicy = "letterbox") -> np.ndarray:
    """Resize an 8-bit (H, W) image to (size, size).

    letterbox keeps the aspect ratio and pads with black (air), so round anatomy stays round;
    stretch scales each axis independently.
    """
    if image.dtype != np.uint8 or image.ndim != 2:
        raise ValueError(f"expected a 2D uint8 image, got {image.dtype} {image.shape}")
    h, w = image.shape
    if policy == "stretch":
        target = (size, size)
    else:
        scale = size / max(h, w)
        target = (max(1, round(w * scale)), max(1, round(h * scale)))
    resized = np.asarray(PILImage.fromarray(image).resize(target, PILImage.BILINEAR))
    if policy == "stretch":
        return resized
    canvas = np.zeros((size, size), dtype=np.uint8)
    top = (size - resized.shape[0]) // 2
    left = (size - resized.shape[1]) // 2
    canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return canvas


def letterbox_box(shape: tuple[int, int], size: int, policy: ResizePolicy = "letterbox") -> tuple[int, int, int, int]:
    """(top, left, height, width) of the image inside the model's square input, to map maps back."""
    if policy == "stretch":
        return 0, 0, size, size
    h, w = shape
    scale = size / max(h, w)
    rh, rw = max(1, round(h * scale)), max(1, round(w * scale))
    return (size - rh) // 2, (size - rw) // 2, rh, rw


def map_to_image(
    square_map: np.ndarray, shape: tuple[int, int], policy: ResizePolicy = "letterbox", box: Box | None = None
) -> np.ndarray:
    """Bring a (size, size) float map (CAM, probability) from model space back onto the (H, W) image;
    ``box`` is the crop the model saw (``lung_crop_box``), zero outside it."""
    if box is not None:
        top, left, height, width = box
        on_image = np.zeros(shape, dtype=np.float32)
        on_image[top : top + height, left : left + width] = map_to_image(square_map, (height, width), policy)
        return on_image
    size = square_map.shape[0]
    top, left, rh, rw = letterbox_box(shape, size, policy)
    crop = np.ascontiguousarray(square_map[top : top + rh, left : left + rw], dtype=np.float32)
    resized = PILImage.fromarray(crop, mode="F").resize((shape[1], shape[0]), PILImage.BILINEAR)
    return np.asarray(resized, dtype=np.float32)


def lung_crop_box(lung_mask: np.ndarray, margin: float = CT_CROP_MARGIN) -> Box:
    """One in-plane box for a whole series: around every lung pixel of every slice, plus ``margin`` of
    the box's size on each side, clipped to the image. The whole image when there is no lung."""
    footprint = lung_mask.reshape(-1, *lung_mask.shape[-2:]).any(axis=0)
    height, width = footprint.shape
    rows, cols = np.flatnonzero(footprint.any(axis=1)), np.flatnonzero(footprint.any(axis=0))
    if not len(rows):
        return 0, 0, height, width
    pad_rows = int((rows[-1] + 1 - rows[0]) * margin)
    pad_cols = int((cols[-1] + 1 - cols[0]) * margin)
    top, bottom = max(0, rows[0] - pad_rows), min(height, rows[-1] + 1 + pad_rows)
    left, right = max(0, cols[0] - pad_cols), min(width, cols[-1] + 1 + pad_cols)
    return int(top), int(left), int(bottom - top), int(right - left)


def crop(images: np.ndarray, box: Box | None) -> np.ndarray:
    """(..., H, W) -> the box's pixels (a view); everything when ``box`` is None."""
    if box is None:
        return images
    top, left, height, width = box
    return images[..., top : top + height, left : left + width]


def normalise(images: np.ndarray, spec: InputSpec) -> np.ndarray:
    """uint8 (N, size, size) -> float32 (N, C, size, size) scaled to [0, 1] and standardised."""
    x = images.astype(np.float32)[:, None] / 255.0
    x = np.repeat(x, spec.channels, axis=1)
    mean = np.asarray(spec.mean, dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(spec.std, dtype=np.float32).reshape(1, -1, 1, 1)
    return np.ascontiguousarray((x - mean) / std, dtype=np.float32)


def prepare_batch(images: list[np.ndarray] | np.ndarray, spec: InputSpec) -> np.ndarray:
    """8-bit grey images of any size -> the model's NCHW float32 batch."""
    squares = np.stack([fit_to_square(img, spec.size, spec.resize) for img in images])
    return normalise(squares, spec)


def prepare_ct_slices(hu_slices: np.ndarray, spec: InputSpec, box: Box | None = None) -> np.ndarray:
    """HU slices (N, H, W) -> model batch, through the model's CT window (lung by default), cropped to
    ``box`` (the series' ``lung_crop_box``) first."""
    width, level = spec.window or (WINDOW_PRESETS["lung"].width, WINDOW_PRESETS["lung"].level)
    return prepare_batch(ct_to_uint8(crop(hu_slices, box), Window(width, level)), spec)
