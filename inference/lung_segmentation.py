"""CT lung segmentation without weights (SimpleITK), and the 128^3 grid the 3D U-Net works on.

The classical method is the fallback when no lung U-Net is installed and the reference the U-Net is
compared against. It labels 0 background, 1 right lung, 2 left lung (the patient's right and left,
decided from the direction cosines, never from the array's column order):

1. Work on a grid of about 2.5 mm (average-pooled): the morphology below costs seconds at
   0.7 mm and the result is refined back at full resolution in step 5.
2. Air = below -400 HU. Air connected to the in-plane border of any slice is outside the body
   (room air, the gap under the table) and is dropped; what is left is lungs, airways, bowel gas.
3. The two largest remaining components are the lungs when the second holds at least 1/8 of the
   first. Otherwise the lungs touch (anterior junction, or joined through trachea and main bronchi)
   and the largest component is split: its inside distance map is thresholded at growing depths
   until it falls apart into two large pieces lying side by side (left-right, not top-bottom); each
   voxel then joins the nearer piece, which cuts at the neck between the lungs.
4. Each lung is closed (4 mm) and its holes filled slice by slice, so vessels, airway walls and
   juxta-pleural nodules belong to the lung as radiologists draw it.
5. Back on the native grid (nearest neighbour), boundary voxels above -400 HU are trimmed, so the
   mask follows the pleura at full resolution.

The 3D U-Net (M4) sees the study on an isotropic cube (``resample_to_cube``): the volume's physical
extent is fitted into ``size``^3 voxels with one spacing for all axes (a 3D letterbox, padded with
air, so round anatomy stays round), its axes parallel to the volume's. Training builds its inputs
and targets with the same functions, and inference brings the U-Net's labels back to the native grid
with ``cube_labels_to_native`` (nearest neighbour).

Known limits: the trachea and main bronchi stay in whichever lung they are joined to (tens of ml out
of litres); a lung cut by the field of view's edge counts as outside air; dense consolidation that
reaches the pleura can be left out where the 4 mm closing does not bridge it.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from inference.preprocessing import InputSpec, ct_to_uint8, normalise
from inference.study import WINDOW_PRESETS, CTVolume, Window

# Bumped whenever the method changes its output; part of the result-cache key for classical masks.
CLASSICAL_VERSION = 2
# Bumped whenever ``unet_labels_to_native`` changes what it does to a U-Net's labels (cache key).
UNET_POSTPROCESSING_VERSION = 1
AIR_BELOW_HU = -400
WORKING_SPACING_MM = 2.5
SECOND_LUNG_MIN_SHARE = 1 / 8
SPLIT_DEPTHS_MM = (2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0)
# Big enough to bridge a tumour or a consolidation against the pleura or the spine (a 4 cm mass on
# Lung_Dx-A0001: 27 % of its box inside the mask at 4 mm, 78 % at 30 mm), small against the
# heart's hollow in the left lung. Measured in ``bench``-free tests on that series and phantoms.
CLOSING_MM = 30.0
BONE_HU = 200
RIGHT, LEFT = 1, 2


def _place(image: sitk.Image, volume: CTVolume) -> sitk.Image:
    image.SetSpacing([float(s) for s in volume.spacing[::-1]])
    image.SetOrigin([float(o) for o in volume.origin])
    image.SetDirection([float(d) for d in np.asarray(volume.direction, dtype=float).ravel()])
    return image


def volume_image(array: np.ndarray, volume: CTVolume) -> sitk.Image:
    """An array on the volume's grid as a SimpleITK image carrying its patient-space geometry."""
    return _place(sitk.GetImageFromArray(array), volume)


def _array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


