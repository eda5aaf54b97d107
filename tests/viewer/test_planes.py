"""Pane geometry: which array axes each pane shows, orientation labels, index round trips."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.logic.planes import edge_labels, mpr_plane, orientation_letters

from .conftest import CT_SHAPE


def test_standard_axial_series_orientation_labels():
    direction = np.eye(3)
    assert edge_labels(mpr_plane("axial", direction), direction) == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    assert edge_labels(mpr_plane("coronal", direction), direction) == {"left": "R", "right": "L", "top": "S", "bottom": "I"}
    assert edge_labels(mpr_plane("sagittal", direction), direction) == {"left": "A", "right": "P", "top": "S", "bottom": "I"}


def test_standard_axial_slices_are_the_arrays_own_slices():
    volume = np.arange(np.prod(CT_SHAPE)).reshape(CT_SHAPE)
    direction = np.eye(3)
    np.testing.assert_array_equal(mpr_plane("axial", direction).view(volume)[7], volume[7])
    # Coronal and sagittal put superior (high z) at the top: rows run down the z axis.
    np.testing.assert_array_equal(mpr_plane("coronal", direction).view(volume)[11], volume[::-1, 11, :])
    np.testing.assert_array_equal(mpr_plane("sagittal", direction).view(volume)[13], volume[::-1, :, 13])


def test_a_series_stored_right_to_left_is_flipped_to_radiological_convention():
    direction = np.diag([-1.0, 1.0, 1.0])  # array x runs towards the patient's right
    plane = mpr_plane("axial", direction)
    assert plane.flip_cols and not plane.flip_rows
    assert edge_labels(plane, direction)["left"] == "R"


def test_a_sagittally_acquired_series_still_gets_a_true_axial_pane():
    # Array x -> posterior (+y LPS), array y -> inferior (-z), array z (slices) -> left (+x).
    direction = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    axial = mpr_plane("axial", direction)
    assert axial.axes[0] == 1  # slices of the axial pane run along array y (the S-I axis)
    assert edge_labels(axial, direction) == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    assert edge_labels(mpr_plane("sagittal", direction), direction)["top"] == "S"


@pytest.mark.parametrize("name", ["axial", "coronal", "sagittal"])
def test_pane_and_array_indices_round_trip(name):
    direction = np.diag([-1.0, 1.0, -1.0])
    plane = mpr_plane(name, direction)
    volume = np.random.default_rng(0).integers(0, 1000, CT_SHAPE)
    index = (5, 17, 30)
    k, row, col = plane.from_array_index(index, CT_SHAPE)
    assert plane.to_array_index(k, row, col, CT_SHAPE) == index
    assert plane.view(volume)[k, row, col] == volume[index]


def test_oblique_directions_get_two_letters():
    tilted = np.array([np.cos(np.radians(30)), np.sin(np.radians(30)), 0.0])
    assert orientation_letters(tilted) == "LP"
    assert orientation_letters(np.array([0.99, 0.1, 0.0])) == "L"


def test_radiograph_labels_come_from_patient_orientation():
    from viewer.logic.planes import radiograph_edge_labels

    assert radiograph_edge_labels(("L", "F")) == {"right": "L", "left": "R", "bottom": "F", "top": "H"}
    assert radiograph_edge_labels(("LP", "F"))["left"] == "RA"
    assert radiograph_edge_labels(()) == {} and radiograph_edge_labels(("X", "F")) == {}
