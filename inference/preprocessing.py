"""The preprocessing contract shared by training and inference, written once so they cannot drift.

Every classifier and 2D segmenter sees the same thing whatever the source:
an 8-bit grey image (lungs dark, bone bright) -> letterbox or stretch to the model's square input ->
float32 in [0, 1] -> per-channel (x - mean) / std -> C identical channels, NCHW.

A CT slice, whatever its source (a DICOM series slice in HU, a single DICOM slice, a lung-window
PNG/JPEG screen capture or paper figure), goes through ONE contract, ``lung_view``: lung window
(1500/-600) to 8 bits (HU sources only: captures already are), then the lung region is found on the
8-bit image itself (``slice_lung_region``), the slice is cropped to that region's box plus a margin,
and everything outside the (slightly dilated) region is set to black. The model therefore sees the
lungs at one scale and nothing of the table, the field of view, burned-in text or the crop a source
uses: cues that identify a hospital or a paper, not a disease. The region is taken from the image,
not from a 3D mask, so a DICOM slice and a screen capture are treated by the very same code.

An X-ray goes through its VOI window and MONOCHROME1 inversion. Training calls the same functions
on its PNGs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

import numpy as np
import SimpleITK as sitk
from PIL import Image as PILImage
from PIL import ImageDraw

from inference.study import WINDOW_PRESETS, Window, XRayImage

# Bumped whenever any function here changes what a model sees; part of every result-cache key.
PREPROCESSING_VERSION = 3



class ResizePolicy(StrEnum):
    """How an image becomes the model's square: letterbox keeps the aspect ratio (black bars), stretch does not."""

    LETTERBOX = "letterbox"
    STRETCH = "stretch"

# (top, left, height, width) of a region of the image, in pixels
Box = tuple[int, int, int, int]
# Lung bounding box plus this share of its size on each side: takes in the chest wall, as the
# thorax crops of the CT training figures do. Chosen by looking at those figures, not tuned.
CT_CROP_MARGIN = 0.08
# -400 HU in the lung window: darker is aerated lung (or outside air).
AIR_LEVEL_U8 = 161
# A dark region must hold this share of the figure to count as lung (drops bowel gas, small airways).
MIN_LUNG_SHARE = 0.01
# A dark region touching the border with most of its pixels (OUTSIDE_AIR_SHARE) closer to the
# border than this share of the figure's smaller side is outside air (room air, the gap under the
# table, a corner beyond the field of view), not lung: lungs reach deep into the figure.
OUTSIDE_AIR_DEPTH = 0.12
OUTSIDE_AIR_SHARE = 0.5
# The second lung must hold this share of the first, else only the largest region is the lung.
SECOND_LUNG_SHARE = 0.1
# The region is dilated by this share of its box before the outside is blacked out: keeps the pleura.
REGION_MARGIN = 0.03

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputSpec:
    """How a model wants its input; stored in the model manifest under ``preprocessing``.

    size: square side in pixels. channels: 1 or 3 (grey replicated).
    mean/std: per channel, applied after scaling to [0, 1]; length 1 or ``channels``.
    window: (width, level) in HU used to turn CT into the 8-bit image; None for X-ray models.
    crop: "lungs" when the model sees only the lungs (``crop_to_region``: X-ray classifiers trained
    on the lung U-Net's region; every CT slice classifier goes through ``crop_to_lungs`` anyway),
    None for the whole image.
    """

    size: int
    channels: int = 3
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    resize: ResizePolicy = ResizePolicy.LETTERBOX
    window: tuple[float, float] | None = None
    crop: str | None = None

    def to_json(self) -> dict:
        """Plain types only (the policy as its string): a weights-only checkpoint stores this."""
        return {**asdict(self), "resize": str(self.resize)}

    @classmethod
    def from_json(cls, data: dict) -> "InputSpec":
        """Parse and check a manifest's ``preprocessing``; ValueError/TypeError on anything a model
        could not be fed with (a size of 0 or 10^6, NaN, a std of 0, an unknown resize policy)."""
        window = data.get("window")
        spec = cls(
            size=int(data["size"]),
            channels=int(data.get("channels", 3)),
            mean=tuple(float(v) for v in data.get("mean", IMAGENET_MEAN)),
            std=tuple(float(v) for v in data.get("std", IMAGENET_STD)),
            resize=_resize_policy(data.get("resize", "letterbox")),
            window=None if window is None else (float(window[0]), float(window[1])),
            crop=data.get("crop"),
        )
        if spec.crop not in (None, "lungs"):
            raise ValueError(f"preprocessing crop {spec.crop!r} is not 'lungs' or null")
        numbers = (*spec.mean, *spec.std, *(spec.window or ()))
        if not 8 <= spec.size <= 1024 or spec.channels not in (1, 3):
            raise ValueError(f"preprocessing size {spec.size} or channels {spec.channels} out of range")
        if not all(np.isfinite(numbers)) or min(spec.std) <= 0 or (spec.window and spec.window[0] <= 0):
            raise ValueError("preprocessing mean, std and window must be finite, std and window width positive")
        if len(spec.mean) not in (1, spec.channels) or len(spec.std) not in (1, spec.channels):
            raise ValueError("preprocessing mean and std need 1 or `channels` values")
        return spec


