"""Grad-CAM maps made to read well on screen, and cheap to show again. No Qt here.

A model's map of a slice is exact but not pleasant: it ends in a hard rectangle at the crop box the
model saw, and maps of neighbouring slices are computed independently, so coronal and sagittal panes
show them as stripes. For display (never for a number) each map is

1. taken from ``ModelOpinion.cam_volume`` (the core's mapping onto the image grid, crop boxes included),
2. averaged into blocks of ``factor`` x ``factor`` pixels (a Grad-CAM carries 5-40 cells across a
   slice, so 4-pixel blocks of a 512 slice lose nothing),
3. feathered at its crop box: a smooth ramp from 0 at the box edge to 1 at ``FEATHER_SHARE`` of the box
   inside, so the map fades out instead of stopping at a straight line,
4. interpolated across slices: a Gaussian of ``Z_SIGMA_MM`` (at least ``Z_SIGMA_MIN_SLICES``) along the
   series, normalised over the slices the model analysed, so slice-to-slice jumps do not stripe a
   reformatted pane,

and kept as that coarse volume (``CoarseCam``), which the result cache holds under a digest of what
it was made from: reopening a study shows the maps without recomputing them (the core's mapping
costs seconds on a 300-slice series). Panes ask for one plane slice at a time (``plane_slice``),
upsampled bilinearly to the image grid on demand, optionally kept to the lung mask.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage

from inference.cache import ResultCache, cache_key
from inference.pipelines.results import ModelOpinion
from viewer.logic.layers import quantised
from viewer.logic.planes import Plane

DISPLAY_VERSION = 2
COARSE_SIDE = 128  # the coarse map's longest in-plane side, about
FEATHER_SHARE = 0.12  # of the crop box's side
FEATHER_MIN_PX = 4.0
Z_SIGMA_MM = 3.0
Z_SIGMA_MIN_SLICES = 0.85  # thick slices: at least this much of each neighbour, or 5 mm slices still stripe


def coarse_factor(image_shape: tuple[int, ...]) -> int:
    """In-plane block size: a coarse side of about ``COARSE_SIDE`` pixels (1 for small images)."""
    return max(1, round(max(image_shape[-2:]) / COARSE_SIDE))


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _block_mean(slices: np.ndarray, factor: int) -> np.ndarray:
    """(S, H, W) uint8 steps -> (S, ceil(H/f), ceil(W/f)) float32 in [0, 1], edge blocks padded by repetition."""
    s, h, w = slices.shape
    rows, cols = math.ceil(h / factor), math.ceil(w / factor)
    if factor == 1:
        return slices.astype(np.float32) / np.float32(255.0)
    padded = np.pad(slices, ((0, 0), (0, rows * factor - h), (0, cols * factor - w)), mode="edge")
    blocks = padded.reshape(s, rows, factor, cols, factor).sum(axis=(2, 4), dtype=np.uint32)
    return blocks.astype(np.float32) / np.float32(255.0 * factor * factor)


def feather_weights(box: tuple[int, int, int, int] | None, image_shape: tuple[int, int], factor: int) -> np.ndarray:
    """(rows, cols) weights on the coarse grid: 0 outside the crop box, rising smoothly to 1 inside it."""
    h, w = image_shape
    rows, cols = math.ceil(h / factor), math.ceil(w / factor)
    top, left, height, width = box if box is not None else (0, 0, h, w)

    def ramp(count: int, start: int, length: int, full: int) -> np.ndarray:
        centres = (np.arange(count) + 0.5) * factor
        depth = np.minimum(centres - start, start + length - centres)  # distance inside the box, in pixels
        feather = max(FEATHER_MIN_PX, FEATHER_SHARE * length)
        if start <= 0 and start + length >= full:  # the whole image: nothing to fade into
            return np.ones(count, dtype=np.float32)
        return _smoothstep(depth / feather).astype(np.float32)

    return np.outer(ramp(rows, top, height, h), ramp(cols, left, width, w))


def z_interpolated(maps: np.ndarray, analysed: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Each analysed slice's map averaged with its neighbours' (Gaussian of ``Z_SIGMA_MM``), weighted by
    which slices were analysed; slices not analysed stay 0 (the model did not look there)."""
    sigma = max(Z_SIGMA_MM / max(spacing_mm, 1e-3), Z_SIGMA_MIN_SLICES)
    radius = int(math.ceil(2.5 * sigma))
    if len(maps) < 2 or radius == 0:
        return maps
    weights = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2).astype(np.float32)
    looked = analysed.astype(np.float32)
    total = np.zeros_like(maps)
    norm = np.zeros(len(maps), dtype=np.float32)
    count = len(maps)
    for offset, weight in zip(range(-radius, radius + 1), weights):
        dst = slice(max(0, -offset), count - max(0, offset))
        src = slice(max(0, offset), count - max(0, -offset))
        total[dst] += weight * maps[src] * looked[src, None, None]
        norm[dst] += weight * looked[src]
    out = np.divide(total, norm[:, None, None], out=np.zeros_like(total), where=norm[:, None, None] > 0)
    out *= looked[:, None, None]
    return out


