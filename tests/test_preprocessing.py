"""The preprocessing contract: what every model sees, whatever the source."""

from __future__ import annotations

import numpy as np
import pytest

from inference.preprocessing import (
    InputSpec,
    ResizePolicy,
    crop,
    ct_to_uint8,
    fit_to_square,
    lung_crop_box,
    map_to_image,
    prepare_batch,
    prepare_ct_slices,
    window_to_uint8,
    xray_to_uint8,
)
from inference.study import Window, XRayImage


def test_lung_window_maps_hu_to_the_8bit_range_of_the_training_figures():
    hu = np.array([[-2000, -1350, -600, 150, 3000]], dtype=np.int16)
    assert ct_to_uint8(hu).tolist() == [[0, 0, 128, 255, 255]]


def test_monochrome1_is_inverted_after_the_window_not_before():
    values = np.array([[0.0, 100.0, 1000.0]], dtype=np.float32)
    window = Window(width=200.0, level=100.0)
    plain = window_to_uint8(values, window)
    inverted = window_to_uint8(values, window, invert=True)
    assert plain.tolist() == [[0, 128, 255]]
    assert inverted.tolist() == [[255, 128, 0]]
    xray = XRayImage(pixels=values, spacing=None, invert=True, default_window=window, uid="x")
    assert xray_to_uint8(xray).tolist() == inverted.tolist()


def _stamp(height: int, width: int) -> np.ndarray:
    """An asymmetric picture: a flip or a transposition moves the bright corner."""
    image = np.zeros((height, width), dtype=np.uint8)
    image[: height // 4, : width // 3] = 255
    image[height // 2 :, width // 2 :] = 80
    return image


def test_letterbox_keeps_aspect_and_orientation():
    square = fit_to_square(_stamp(100, 200), 64, "letterbox")
    assert square.shape == (64, 64)
    rows = np.nonzero(square.any(axis=1))[0]
    assert rows[0] == 16 and rows[-1] == 47  # 200x100 -> 64x32, centred
    assert square[17, 2] == 255 and square[17, 60] == 0  # bright corner stays top-left
    stretched = fit_to_square(_stamp(100, 200), 64, "stretch")
    assert stretched[1, 1] == 255 and stretched[62, 62] == 80


def test_maps_come_back_onto_the_image_where_they_were():
    shape = (100, 200)
    square_map = fit_to_square(_stamp(*shape), 64).astype(np.float32) / 255.0
    back = map_to_image(square_map, shape)
    assert back.shape == shape
    original = _stamp(*shape).astype(np.float32) / 255.0
    assert np.abs(back - original).mean() < 0.05


def test_the_ct_crop_box_holds_every_lung_pixel_of_the_series_with_a_margin():
    mask = np.zeros((3, 100, 120), np.uint8)
    mask[0, 30:50, 20:40] = 1  # right lung on one slice, left lung on another: one box for both
    mask[2, 40:70, 60:100] = 2
    top, left, height, width = lung_crop_box(mask, margin=0.1)
    assert (top, left, height, width) == (30 - 4, 20 - 8, 40 + 8, 80 + 16)
    assert crop(mask, (top, left, height, width)).sum() == mask.sum()
    assert lung_crop_box(mask, margin=1.0) == (0, 0, 100, 120)  # clipped to the image
    assert lung_crop_box(np.zeros((2, 10, 12), np.uint8)) == (0, 0, 10, 12)  # no lung: the whole slice


def test_a_map_of_a_cropped_slice_comes_back_inside_its_box():
    shape, box = (100, 200), (20, 50, 60, 120)
    patch = crop(_stamp(*shape), box)
    back = map_to_image(fit_to_square(patch, 64).astype(np.float32) / 255.0, shape, box=box)
    assert back.shape == shape and not back[:20].any() and not back[:, :50].any() and not back[80:].any()
    inside = crop(back, box)
    assert np.abs(inside - patch.astype(np.float32) / 255.0).mean() < 0.05


def test_batch_is_nchw_float_standardised_per_channel():
    spec = InputSpec(size=32, channels=3)
    batch = prepare_batch([np.full((40, 40), 255, np.uint8), np.zeros((10, 20), np.uint8)], spec)
    assert batch.shape == (2, 3, 32, 32) and batch.dtype == np.float32 and batch.flags.c_contiguous
    expected_white = (1.0 - np.array(spec.mean)) / np.array(spec.std)
    assert np.allclose(batch[0, :, 16, 16], expected_white, atol=1e-6)


def test_real_ct_goes_through_the_same_window_as_the_slice_figures():
    spec = InputSpec(size=16, channels=1, mean=(0.0,), std=(1.0,), window=(1500.0, -600.0))
    hu = np.full((1, 16, 16), -600, dtype=np.int16)
    batch, _ = prepare_ct_slices(hu, spec)  # all -600 HU: one region of air touching every edge, no lung
    assert np.allclose(batch, 128 / 255.0)


def test_spec_round_trips_through_json():
    spec = InputSpec(size=224, channels=1, mean=(0.5,), std=(0.25,), resize="stretch", window=(1500.0, -600.0))
    assert InputSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.float32), np.zeros((2, 4, 4), np.uint8)])
def test_fit_to_square_refuses_what_is_not_an_8bit_image(bad):
    with pytest.raises(ValueError):
        fit_to_square(bad, 8)


def test_the_resize_policy_is_an_enum_inside_and_a_plain_string_outside():
    """A manifest's "stretch" becomes ResizePolicy.STRETCH; to_json gives back a plain str (a
    weights-only checkpoint refuses any other class) and an unknown policy is refused."""
    spec = InputSpec.from_json({"size": 32, "resize": "stretch"})
    assert spec.resize is ResizePolicy.STRETCH
    assert type(spec.to_json()["resize"]) is str and spec.to_json()["resize"] == "stretch"
    with pytest.raises(ValueError, match="not letterbox or stretch"):
        InputSpec.from_json({"size": 32, "resize": "crop"})
