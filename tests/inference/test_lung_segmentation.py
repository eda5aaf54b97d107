"""Classical CT lung segmentation and the 3D U-Net's cube grid."""

from __future__ import annotations

import numpy as np
import pytest

from inference import lung_segmentation as ls
from inference.loading import load_path
from inference.metrics import dice
from inference.phantoms import make_ct_phantom
from inference.preprocessing import InputSpec
from tests.inference.synthetic import chest_phantom, ct_volume


@pytest.mark.parametrize("airways", [False, True], ids=["separate-lungs", "joined-by-airways"])
def test_classical_segmentation_matches_phantom_truth(airways):
    hu, truth = chest_phantom(airways=airways)
    labels = ls.segment_lungs_classical(ct_volume(hu))
    assert labels.dtype == np.uint8 and labels.shape == hu.shape
    scores = dice(labels, truth, (1, 2))
    assert scores[1] > 0.95 and scores[2] > 0.95, scores


@pytest.mark.parametrize(("shape", "spacing"), [((48, 128, 128), (6.0, 3.0, 3.0)), ((60, 256, 256), (4.0, 1.4, 1.4))])
def test_classical_segmentation_on_the_project_phantom(shape, spacing):
    hu, truth = make_ct_phantom(shape, spacing, seed=1)
    scores = dice(ls.segment_lungs_classical(ct_volume(hu, spacing=spacing)), truth, (1, 2))
    # the trachea and main bronchi join the right lung here: a few percent below perfect
    assert scores[1] > 0.93 and scores[2] > 0.97, scores


def test_touching_lungs_are_split_at_the_midline():
    hu, truth = chest_phantom(offset_mm=52, airways=True)
    scores = dice(ls.segment_lungs_classical(ct_volume(hu)), truth, (1, 2))
    assert min(scores.values()) > 0.95, scores


def test_right_and_left_follow_the_direction_cosines_not_the_columns():
    hu, truth = chest_phantom()
    # The same patient stored with the array's x axis pointing to the patient's right:
    # the patient's right lung now sits at high column indices and must still be label 1.
    flipped = ct_volume(hu[:, :, ::-1].copy(), direction=np.diag([-1.0, 1.0, 1.0]))
    labels = ls.segment_lungs_classical(flipped)
    right_columns = np.nonzero(labels == 1)[2]
    assert right_columns.mean() > hu.shape[2] / 2
    assert min(dice(labels, truth[:, :, ::-1], (1, 2)).values()) > 0.95


def test_no_air_inside_the_body_gives_an_empty_mask():
    hu, truth = chest_phantom()
    hu[truth > 0] = 40
    assert not ls.segment_lungs_classical(ct_volume(hu)).any()


def test_cube_round_trip_keeps_the_lungs_and_their_sides():
    hu, truth = chest_phantom(shape=(30, 64, 64), spacing=(4.0, 5.0, 5.0))
    volume = ct_volume(hu, spacing=(4.0, 5.0, 5.0))
    cube = ls.resample_to_cube(volume, 32)
    assert cube.shape == (32, 32, 32) and cube.dtype == np.int16
    assert (cube[0] == -1024).all()  # air pads the shorter z extent (120 mm in a 320 mm cube)
    cube_labels = ls.labels_to_cube(truth, volume, 32)
    assert set(np.unique(cube_labels)) == {0, 1, 2}
    back = ls.cube_labels_to_native(cube_labels, volume)
    assert back.shape == truth.shape
    assert min(dice(back, truth, (1, 2)).values()) > 0.85
    x = ls.prepare_ct_cube(cube, InputSpec(size=32, channels=1, mean=(0.0,), std=(1.0,)))
    assert x.shape == (1, 1, 32, 32, 32) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1


def test_a_unet_mask_that_leaves_dense_disease_out_gets_it_back():
    """What the trained 3D U-Net does on real CT (it learned air = lung): labels only the aerated lung.
    The run-time post-processing closes each lung like the classical mask, so the consolidations
    come back in and the mediastinum between the lungs stays out."""
    spacing = (4.0, 2.5, 2.5)
    hu, truth = make_ct_phantom((64, 160, 160), spacing, lesions=True, seed=3)
    volume = ct_volume(hu, spacing=spacing)
    cube_hu = ls.resample_to_cube(volume, 96)
    aerated_only = np.where(cube_hu < ls.AIR_BELOW_HU, ls.labels_to_cube(truth, volume, 96), 0).astype(np.uint8)
    dense_disease = (truth > 0) & (hu > -300)
    assert dense_disease.sum() > 500
    raw = ls.cube_labels_to_native(aerated_only, volume)
    closed = ls.unet_labels_to_native(aerated_only, cube_hu, volume)
    assert np.mean(raw[dense_disease] > 0) < 0.3
    assert np.mean(closed[dense_disease] > 0) > 0.8
    assert np.mean(closed[truth == 0] > 0) < 0.01
    assert min(dice(closed, truth, (1, 2)).values()) > 0.9


@pytest.mark.realdata
def test_real_series_lungs_are_plausible(shared_data):
    images, _ = load_path(shared_data / "ct_series" / "Lung_Dx-A0001")
    volume = images[0]
    labels = ls.segment_lungs_classical(volume)
    voxel_ml = float(np.prod(volume.spacing)) / 1000
    right, left = (float(np.sum(labels == k)) * voxel_ml for k in (1, 2))
    assert 1000 < right < 4500 and 1000 < left < 4500, (right, left)
    # patient's right = lower patient x (LPS); with this series' identity direction, lower columns
    assert np.nonzero(labels == 1)[2].mean() < np.nonzero(labels == 2)[2].mean()