def coarse_display(opinion: ModelOpinion, cls: str, image_shape: tuple[int, ...], spacing_z_mm: float | None) -> np.ndarray:
    """The display map of ``cls`` as (S, rows, cols) uint8 steps on the coarse grid (steps 1-4 above)."""
    fine = opinion.cam_volume(cls)
    factor = coarse_factor(image_shape)
    maps = _block_mean(fine, factor)
    shape2d = tuple(image_shape[-2:])
    for index in np.flatnonzero(opinion.analysed):
        maps[index] *= feather_weights(opinion.crop_box(int(index)), shape2d, factor)
    if len(maps) > 1 and spacing_z_mm:
        maps = z_interpolated(maps, opinion.analysed, spacing_z_mm)
    return quantised(maps)


def display_key(opinion: ModelOpinion, cls: str, image_shape: tuple[int, ...], spacing_z_mm: float | None) -> str:
    """The cache entry of a display map: a digest of everything it is made from."""
    digest = hashlib.blake2b(digest_size=20)
    k = opinion.classes.index(cls)
    digest.update(np.ascontiguousarray(opinion.cams[:, k]).data)
    if opinion.crop_boxes is not None:
        digest.update(np.ascontiguousarray(opinion.crop_boxes).data)
    digest.update(json.dumps([list(image_shape), opinion.input_size, opinion.resize, spacing_z_mm,
                              opinion.analysed.tolist()]).encode())
    return cache_key("cam-display", DISPLAY_VERSION, digest.hexdigest())


def cached_coarse_display(opinion: ModelOpinion, cls: str, image_shape: tuple[int, ...], spacing_z_mm: float | None,
                          cache: ResultCache | None) -> np.ndarray:
    """``coarse_display`` from the result cache when it was made before, else made and stored there."""
    key = display_key(opinion, cls, image_shape, spacing_z_mm)
    hit = cache.get(key) if cache is not None else None
    if hit is not None and hit[0].get("steps") is not None:
        return hit[0]["steps"]
    steps = coarse_display(opinion, cls, image_shape, spacing_z_mm)
    if cache is not None:
        cache.put(key, {"steps": steps}, {"model_id": opinion.model_id, "class": cls})
    return steps


def _resized(values: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Bilinear resize of a 2D float32 array (pixel centres aligned, as the block averaging assumed)."""
    if values.shape == (rows, cols):
        return values
    picture = PILImage.fromarray(np.ascontiguousarray(values, dtype=np.float32), mode="F")
    return np.asarray(picture.resize((cols, rows), PILImage.BILINEAR), dtype=np.float32)


@dataclass(frozen=True, eq=False)
class CoarseCam:
    """A display map on the coarse grid that panes read one plane slice at a time, on the image grid.

    ``shape`` is the image's; ``lungs`` (the lung mask's labels, optional) keeps the map to the lungs.
    """

    steps: np.ndarray  # (S, rows, cols) uint8, or (1, rows, cols) for an X-ray
    shape: tuple[int, ...]
    factor: int
    lungs: np.ndarray | None = None

    def _fine(self, axis: int) -> int:
        full = self.shape if len(self.shape) == 3 else (1, *self.shape)
        return full[axis]

    def plane_slice(self, plane: Plane, k: int) -> np.ndarray:
        """uint8 steps of slice ``k`` of ``plane``, shaped (rows, cols) as the pane shows it."""
        slice_axis, row_axis, col_axis = plane.axes
        coarse = np.moveaxis(self.steps, (slice_axis, row_axis, col_axis), (0, 1, 2))
        if slice_axis == 0:
            plane2d = coarse[k].astype(np.float32)
        else:  # between two coarse planes, as the bilinear upsampling would put it
            where = min(max((k + 0.5) / self.factor - 0.5, 0.0), coarse.shape[0] - 1)
            below = int(math.floor(where))
            above, t = min(below + 1, coarse.shape[0] - 1), np.float32(where - below)
            plane2d = coarse[below].astype(np.float32) * (1 - t) + coarse[above].astype(np.float32) * t
        values = _resized(plane2d, self._fine(row_axis), self._fine(col_axis))
        if self.lungs is not None:
            unflipped = Plane(plane.name, plane.axes)
            values = values * (unflipped.view(self.lungs)[k] > 0)
        values = values[:: -1 if plane.flip_rows else 1, :: -1 if plane.flip_cols else 1]
        return np.ascontiguousarray(np.clip(values + 0.5, 0, 255).astype(np.uint8))

    def array(self) -> np.ndarray:
        """The whole map on the image grid (for whoever needs a volume; panes never do)."""
        axial = Plane("axial")
        volume = np.stack([self.plane_slice(axial, k) for k in range(len(self.steps))])
        return volume if len(self.shape) == 3 else volume[0]


def share_inside_lungs(steps: np.ndarray, lungs: np.ndarray, factor: int) -> float:
    """Share of the display map's mass that lies inside the lung mask, on the coarse grid (NaN when empty)."""
    lungs = lungs if lungs.ndim == 3 else lungs[None]
    inside = _block_mean((lungs > 0).astype(np.uint8) * np.uint8(255), factor)
    weights = steps.astype(np.float32)
    total = float(weights.sum())
    return float((weights * inside).sum() / total) if total > 0 else math.nan
