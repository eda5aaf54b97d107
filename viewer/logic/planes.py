"""Which array axes each pane shows, flipped how, and what the screen edges are in the patient.

Panes are defined in patient terms (radiological convention): axial and coronal put the patient's
right on screen left; axial puts anterior up, coronal and sagittal put superior up, sagittal puts
anterior on the left. The array axes behind each pane come from the direction cosines, never from
an assumed acquisition, so a series acquired sagittally still shows a true axial pane. Qt-free.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

# LPS patient axes: 0 = +L, 1 = +P, 2 = +S. Each plane: (normal axis, screen-right (axis, sign), screen-down (axis, sign)).
_PLANE_AXES: dict[str, tuple[int, tuple[int, int], tuple[int, int]]] = {
    "axial": (2, (0, +1), (1, +1)),
    "coronal": (1, (0, +1), (2, -1)),
    "sagittal": (0, (1, +1), (2, -1)),
}
MPR_PLANES: tuple[str, ...] = tuple(_PLANE_AXES)
# Where "next slice" (wheel down, Down, Page Down, cine) goes, as PACS viewers do: axial toward the
# feet, coronal toward the back, sagittal toward the patient's left. (patient axis, sign) in LPS.
_NEXT_SLICE: dict[str, tuple[int, int]] = {"axial": (2, -1), "coronal": (1, +1), "sagittal": (0, +1)}
_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))
# A secondary letter is shown once the obliquity passes ~15 degrees (sin 15 deg ~ 0.26).
_OBLIQUE_COMPONENT = 0.26


def axis_vector(direction: np.ndarray, array_axis: int) -> np.ndarray:
    """Patient-space unit vector of array axis 0 (z), 1 (y) or 2 (x); ``direction`` columns are x, y, z."""
    return np.asarray(direction, dtype=float)[:, 2 - array_axis]


def patient_axis_of_array_axes(direction: np.ndarray) -> tuple[tuple[int, int], ...]:
    """For array axes (z, y, x): the (patient axis, sign) each runs along, one patient axis per array axis."""
    cosines = np.abs(np.stack([axis_vector(direction, a) for a in range(3)]))
    best = max(itertools.permutations(range(3)), key=lambda p: sum(cosines[a, p[a]] for a in range(3)))
    return tuple((p, 1 if axis_vector(direction, a)[p] >= 0 else -1) for a, p in enumerate(best))


@dataclass(frozen=True)
class Plane:
    """A pane's slicing: array axes shown as (slice, rows, columns), then optional row/column flips."""

    name: str
    axes: tuple[int, int, int] = (0, 1, 2)
    flip_rows: bool = False
    flip_cols: bool = False

    def view(self, array: np.ndarray) -> np.ndarray:
        """The array re-indexed as (slice, row, column) in screen order; a numpy view, no copy.

        A 2D image (an X-ray) is one slice.
        """
        view = np.transpose(array[None] if array.ndim == 2 else array, self.axes)
        return view[:, ::-1 if self.flip_rows else 1, ::-1 if self.flip_cols else 1]

    def to_array_index(self, k: int, row: int, col: int, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Array index (z, y, x), or (y, x) for a 2D image, of a pane's (slice, row, column)."""
        full = shape if len(shape) == 3 else (1, *shape)
        n_rows, n_cols = full[self.axes[1]], full[self.axes[2]]
        shown = (k, n_rows - 1 - row if self.flip_rows else row, n_cols - 1 - col if self.flip_cols else col)
        index = [0, 0, 0]
        for position, axis in enumerate(self.axes):
            index[axis] = shown[position]
        return tuple(index) if len(shape) == 3 else tuple(index[1:])

    def from_array_index(self, index: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, int, int]:
        """The pane's (slice, row, column) showing an array index (z, y, x)."""
        full = shape if len(shape) == 3 else (1, *shape)
        index = tuple(index) if len(index) == 3 else (0, *index)
        k, row, col = (index[a] for a in self.axes)
        if self.flip_rows:
            row = full[self.axes[1]] - 1 - row
        if self.flip_cols:
            col = full[self.axes[2]] - 1 - col
        return k, row, col

    def pixel_spacing(self, spacing: tuple[float, ...]) -> tuple[float, float]:
        """(row, column) spacing in mm of the pane's pixels, from the array's (z, y, x) spacing."""
        full = spacing if len(spacing) == 3 else (1.0, *spacing)
        return float(full[self.axes[1]]), float(full[self.axes[2]])


PROJECTION = Plane("projection")


def next_slice_step(plane: Plane, direction: np.ndarray | None) -> int:
    """+1 or -1: the change of the array slice index that moves one slice on in reading order
    (axial: toward the feet), whichever way the series was stored."""
    if plane.name not in _NEXT_SLICE or direction is None:
        return 1
    axis, sign = _NEXT_SLICE[plane.name]
    return 1 if axis_vector(direction, plane.axes[0])[axis] * sign > 0 else -1


def mpr_plane(name: str, direction: np.ndarray) -> Plane:
    """The axial, coronal or sagittal pane of a volume with these direction cosines."""
    normal, (right_axis, right_sign), (down_axis, down_sign) = _PLANE_AXES[name]
    owner = {p: (a, s) for a, (p, s) in enumerate(patient_axis_of_array_axes(direction))}
    (slice_axis, _), (row_axis, row_sign), (col_axis, col_sign) = owner[normal], owner[down_axis], owner[right_axis]
    return Plane(name, (slice_axis, row_axis, col_axis), row_sign != down_sign, col_sign != right_sign)


def orientation_letters(vector: np.ndarray) -> str:
    """'L', 'P', 'LP'... for an LPS direction: the dominant letter, then clearly oblique components."""
    vector = np.asarray(vector, dtype=float)
    order = np.argsort(-np.abs(vector))
    letters = [_LETTERS[a][int(vector[a] > 0)] for i, a in enumerate(order) if i == 0 or abs(vector[a]) >= _OBLIQUE_COMPONENT]
    return "".join(letters)


def edge_labels(plane: Plane, direction: np.ndarray) -> dict[str, str]:
    """Patient direction at each screen edge of a pane: keys left, right, top, bottom."""
    right = axis_vector(direction, plane.axes[2]) * (-1 if plane.flip_cols else 1)
    down = axis_vector(direction, plane.axes[1]) * (-1 if plane.flip_rows else 1)
    return {
        "right": orientation_letters(right),
        "left": orientation_letters(-right),
        "bottom": orientation_letters(down),
        "top": orientation_letters(-down),
    }


_OPPOSITE = {"L": "R", "R": "L", "A": "P", "P": "A", "H": "F", "F": "H"}


def radiograph_edge_labels(patient_orientation: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Edge labels of a radiograph from its PatientOrientation (0020,0020): the patient directions
    of the rows (screen right) and columns (screen down), e.g. ("L", "F") for a PA chest film.
    Empty when the tag is absent or malformed: no label is better than a guessed one."""
    if len(patient_orientation) != 2 or not all(patient_orientation):
        return {}
    right, down = (str(v).upper() for v in patient_orientation)
    if any(c not in _OPPOSITE for c in right + down):
        return {}
    flip = lambda text: "".join(_OPPOSITE[c] for c in text)  # noqa: E731
    return {"right": right, "left": flip(right), "bottom": down, "top": flip(down)}