def _like(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.CopyInformation(reference)
    return image


def _inner_air(air: sitk.Image) -> tuple[sitk.Image, sitk.Image]:
    """(air components not touching the in-plane border, largest first; the body = not outside air)."""
    components = _array(sitk.ConnectedComponent(air))
    edges = np.concatenate(
        [components[:, 0, :].ravel(), components[:, -1, :].ravel(), components[:, :, 0].ravel(), components[:, :, -1].ravel()]
    )
    outside = np.isin(components, np.unique(edges[edges > 0]))
    inner = np.where(outside, 0, components).astype(np.uint32)
    ranked = sitk.RelabelComponent(_like(inner, air), sortByObjectSize=True)
    return ranked, _like((~outside).astype(np.uint8), air)


def _left_right_centroid(mask: sitk.Image, label: int = 1) -> float:
    """Patient x (LPS: toward the patient's left) of a label's centroid."""
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(mask)
    return stats.GetCentroid(label)[0]


def _sizes(labels: sitk.Image) -> dict[int, int]:
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(labels)
    return {int(label): int(stats.GetNumberOfPixels(label)) for label in stats.GetLabels()}


def _side_by_side(seeds: sitk.Image) -> bool:
    """True when seeds 1 and 2 are separated mostly along the patient's left-right axis."""
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(seeds)
    delta = np.abs(np.subtract(stats.GetCentroid(1), stats.GetCentroid(2)))
    return bool(delta[0] > max(delta[1], delta[2]))


def _nearest_seed(component: sitk.Image, seeds: sitk.Image) -> sitk.Image:
    """Each voxel of the component goes to the closer of seeds 1 and 2 (Euclidean, in mm)."""
    distances = [
        _array(sitk.SignedMaurerDistanceMap(seeds == k, insideIsPositive=False, squaredDistance=True, useImageSpacing=True))
        for k in (1, 2)
    ]
    labels = np.where(distances[0] <= distances[1], 1, 2).astype(np.uint8) * (_array(component) > 0)
    return _like(labels.astype(np.uint8), component)


def _split_touching_lungs(component: sitk.Image) -> sitk.Image | None:
    """Cut one air component holding both lungs into two labels (1, 2), or None if it will not split.

    Depth is measured in the hole-filled lungs: vessels are holes in the air mask, and measured
    from them no point lies deeper than a few millimetres.
    """
    solid = _like(_fill_holes_per_slice(_array(component)), component)
    depth = sitk.SignedMaurerDistanceMap(solid, insideIsPositive=True, squaredDistance=False, useImageSpacing=True)
    for mm in SPLIT_DEPTHS_MM:
        seeds = sitk.RelabelComponent(sitk.ConnectedComponent(depth > mm), sortByObjectSize=True)
        sizes = _sizes(seeds)
        if not sizes:
            return None
        if len(sizes) >= 2 and sizes[2] >= SECOND_LUNG_MIN_SHARE * sizes[1] and _side_by_side(seeds):
            return _nearest_seed(component, seeds)
    return None


def _lung_parts(ranked: sitk.Image, body: sitk.Image) -> np.ndarray:
    """Working-grid labels 0/1/2 (right/left) from the ranked inner air components."""
    sizes = _sizes(ranked)
    labels = np.zeros(_array(ranked).shape, dtype=np.uint8)
    if not sizes:
        return labels
    largest = sitk.Cast(ranked == 1, sitk.sitkUInt8)
    if sizes.get(2, 0) >= SECOND_LUNG_MIN_SHARE * sizes[1]:
        parts = [largest, sitk.Cast(ranked == 2, sitk.sitkUInt8)]
    else:
        split = _split_touching_lungs(largest)
        parts = [largest] if split is None else [split == 1, split == 2]
    if len(parts) == 2:
        x = [_left_right_centroid(sitk.Cast(p, sitk.sitkUInt8)) for p in parts]
        sides = (RIGHT, LEFT) if x[0] < x[1] else (LEFT, RIGHT)
    else:
        sides = (RIGHT if _left_right_centroid(largest) < _left_right_centroid(body) else LEFT,)
    for part, side in zip(parts, sides):
        labels[_array(sitk.Cast(part, sitk.sitkUInt8)) > 0] = side
    return labels


def _fill_holes_per_slice(mask: np.ndarray) -> np.ndarray:
    """2D hole filling of every axial slice in one call: the slices, each framed by background,
    are stacked into one tall 2D image, so a hole can never leak into a neighbouring slice."""
    z, y, x = mask.shape
    framed = np.zeros((z, y + 2, x + 2), dtype=np.uint8)
    framed[:, 1:-1, 1:-1] = mask
    filled = _array(sitk.BinaryFillhole(sitk.GetImageFromArray(framed.reshape(z * (y + 2), x + 2))))
    return filled.reshape(z, y + 2, x + 2)[:, 1:-1, 1:-1]


def _close_and_fill(labels: np.ndarray, reference: sitk.Image, hu: np.ndarray) -> np.ndarray:
    """Each lung closed in 3D (``CLOSING_MM`` ball, inside its bounding box) and hole-filled slice by
    slice, so dense disease enclosed by or abutting aerated lung joins it; what both lungs' closings
    claim (the mediastinum between them) and bone (above ``BONE_HU``) is not added."""
    spacing = reference.GetSpacing()
    radius = [int(round(CLOSING_MM / s)) for s in spacing]
    closed_sides = {}
    for side in (RIGHT, LEFT):
        where = np.argwhere(labels == side)
        if not len(where):
            continue
        margin = np.array(radius[::-1]) + 1
        low = np.maximum(where.min(0) - margin, 0)
        high = np.minimum(where.max(0) + margin + 1, labels.shape)
        box = tuple(slice(a, b) for a, b in zip(low, high))
        lung = sitk.GetImageFromArray((labels[box] == side).astype(np.uint8))
        lung.SetSpacing(spacing)
        closed = np.zeros(labels.shape, dtype=bool)
        closed[box] = _fill_holes_per_slice(_array(sitk.BinaryMorphologicalClosing(lung, radius, sitk.sitkBall))) > 0
        closed_sides[side] = closed
    out = labels.copy()
    contested = np.logical_and.reduce(list(closed_sides.values())) if len(closed_sides) == 2 else np.zeros(labels.shape, bool)
    for side, closed in closed_sides.items():
        out[closed & (out == 0) & ~contested & (hu < BONE_HU)] = side
    return out


def _upsample(labels: np.ndarray, factors_zyx: list[int], shape: tuple[int, ...]) -> np.ndarray:
    """Nearest-neighbour inverse of BinShrink: repeat each voxel, edge-pad the remainder it dropped."""
    for axis, factor in enumerate(factors_zyx):
        labels = np.repeat(labels, factor, axis=axis)
    pad = [(0, n - m) for n, m in zip(shape, labels.shape)]
    return np.pad(labels, pad, mode="edge")


def _interior(mask: np.ndarray) -> np.ndarray:
    """Voxels whose four in-plane neighbours are in the mask too (a one-voxel 2D erosion)."""
    inner = mask.copy()
    inner[:, 1:, :] &= mask[:, :-1, :]
    inner[:, :-1, :] &= mask[:, 1:, :]
    inner[:, :, 1:] &= mask[:, :, :-1]
    inner[:, :, :-1] &= mask[:, :, 1:]
    return inner


def _shrink_factors(spacing: tuple[float, ...], target_mm: float, sizes: tuple[int, ...], rounding) -> list[int]:
    """Whole shrink factors bringing each axis near ``target_mm``, never more than the axis holds
    (a one-slice series stays one slice)."""
    return [int(min(max(1, rounding(target_mm / s)), n)) for s, n in zip(spacing, sizes)]


def working_factors(volume: CTVolume) -> list[int]:
    """Shrink factors (z, y, x) of the classical method's ~2.5 mm working grid."""
    return _shrink_factors(volume.spacing, WORKING_SPACING_MM, volume.shape, round)


def segment_lungs_classical(volume: CTVolume) -> np.ndarray:
    """Right (1) and left (2) lung labels on the volume's native (z, y, x) grid, uint8; all 0 if none found."""
    native = volume_image(volume.hu, volume)
    factors = working_factors(volume)
    working = sitk.BinShrink(native, factors[::-1]) if max(factors) > 1 else native
    air = sitk.BinaryThreshold(working, -32768, AIR_BELOW_HU - 1, 1, 0)
    ranked, body = _inner_air(air)
    labels = _close_and_fill(_lung_parts(ranked, body), working, _array(working))
    on_native = _upsample(labels, factors, volume.shape)
    keep = (volume.hu < AIR_BELOW_HU) | _upsample(_interior(labels > 0), factors, volume.shape)
    return np.where(keep, on_native, 0).astype(np.uint8)


def cube_reference(volume: CTVolume, size: int) -> sitk.Image:
    """An empty ``size``^3 isotropic grid centred on the volume, axes parallel to it, holding its whole extent."""
    spacing = np.asarray(volume.spacing[::-1], dtype=float)
    extent = spacing * np.asarray(volume.shape[::-1])
    cube_spacing = float(extent.max() / size)
    direction = np.asarray(volume.direction, dtype=float)
    centre = np.asarray(volume.origin, dtype=float) + direction @ ((np.asarray(volume.shape[::-1]) - 1) / 2 * spacing)
    origin = centre - direction @ (np.full(3, (size - 1) / 2) * cube_spacing)
    reference = sitk.Image([size] * 3, sitk.sitkUInt8)
    reference.SetSpacing([cube_spacing] * 3)
    reference.SetOrigin([float(o) for o in origin])
    reference.SetDirection([float(d) for d in direction.ravel()])
    return reference


def resample_to_cube(volume: CTVolume, size: int = 128) -> np.ndarray:
    """HU on the U-Net's isotropic cube, int16 (size, size, size), air outside the study.

    Averaging by whole factors first (BinShrink) keeps the big downsampling from aliasing noise
    into the cube; the linear resample then only has a factor below 2 left to do.
    """
    reference = cube_reference(volume, size)
    native = volume_image(volume.hu, volume)
    factors = _shrink_factors(native.GetSpacing(), reference.GetSpacing()[0], native.GetSize(), np.floor)
    source = sitk.BinShrink(native, factors) if max(factors) > 1 else native
    cube = sitk.Resample(source, reference, sitk.Transform(), sitk.sitkLinear, -1024.0, sitk.sitkInt16)
    return _array(cube)


def labels_to_cube(labels: np.ndarray, volume: CTVolume, size: int = 128) -> np.ndarray:
    """A native-grid label map on the cube (nearest neighbour): the 3D U-Net's training target."""
    image = volume_image(np.ascontiguousarray(labels, dtype=np.uint8), volume)
    cube = sitk.Resample(image, cube_reference(volume, size), sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return _array(cube)


def cube_labels_to_native(cube_labels: np.ndarray, volume: CTVolume) -> np.ndarray:
    """The U-Net's cube labels back on the volume's native (z, y, x) grid, nearest neighbour, uint8."""
    cube = sitk.GetImageFromArray(np.ascontiguousarray(cube_labels, dtype=np.uint8))
    cube.CopyInformation(cube_reference(volume, cube_labels.shape[0]))
    native = _place(sitk.Image([int(n) for n in volume.shape[::-1]], sitk.sitkUInt8), volume)
    return _array(sitk.Resample(cube, native, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8))


def unet_labels_to_native(cube_labels: np.ndarray, cube_hu: np.ndarray, volume: CTVolume) -> np.ndarray:
    """The 3D U-Net's cube labels closed like the classical mask's (step 4 at ``CLOSING_MM``), then on
    the native grid: it learned mostly from phantoms and leaves dense disease against the pleura out
    (Lung_Dx-A0001: 20 % of the tumour boxes inside its raw mask), the closing brings it back in."""
    closed = _close_and_fill(cube_labels, cube_reference(volume, cube_labels.shape[0]), cube_hu)
    return cube_labels_to_native(closed, volume)


def prepare_ct_cube(cube_hu: np.ndarray, spec: InputSpec) -> np.ndarray:
    """HU cube -> the 3D U-Net's (1, C, S, S, S) float32 input, through the same window and
    normalisation as every 2D model (each axial plane is one image of the contract)."""
    width, level = spec.window or (WINDOW_PRESETS["lung"].width, WINDOW_PRESETS["lung"].level)
    planes = normalise(ct_to_uint8(cube_hu, Window(width, level)), spec)
    return np.ascontiguousarray(np.moveaxis(planes, 1, 0)[None])
