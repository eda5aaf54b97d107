"""The display lookup tables and the measurement arithmetic (both Qt-free)."""

from __future__ import annotations

import math

import numpy as np

from inference.preprocessing import window_to_uint8
from inference.study import Window
from viewer.logic.display import grey_of, heatmap_table, label_table, windowed_rgb32
from viewer.logic.layers import HeatmapLayer, LabelLayer, quantised
from viewer.logic.measure import roi_mask, roi_stats


def test_ct_lookup_matches_the_preprocessing_contract():
    hu = np.array([[-2000, -1350, -600, 0, 150, 3000]], dtype=np.int16)
    for window, invert in ((Window(1500, -600), False), (Window(350, 50), True)):
        np.testing.assert_array_equal(grey_of(windowed_rgb32(hu, window, invert)), window_to_uint8(hu, window, invert))


def test_heatmap_below_threshold_is_transparent_and_opacity_is_premultiplied():
    layer = HeatmapLayer("cam", np.zeros((2, 2), np.float32), colormap="hot", threshold=0.5, opacity=0.5)
    table = heatmap_table(layer)
    alpha = table >> 24
    steps = quantised(np.array([0.0, 0.49, 0.51, 1.0], np.float32))
    assert list(alpha[steps]) == [0, 0, 128, 128]
    assert (table[255] & 0xFF) <= alpha[255]  # premultiplied: no channel above alpha


def test_label_zero_is_transparent_and_labels_take_their_colour():
    table = label_table(LabelLayer("mask", np.zeros((2, 2), np.uint8), colours={1: (255, 0, 0)}, opacity=1.0))
    assert table[0] == 0
    assert table[1] == 0xFFFF0000


def test_ellipse_roi_statistics_in_mm():
    values = np.zeros((100, 100), np.float32)
    values[40:60, 40:60] = 100.0
    # 0.5 mm pixels: a 5 mm-radius circle centred on the square sees only the square.
    mask = roi_mask(values.shape, (0.5, 0.5), "ellipse", centre=(25.0, 25.0), half_axes=(5.0, 5.0))
    stats = roi_stats(values, mask, "ellipse", (5.0, 5.0), "mm")
    assert math.isclose(stats.area, math.pi * 25.0)
    assert abs(stats.count * 0.25 - stats.area) / stats.area < 0.05  # pixel count agrees with the area
    assert (stats.mean, stats.sd, stats.minimum, stats.maximum) == (100.0, 0.0, 100.0, 100.0)


def test_rotated_rectangle_mask():
    mask = roi_mask((20, 20), (1.0, 1.0), "rectangle", centre=(10.0, 10.0), half_axes=(8.0, 1.0), angle_deg=90.0)
    rows, cols = np.nonzero(mask)
    assert np.ptp(rows) > np.ptp(cols)  # rotated a quarter turn: tall, not wide
