"""Where each CT slice lies in the patient, in which order, and what is wrong with the stack.

Slices are ordered by ImagePositionPatient projected on the slice normal (the cross product of the
ImageOrientationPatient row and column cosines): file names, InstanceNumber and SliceLocation are
unreliable across vendors. Spacing comes from those positions, not SliceThickness, which is the
thickness of the reconstructed slab and differs from spacing for overlapping reconstructions.

Problems are reported as sentences and never "fixed": the volume keeps every slice where its file
says it is, so what the user sees is what the scanner wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
# Below this angle (degrees) two orientations are the same plane and a stack counts as untilted.
ORIENTATION_TOLERANCE_DEG = 0.5
TILT_TOLERANCE_DEG = 0.1


@dataclass(frozen=True)
class SlicePlacement:
    """The geometry tags of one slice (a file, or a frame of an Enhanced CT), as written."""

    label: str
    position: tuple[float, float, float] | None = None
    orientation: tuple[float, float, float, float, float, float] | None = None
    pixel_spacing: tuple[float, float] | None = None
    instance_number: int | None = None
    slice_thickness: float | None = None
    spacing_between_slices: float | None = None
    gantry_tilt: float | None = None


@dataclass(frozen=True, eq=False)
class StackGeometry:
    """Slice order and patient-space geometry of a stack, plus the warnings found on the way.

    ``order[k]`` is the index (in the input sequence) of the slice at array position k; slices run
    along +normal, so ``direction`` (columns: x, y, z axes in LPS) is right-handed.
    """

    order: tuple[int, ...]
    positions: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray
    slice_thickness: float | None
    warnings: tuple[str, ...]


def slice_normal(orientation: Sequence[float]) -> np.ndarray:
    """Unit normal of the image plane: row cosine x column cosine."""
    row, column = np.asarray(orientation[:3], dtype=float), np.asarray(orientation[3:6], dtype=float)
    normal = np.cross(row, column)
    return normal / np.linalg.norm(normal)


def plane_name(orientation: Sequence[float]) -> str:
    """axial, coronal, sagittal or oblique, from the dominant axis of the normal."""
    normal = np.abs(slice_normal(orientation))
    axis = int(np.argmax(normal))
    if normal[axis] < np.cos(np.deg2rad(10.0)):
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


def _plane_agreement(orientations: np.ndarray, reference: Sequence[float]) -> np.ndarray:
    """For (n, 6) orientations: True where both row and column cosines match ``reference``."""
    limit = np.cos(np.deg2rad(ORIENTATION_TOLERANCE_DEG))
    ref = np.asarray(reference, dtype=float)
    rows, columns = orientations[:, :3], orientations[:, 3:]
    row_cos = rows @ ref[:3] / (np.linalg.norm(rows, axis=1) * np.linalg.norm(ref[:3]))
    column_cos = columns @ ref[3:] / (np.linalg.norm(columns, axis=1) * np.linalg.norm(ref[3:]))
    return (row_cos > limit) & (column_cos > limit)


def same_plane(a: Sequence[float], b: Sequence[float]) -> bool:
    """True when two ImageOrientationPatient values describe the same plane and in-plane axes."""
    return bool(_plane_agreement(np.asarray([a], dtype=float), b)[0])


def _valid_orientations(values: np.ndarray) -> np.ndarray:
    """For (n, 6) orientations: True where both cosines and their cross product are non-degenerate."""
    rows, columns = values[:, :3], values[:, 3:]
    return (
        (np.linalg.norm(rows, axis=1) > 0.5)
        & (np.linalg.norm(columns, axis=1) > 0.5)
        & (np.linalg.norm(np.cross(rows, columns), axis=1) > 0.5)
    )


def _mm(value: float) -> str:
    return f"{value:.3g} mm" if abs(value) < 10 else f"{value:.1f} mm"


def _names(labels: Sequence[str], most: int = 3) -> str:
    shown = ", ".join(labels[:most])
    return shown + (f" and {len(labels) - most} more" if len(labels) > most else "")


def _orientation(slices: Sequence[SlicePlacement]) -> tuple[tuple[float, ...], list[str]]:
    stated = [s.orientation for s in slices if s.orientation is not None and len(s.orientation) == 6]
    found = np.asarray(stated, dtype=float).reshape(-1, 6)
    found = found[_valid_orientations(found)]
    if not len(found):
        return AXIAL, ["ImageOrientationPatient is missing: slices are assumed to be axial."]
    reference = tuple(float(v) for v in found[0])
    warnings = []
    if len(found) < len(slices):
        warnings.append(f"ImageOrientationPatient is missing or invalid in {len(slices) - len(found)} slice(s).")
    differ = int(np.count_nonzero(~_plane_agreement(found, reference)))
    if differ:
        warnings.append(
            f"Slices have different orientations ({differ} of {len(slices)} differ from the first, "
            f"{plane_name(reference)}): they are stacked anyway, so 3D views are unreliable."
        )
    return reference, warnings


def _pixel_spacing(slices: Sequence[SlicePlacement]) -> tuple[tuple[float, float], list[str]]:
    found = np.asarray([s.pixel_spacing for s in slices if s.pixel_spacing is not None], dtype=float).reshape(-1, 2)
    found = found[found.min(axis=1) > 0]
    if not len(found):
        return (1.0, 1.0), ["PixelSpacing is missing or zero: in-plane distances assume 1 mm pixels."]
    reference = (float(found[0, 0]), float(found[0, 1]))
    if not np.allclose(found, reference, rtol=1e-3):
        return reference, [f"PixelSpacing differs between slices; the first value {reference} is used."]
    return reference, []


def _nominal_spacing(slices: Sequence[SlicePlacement]) -> float | None:
    between = [s.spacing_between_slices for s in slices if s.spacing_between_slices and s.spacing_between_slices > 0]
    if between:
        return float(np.median(between))
    thickness = [s.slice_thickness for s in slices if s.slice_thickness and s.slice_thickness > 0]
    return float(np.median(thickness)) if thickness else None


def _gap_warnings(distances: np.ndarray, labels: Sequence[str]) -> tuple[float | None, list[str]]:
    """Median slice spacing and warnings about duplicated positions, missing slices, uneven gaps."""
    gaps = np.diff(distances)
    positive = gaps[gaps > 1e-3]
    median = float(np.median(positive)) if positive.size else None
    warnings = []
    duplicate_tolerance = max(1e-3, 0.01 * (median or 0.0))
    duplicates = np.flatnonzero(gaps <= duplicate_tolerance)
    if duplicates.size:
        pairs = [f"{labels[i]} = {labels[i + 1]}" for i in duplicates]
        warnings.append(
            f"{duplicates.size} slice position(s) occur twice ({_names(pairs)}): both copies are kept, "
            "so the volume has extra slices at those positions."
        )
    if median is None:
        return None, warnings
    tolerance = max(0.02 * median, 0.005)
    irregular = [(i, g) for i, g in enumerate(gaps) if g > duplicate_tolerance and abs(g - median) > tolerance]
    missing, uneven = [], []
    for i, gap in irregular:
        multiple = round(gap / median)
        if multiple >= 2 and abs(gap - multiple * median) <= tolerance * multiple:
            missing.append((i, gap, multiple - 1))
        else:
            uneven.append(gap)
    if missing:
        count = sum(m for _, _, m in missing)
        where = [f"{m} between {distances[i]:.1f} and {distances[i + 1]:.1f} mm" for i, _, m in missing]
        warnings.append(
            f"{count} slice(s) missing ({_names(where)}; usual spacing {_mm(median)}): "
            "the gap is kept, so 3D views stretch there."
        )
    if uneven:
        warnings.append(
            f"Non-uniform slice spacing: gaps from {_mm(min(min(uneven), median))} to "
            f"{_mm(max(max(uneven), median))} (median {_mm(median)}, used for the volume); "
            "3D distances are approximate."
        )
    return median, warnings


def _tilt_warning(positions: np.ndarray, normal: np.ndarray, slices: Sequence[SlicePlacement]) -> list[str]:
    travel = positions[-1] - positions[0]
    along = abs(float(travel @ normal))
    across = float(np.linalg.norm(travel - (travel @ normal) * normal))
    if along <= 1e-6:
        return []
    angle = float(np.degrees(np.arctan2(across, along)))
    if angle <= TILT_TOLERANCE_DEG:
        return []
    header = [s.gantry_tilt for s in slices if s.gantry_tilt]
    stated = f" (GantryDetectorTilt {header[0]:g} deg)" if header else ""
    return [
        f"Gantry tilt of {angle:.1f} deg{stated}: slice positions do not follow the slice normal, "
        "so the volume is sheared; distances across slices and 3D views are not corrected."
    ]


def stack_geometry(slices: Sequence[SlicePlacement]) -> StackGeometry:
    """Order slices along their normal and measure the stack; warnings say what does not add up."""
    if not slices:
        raise ValueError("a stack needs at least one slice")
    orientation, warnings = _orientation(slices)
    normal = slice_normal(orientation)
    (row_spacing, column_spacing), spacing_warnings = _pixel_spacing(slices)
    warnings += spacing_warnings
    stated = [s.spacing_between_slices for s in slices if s.spacing_between_slices is not None]
    negative = [value for value in stated if value < 0]
    if negative:
        warnings.append(
            f"SpacingBetweenSlices is negative ({negative[0]:g}) in {len(negative)} file(s): "
            "ignored; spacing is taken from the slice positions."
        )
    nominal = _nominal_spacing(slices)

    if all(s.position is not None for s in slices):
        raw = np.asarray([s.position for s in slices], dtype=float)
        distance = raw @ normal
        tie = [s.instance_number if s.instance_number is not None else 0 for s in slices]
        order = np.lexsort((tie, distance))
        positions = raw[order]
        labels = [slices[i].label for i in order]
        median, gap_warnings = _gap_warnings(distance[order], labels)
        warnings += gap_warnings
        warnings += _tilt_warning(positions, normal, slices) if len(slices) > 1 else []
        step = median if median is not None else (nominal or 1.0)
    else:
        numbers = [s.instance_number for s in slices]
        order = np.asarray(sorted(range(len(slices)), key=lambda i: (numbers[i] is None, numbers[i] or 0, i)))
        step = nominal or 1.0
        source = "SpacingBetweenSlices/SliceThickness" if nominal else "an assumed 1 mm"
        first = next((s.position for s in slices if s.position is not None), (0.0, 0.0, 0.0))
        positions = np.asarray(first, dtype=float) + np.arange(len(slices))[:, None] * step * normal
        if len(slices) > 1:
            warnings.append(
                f"ImagePositionPatient is missing: slices are ordered by InstanceNumber and spaced by {source} "
                f"({_mm(step)}); the order and spacing may be wrong."
            )

    row, column = np.asarray(orientation[:3], dtype=float), np.asarray(orientation[3:], dtype=float)
    direction = np.column_stack([row / np.linalg.norm(row), column / np.linalg.norm(column), normal])
    thickness = [s.slice_thickness for s in slices if s.slice_thickness and s.slice_thickness > 0]
    return StackGeometry(
        order=tuple(int(i) for i in order),
        positions=positions,
        spacing=(float(step), float(row_spacing), float(column_spacing)),
        origin=tuple(float(v) for v in positions[0]),
        direction=direction,
        slice_thickness=float(np.median(thickness)) if thickness else None,
        warnings=tuple(warnings),
    )
