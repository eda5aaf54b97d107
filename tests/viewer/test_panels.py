"""Layer panel, study browser, overview pane, cine and zoom: the controls drive the shared model."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt

from inference.study import Window
from viewer.logic.layers import HeatmapLayer, LabelLayer

from .conftest import CT_SHAPE, make_ct, make_xray


def test_layer_panel_controls_update_the_layers(window, ct_volume):
    window.open_images([ct_volume])
    heat = np.linspace(0, 1, np.prod(CT_SHAPE), dtype=np.float32).reshape(CT_SHAPE)
    window.layers.add(HeatmapLayer("cam", heat, threshold=0.2))
    row = window.layer_panel.rows["cam"]
    row.threshold.setValue(60)
    row.colormap.setCurrentText("inferno")
    row.opacity.setValue(25)
    layer = window.layers["cam"]
    assert (layer.threshold, layer.colormap, layer.opacity) == (0.6, "inferno", 0.25)
    pane = window.grid.active
    alpha = pane.layer_pixels("cam") >> 24
    values = heat[pane.slice_index]
    assert np.all(alpha[values < 0.59] == 0) and np.all(alpha[values > 0.61] == 64)
    window.layers.update("cam", threshold=0.3)  # a change from code shows in the panel
    assert row.threshold.value() == 30
    window.layers.remove("cam")
    assert "cam" not in window.layer_panel.rows and window.layer_panel._empty.isVisibleTo(window.layer_panel)


def test_label_colour_buttons_show_label_names(window, ct_volume):
    window.open_images([ct_volume])
    mask = np.zeros(CT_SHAPE, np.uint8)
    mask[:, 10:30, 8:20], mask[:, 10:30, 28:40] = 1, 2
    window.layers.add(LabelLayer("lungs", mask, label_names={1: "right lung", 2: "left lung"}))
    buttons = window.layer_panel.rows["lungs"].colour_buttons
    assert [b.text() for b in buttons.values()] == ["right lung", "left lung"]
    window.layers.update("lungs", colours={1: (0, 255, 0)})
    assert "rgb(0,255,0)" in buttons[1].styleSheet()


def test_browser_switches_series_and_drops_the_old_layers(window, ct_volume):
    window.open_images([ct_volume, make_xray()])
    window.layers.add(LabelLayer("mask", np.zeros(CT_SHAPE, np.uint8)))
    item = window.browser._series[1]
    window.browser.itemClicked.emit(item, 0)
    assert window.grid.active.plane_name == "projection" and len(window.layers) == 0
    assert window.layers.shape == make_xray().shape


def test_overview_click_moves_the_axial_slice(window, ct_volume, qtbot):
    window.open_images([ct_volume])
    window.set_layout("2x2")
    overview = window.grid.overview
    qtbot.waitUntil(lambda: overview.projection is not None, timeout=5000)
    np.testing.assert_array_equal(overview.projection, np.rint(ct_volume.hu[::-1].mean(axis=1)).astype(np.int16))
    scene = overview.view.mapViewToScene(QPointF(10.0, (3 + 0.5) * ct_volume.spacing[0]))  # row 3 from the top
    qtbot.mouseClick(overview.graphics.viewport(), Qt.MouseButton.LeftButton, pos=overview.graphics.mapFromScene(scene))
    assert window.grid.panes["axial"].slice_index == CT_SHAPE[0] - 1 - 3  # superior at the top


def test_cine_plays_and_stops(window, ct_volume, qtbot):
    window.open_images([ct_volume])
    window.window_actions.fps.setValue(60)
    pane = window.grid.active
    start = pane.slice_index
    window.actions_by_command["cine"].trigger()
    qtbot.waitUntil(lambda: pane.slice_index != start, timeout=3000)
    window.actions_by_command["cine"].trigger()
    assert not window.cine_timer.isActive()


def test_zoom_fit_and_reset(window, ct_volume):
    window.open_images([ct_volume])
    pane = window.grid.active
    fitted = pane.zoom_factor()
    window.actions_by_command["zoom_in"].trigger()
    assert abs(pane.zoom_factor() / fitted - 1.25) < 0.01
    window.state.set_window(Window(10, 10))
    window.actions_by_command["reset"].trigger()
    assert abs(pane.zoom_factor() - fitted) < 0.01 * fitted and window.state.window == ct_volume.default_window


def test_ct_presets_do_not_touch_an_xray(window):
    xray = make_xray()
    window.open_images([xray])
    window.actions_by_command["preset_1"].trigger()
    assert window.state.window == xray.default_window
    window.actions_by_command["preset_5"].trigger()
    assert (window.state.window.low, window.state.window.high) == (float(xray.pixels.min()), float(xray.pixels.max()))


def test_single_slice_ct_shows_one_axial_pane(window):
    one = make_ct()
    from dataclasses import replace

    window.open_images([replace(one, hu=one.hu[:1].copy(), slice_positions=one.slice_positions[:1])])
    assert [p.plane_name for p in window.grid.visible_panes()] == ["axial"]


def test_unexpected_errors_reach_the_message_bar(window, monkeypatch):
    import sys

    from viewer.app import report_errors_in

    monkeypatch.setattr(sys, "excepthook", lambda *args: None)
    report_errors_in(window)
    try:
        raise ValueError("broken overlay")
    except ValueError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    assert "ValueError: broken overlay" in window.message_bar.text()