def _resize_policy(value: object) -> ResizePolicy:
    if value not in {policy.value for policy in ResizePolicy}:
        raise ValueError(f"preprocessing resize {value!r} is not letterbox or stretch")
    return ResizePolicy(value)


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


def fit_to_square(image: np.ndarray, size: int, policy: ResizePolicy = ResizePolicy.LETTERBOX) -> np.ndarray:
    """Resize an 8-bit (H, W) image to (size, size).

    letterbox keeps the aspect ratio and pads with black (air), so round anatomy stays round;
    stretch scales each axis independently.
    """
    if image.dtype != np.uint8 or image.ndim != 2:
        raise ValueError(f"expected a 2D uint8 image, got {image.dtype} {image.shape}")
    h, w = image.shape
    if policy == ResizePolicy.STRETCH:
        target = (size, size)
    else:
        scale = size / max(h, w)
        target = (max(1, round(w * scale)), max(1, round(h * scale)))
    resized = np.asarray(PILImage.fromarray(image).resize(target, PILImage.BILINEAR))
    if policy == ResizePolicy.STRETCH:
        return resized
    canvas = np.zeros((size, size), dtype=np.uint8)
    top = (size - resized.shape[0]) // 2
    left = (size - resized.shape[1]) // 2
    canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return canvas


def letterbox_box(shape: tuple[int, int], size: int, policy: ResizePolicy = ResizePolicy.LETTERBOX) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the image inside the model's square input, to map maps back."""
    if policy == ResizePolicy.STRETCH:
        return 0, 0, size, size
    h, w = shape
    scale = size / max(h, w)
    rh, rw = max(1, round(h * scale)), max(1, round(w * scale))
    return (size - rh) // 2, (size - rw) // 2, rh, rw


