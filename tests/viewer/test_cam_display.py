"""Grad-CAM display maps (Qt-free): feathered at the crop box, no stripes across slices, true to the
panes' orientation, kept to the lungs on request, and read back from the result cache."""

from __future__ import annotations

import numpy as np
import pytest

from inference.cache import ResultCache
from inference.pipelines.results import ModelOpinion
from inference.verdict import Verdict
from viewer.logic import cam_display
from viewer.logic.cam_display import CoarseCam, cached_coarse_display, coarse_display, feather_weights, share_inside_lungs
from viewer.logic.planes import Plane, mpr_plane

SHAPE = (12, 64, 80)  # slices, rows, columns: all different


def opinion(cams: np.ndarray, boxes: np.ndarray | None = None, analysed: np.ndarray | None = None) -> ModelOpinion:
    """An opinion of a 'stretch' model seeing each slice's crop box whole (no letterbox)."""
    slices = cams.shape[0]
    probabilities = np.full((slices, 2), 0.5)
    if analysed is not None:
        probabilities[~analysed] = np.nan
    return ModelOpinion(
        model_id="m", version="1", method="M1", classes=("NonCOVID", "COVID"), sha256="0" * 64,
        probabilities=probabilities, cams=cams.astype(np.float32), image_shape=SHAPE[1:], input_size=32,
        resize="stretch", verdict=VERDICT, device="cpu", crop_boxes=boxes,
    )


VERDICT = Verdict(label="COVID", probability=0.5, probabilities={"COVID": 0.5}, positive_class="COVID", threshold=None,
                  positive=None, slices_used=1, positive_slices=0, peak_slice=None, peak_probability=None)


def test_the_map_fades_out_at_the_crop_box_instead_of_stopping_at_a_line():
    box = (10, 20, 40, 40)  # top, left, height, width
    weights = feather_weights(box, SHAPE[1:], 1)
    assert weights[:10].max() == 0 and weights[:, :20].max() == 0 and weights[50:].max() == 0  # nothing outside
    assert weights[30, 40] == 1.0  # the middle untouched
    row = weights[30, 20:40]
    assert row[0] < 0.05 and np.all(np.diff(row[:5]) > 0) and row[5] == 1.0  # a ramp over 12 % of the box
    assert np.all(feather_weights(None, SHAPE[1:], 1) == 1.0)  # the whole image: nothing to fade into


def test_slices_mapped_independently_do_not_stripe_a_reformatted_pane():
    cams = np.zeros((SHAPE[0], 2, 4, 4), np.float32)
    cams[::2, 1] = 1.0  # every other slice's map full, the others empty: stripes in a coronal pane
    model = opinion(cams)
    raw = model.cam_volume("COVID")[:, 32, :].astype(float)
    shown = CoarseCam(coarse_display(model, "COVID", SHAPE, 1.0), SHAPE, 1).plane_slice(Plane("coronal", (1, 0, 2)), 32)
    jumps = lambda picture: np.abs(np.diff(picture[:, 40].astype(float))).mean()  # noqa: E731
    assert jumps(raw) > 200 and jumps(shown) < 0.2 * jumps(raw)


def test_slices_the_model_did_not_analyse_stay_empty():
    cams = np.ones((SHAPE[0], 2, 4, 4), np.float32)
    looked = np.ones(SHAPE[0], bool)
    looked[:3] = False
    steps = coarse_display(opinion(cams, analysed=looked), "COVID", SHAPE, 1.0)
    assert steps[:3].max() == 0 and steps[5].max() > 200


def test_plane_slices_follow_the_panes_flips_and_the_lungs():
    steps = np.zeros((SHAPE[0], 16, 20), np.uint8)
    steps[3, 2:4, 1:3] = 255  # an asymmetric spot near the top-left of slice 3 (coarse grid, factor 4)
    coarse = CoarseCam(steps, SHAPE, 4)
    axial = coarse.plane_slice(Plane("axial"), 3)
    assert axial.shape == SHAPE[1:] and np.unravel_index(axial.argmax(), axial.shape)[0] < 16
    flipped = coarse.plane_slice(Plane("axial", (0, 1, 2), flip_rows=True, flip_cols=True), 3)
    np.testing.assert_array_equal(flipped, axial[::-1, ::-1])
    sagittal = coarse.plane_slice(mpr_plane("sagittal", np.eye(3)), 6)
    assert sagittal.shape == (SHAPE[0], SHAPE[1]) and sagittal.max() > 100
    lungs = np.zeros(SHAPE, np.uint8)
    lungs[:, :, 40:] = 1
    kept = CoarseCam(steps, SHAPE, 4, lungs).plane_slice(Plane("axial"), 3)
    assert kept.max() == 0  # the spot lies outside the lungs
    np.testing.assert_array_equal(coarse.array()[3], axial)


def test_share_of_the_map_inside_the_lungs():
    steps = np.zeros((2, 16, 20), np.uint8)
    steps[:, :, :10] = 100
    steps[:, :, 10:] = 300 // 3
    lungs = np.zeros((2, 64, 80), np.uint8)
    lungs[:, :, :40] = 1  # the left half of the image: half of the map
    assert share_inside_lungs(steps, lungs, 4) == pytest.approx(0.5)
    assert np.isnan(share_inside_lungs(np.zeros_like(steps), lungs, 4))


def test_a_display_map_is_made_once_then_read_from_the_cache(tmp_path, monkeypatch):
    cams = np.random.default_rng(1).random((SHAPE[0], 2, 4, 4)).astype(np.float32)
    model, cache = opinion(cams), ResultCache(tmp_path / "cache")
    first = cached_coarse_display(model, "COVID", SHAPE, 1.0, cache)
    monkeypatch.setattr(cam_display, "coarse_display", lambda *a: pytest.fail("made again"))
    np.testing.assert_array_equal(cached_coarse_display(model, "COVID", SHAPE, 1.0, cache), first)
    with pytest.raises(pytest.fail.Exception):
        cached_coarse_display(model, "NonCOVID", SHAPE, 1.0, cache)  # another class is another map
