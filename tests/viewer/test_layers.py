"""The Qt-free layer model: validation, events, immutable updates."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.logic.layers import HeatmapLayer, LabelLayer, LayerList


def test_add_update_remove_emit_events_and_keep_layers_immutable():
    layers = LayerList(shape=(4, 5, 6))
    events = []
    disconnect = layers.connect(events.append)
    mask = LabelLayer("lung mask", np.zeros((4, 5, 6), np.uint8))
    layers.add(mask)
    new = layers.update("lung mask", opacity=0.25, visible=False)
    assert (new.opacity, new.visible) == (0.25, False)
    assert (mask.opacity, mask.visible) == (0.4, True)  # the old layer did not change
    assert layers["lung mask"] is new
    layers.remove("lung mask")
    assert [e.kind for e in events] == ["added", "changed", "removed"]
    assert events[1].old is mask and events[1].layer is new
    disconnect()
    layers.add(mask)
    assert len(events) == 3


def test_shape_mismatch_and_duplicate_names_are_refused_with_a_clear_message():
    layers = LayerList(shape=(4, 5, 6))
    with pytest.raises(ValueError, match=r"shape \(4, 6, 5\).*\(4, 5, 6\)"):
        layers.add(HeatmapLayer("cam", np.zeros((4, 6, 5), np.float32)))
    layers.add(HeatmapLayer("cam", np.zeros((4, 5, 6), np.float32)))
    with pytest.raises(ValueError, match="already exists"):
        layers.add(HeatmapLayer("cam", np.zeros((4, 5, 6), np.float32)))
    assert layers.unique_name("cam") == "cam (2)"


def test_invalid_values_are_refused():
    with pytest.raises(ValueError, match="colormap"):
        HeatmapLayer("cam", np.zeros((2, 2), np.float32), colormap="rainbowish")
    with pytest.raises(ValueError, match="opacity"):
        LabelLayer("mask", np.zeros((2, 2), np.uint8), opacity=1.5)
    with pytest.raises(ValueError, match="0..255"):
        LabelLayer("mask", np.full((2, 2), 300))


def test_labels_are_converted_and_present_labels_listed():
    layer = LabelLayer("mask", np.array([[0, 2], [2, 5]], dtype=np.int64))
    assert layer.labels.dtype == np.uint8 and layer.labels.flags.c_contiguous
    assert layer.present_labels == (2, 5)
    assert layer.colour(1) != layer.colour(2)


def test_a_float_heatmap_is_kept_as_its_256_display_steps():
    values = np.array([[[-0.5, 0.0], [0.2, 0.5]], [[0.999, 1.0], [1.7, np.float32(0.5 / 255)]]], dtype=np.float32)
    layer = HeatmapLayer("cam", values[:, :, ::-1])  # a strided view: stored C-contiguous
    assert layer.volume().dtype == np.uint8 and layer.volume().flags.c_contiguous
    np.testing.assert_array_equal(layer.volume(), [[[0, 0], [128, 51]], [[255, 255], [1, 255]]])
    assert HeatmapLayer("xray cam", values[0]).volume().tolist() == [[0, 0], [51, 128]]


def test_reset_clears_layers_for_a_new_image():
    layers = LayerList(shape=(2, 2))
    layers.add(LabelLayer("mask", np.zeros((2, 2), np.uint8)))
    events = []
    layers.connect(events.append)
    layers.reset((3, 3))
    assert len(layers) == 0 and layers.shape == (3, 3) and events[0].kind == "cleared"