def map_to_image(
    square_map: np.ndarray, shape: tuple[int, int], policy: ResizePolicy = ResizePolicy.LETTERBOX, box: Box | None = None
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


def _convex_hull(mask: np.ndarray) -> np.ndarray:
    """The filled convex hull of a 2D mask (monotone chain over each row's two end pixels)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return mask.copy()
    first = mask[rows].argmax(axis=1)
    last = mask.shape[1] - 1 - mask[rows, ::-1].argmax(axis=1)
    points = sorted(set(zip(first.tolist(), rows.tolist())) | set(zip(last.tolist(), rows.tolist())))

    def half(ordered):
        chain: list[tuple[int, int]] = []
        for p in ordered:
            while len(chain) >= 2 and (
                (chain[-1][0] - chain[-2][0]) * (p[1] - chain[-2][1]) - (chain[-1][1] - chain[-2][1]) * (p[0] - chain[-2][0])
            ) <= 0:
                chain.pop()
            chain.append(p)
        return chain

    hull = half(points)[:-1] + half(points[::-1])[:-1]
    canvas = PILImage.new("1", (mask.shape[1], mask.shape[0]), 0)
    if len(hull) >= 2:
        ImageDraw.Draw(canvas).polygon(hull, fill=1, outline=1)
    return np.asarray(canvas, dtype=bool) | mask


def slice_lung_region(image: np.ndarray) -> np.ndarray:
    """Where the lungs are on an 8-bit lung-window slice (bool), found on the image alone.

    Dark regions (below -400 HU) holding at least ``MIN_LUNG_SHARE`` of the figure, except outside
    air (a region touching all four edges, or touching an edge and lying mostly in the figure's
    border band, ``OUTSIDE_AIR_DEPTH``); the largest (and the second largest, if it is a lung-sized share of it) are the
    lungs, and each lung becomes its convex hull. The hull is what takes the disease in: a
    consolidation or a mass is not air, so it is a bite out of the aerated lung, and the lung's outer
    contour is convex. Letterbox padding (all-black rows and columns at the edges) is ignored.
    """
    region = np.zeros(image.shape, dtype=bool)
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    if not len(rows):
        return region
    frame = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    figure = image[frame]
    height, width = figure.shape
    dark = sitk.GetImageFromArray((figure < AIR_LEVEL_U8).astype(np.uint8))
    labels = sitk.GetArrayFromImage(
        sitk.RelabelComponent(sitk.ConnectedComponent(dark), minimumObjectSize=max(1, int(MIN_LUNG_SHARE * figure.size)))
    )
    edges = [labels[0], labels[-1], labels[:, 0], labels[:, -1]]
    touching = [set(np.unique(edge[edge > 0]).tolist()) for edge in edges]
    depth = np.minimum.outer(np.minimum(np.arange(height), np.arange(height)[::-1]), np.minimum(np.arange(width), np.arange(width)[::-1]))
    lungs: list[np.ndarray] = []
    for label in range(1, int(labels.max()) + 1):
        where = labels == label
        on_border = sum(label in t for t in touching)
        shallow = np.mean(depth[where] < OUTSIDE_AIR_DEPTH * min(height, width))
        if on_border == 4 or (on_border and shallow > OUTSIDE_AIR_SHARE):
            continue
        lungs.append(where)
        if len(lungs) == 2:
            break
    if len(lungs) == 2 and lungs[1].sum() < SECOND_LUNG_SHARE * lungs[0].sum():
        lungs = lungs[:1]
    labels = np.zeros(image.shape, dtype=np.uint8)
    for number, lung in enumerate(lungs, start=1):
        labels[frame][lung] = number
    return lung_hull(labels) if lungs else region


@dataclass(frozen=True)
class LungCrop:
    """A CT slice cut down to its lungs at native resolution: the first half of the contract.

    ``image``: the crop, black outside the dilated lung region; ``region``: the lung region in the
    same frame (uint8 0/1); ``box``: where the crop sits on the slice, None when no lung was found
    (then ``image`` is the whole slice, unmasked)."""

    image: np.ndarray
    region: np.ndarray
    box: Box | None

    @property
    def found(self) -> bool:
        return self.box is not None


def lung_hull(labels: np.ndarray) -> np.ndarray:
    """The union of each lung's convex hull (labels 1 and 2, or any nonzero as one lung): a lung
    mask that also holds what bites into the lung's outline (consolidation, effusion, a mass)."""
    region = np.zeros(labels.shape, dtype=bool)
    for label in [v for v in np.unique(labels) if v] if labels.max() > 1 else [1]:
        lung = labels == label
        if lung.any():
            region |= _convex_hull(lung)
    return region


def crop_to_region(image: np.ndarray, region: np.ndarray) -> LungCrop:
    """An 8-bit image and its lung region -> the ``LungCrop``: cropped to the region's box
    (``lung_crop_box``), everything outside the thorax black.

    What stays visible is the convex hull of both lungs together (dilated by ``REGION_MARGIN``):
    the lungs, what lies between them, and disease that bites deep into a lung's outline (dense
    posterior consolidation leaves a lung's own hull short of it). Table, field of view, room air,
    body wall and burned-in text outside the ribs are gone. ``region`` itself (each lung's hull) is
    what M4 pools over."""
    if not region.any():
        return LungCrop(image, np.ones(image.shape, dtype=np.uint8), None)
    box = lung_crop_box(region)
    top, left, height, width = box
    radius = max(1, int(round(REGION_MARGIN * max(height, width))))
    thorax = _convex_hull(region)
    grown = sitk.GetArrayFromImage(
        sitk.BinaryDilate(sitk.GetImageFromArray(thorax.astype(np.uint8)), [radius, radius], sitk.sitkBall)
    ).astype(bool)
    view = np.where(grown, image, 0).astype(np.uint8)
    return LungCrop(np.ascontiguousarray(crop(view, box)), np.ascontiguousarray(crop(region.astype(np.uint8), box)), box)


def crop_to_lungs(image: np.ndarray) -> LungCrop:
    """An 8-bit lung-window CT slice -> its ``LungCrop``, the lungs found on the image itself."""
    return crop_to_region(image, slice_lung_region(image))


def lung_view(lungs: LungCrop, size: int, policy: ResizePolicy = ResizePolicy.LETTERBOX) -> tuple[np.ndarray, np.ndarray]:
    """The lung contract's second half (CT slices and lung-cropped X-rays): a ``LungCrop`` -> (square
    view, square lung region 0/1) at the model's size. The region is what M4 pools over."""
    return fit_to_square(lungs.image, size, policy), fit_to_square(lungs.region, size, policy)


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


def ct_window(spec: InputSpec) -> Window:
    """The model's CT window (the lung window unless its manifest says otherwise)."""
    width, level = spec.window or (WINDOW_PRESETS["lung"].width, WINDOW_PRESETS["lung"].level)
    return Window(width, level)


def prepare_ct_crops(crops: list[LungCrop], spec: InputSpec) -> tuple[np.ndarray, np.ndarray]:
    """``LungCrop``s -> (model batch NCHW float32, lung regions (N, 1, S, S) float32)."""
    if not crops:
        return normalise(np.zeros((0, spec.size, spec.size), np.uint8), spec), np.zeros((0, 1, spec.size, spec.size), np.float32)
    views = [lung_view(c, spec.size, spec.resize) for c in crops]
    squares = np.stack([v[0] for v in views])
    regions = np.stack([v[1] for v in views])[:, None].astype(np.float32)
    return normalise(squares, spec), regions


def prepare_ct_slices(hu_slices: np.ndarray, spec: InputSpec) -> tuple[np.ndarray, np.ndarray]:
    """HU slices (N, H, W) -> (model batch, lung regions): the model's CT window, then the contract."""
    return prepare_ct_crops([crop_to_lungs(ct_to_uint8(hu, ct_window(spec))) for hu in hu_slices], spec)
