"""The reading room: presets that fit the series, hanging protocols, reading mode, panels as tabs,
prior/current, editable shortcuts with tooltips, keyboard focus between panels, overlay contrast."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QToolBar

from inference.study import PatientStudyInfo, Window
from tests.viewer.conftest import make_ct, make_xray
from viewer.logic.overlay_style import EDGE_STYLE, MIN_CONTRAST, OVERLAY_STYLE, TEXT_COLOURS, worst_case_contrast
from viewer.prior_current import default_offset, nearest_slice


def test_the_series_header_window_is_preset_0_and_the_default(window):
    ct = dataclasses.replace(make_ct(), header_window=Window(400.0, 40.0))
    window.open_images([ct])
    assert window.state.window == Window(400.0, 40.0)  # opens in the header's window, not the lung preset
    window.apply_preset(1)
    assert window.state.window == Window(1500.0, -600.0)
    window.actions_by_command["preset_0"].trigger()
    assert window.state.window == Window(400.0, 40.0)
    window.open_images([make_ct()])  # no header window: preset 0 is off, and says why
    assert not window.actions_by_command["preset_0"].isEnabled()
    assert "no window" in window.actions_by_command["preset_0"].toolTip()


def test_ct_presets_are_off_on_an_xray_keys_included(window, qtbot):
    xray = dataclasses.replace(make_xray(), header_window=Window(4096.0, 2048.0))
    window.open_images([xray])
    for key in (1, 2, 3, 4):
        action = window.actions_by_command[f"preset_{key}"]
        assert not action.isEnabled() and "do not apply to an X-ray" in action.toolTip()
    assert window.actions_by_command["preset_0"].isEnabled() and window.actions_by_command["preset_5"].isEnabled()
    window.state.set_window(Window(100.0, 50.0))
    window.grid.active.graphics.setFocus()
    qtbot.keyClick(window.grid.active.graphics, Qt.Key.Key_1)
    assert window.state.window == Window(100.0, 50.0)  # key 1 is off too
    window.open_images([make_ct()])
    assert all(window.actions_by_command[f"preset_{k}"].isEnabled() for k in (1, 2, 3, 4, 5))


def test_hanging_protocols_per_modality_are_kept_in_the_settings(window, settings):
    window.open_images([make_ct()])
    assert window.grid.layout_name == "1x3"  # a CT opens in MPR
    window.open_images([make_xray()])
    assert window.grid.layout_name == "1x1" and len(window.grid.visible_panes()) == 1
    window.open_images([make_ct()])
    window.set_layout("2x2")  # the reader prefers 2x2 for CT
    window.open_images([make_xray()])
    assert window.grid.layout_name == "1x1"
    window.open_images([make_ct()])
    assert window.grid.layout_name == "2x2"
    settings.sync()
    assert settings.store.value("hanging/CT/layout") == "2x2"


def test_reading_mode_leaves_only_the_images_and_comes_back(window, qtbot):
    window.open_images([make_ct()])
    docks = [d for d in window.findChildren(QDockWidget) if d.isVisible()]
    assert docks and window.menuBar().isVisible()
    window.grid.active.graphics.setFocus()
    qtbot.keyClick(window.grid.active.graphics, Qt.Key.Key_F11)
    assert window.reading_mode.active and window.isFullScreen()
    assert not any(d.isVisible() for d in window.findChildren(QDockWidget))
    assert not any(t.isVisible() for t in window.findChildren(QToolBar))
    assert not window.menuBar().isVisible() and not window.statusBar().isVisible()
    assert window.grid.active.isVisible() and window.grid.active.overlays.scale_bar.isVisible()
    window.actions_by_command["invert"].trigger()  # keys still work without menus
    assert window.state.invert
    qtbot.keyClick(window.grid.active.graphics, Qt.Key.Key_Escape)
    assert not window.reading_mode.active and not window.isFullScreen()
    assert {d for d in window.findChildren(QDockWidget) if d.isVisible()} == set(docks) and window.menuBar().isVisible()


def test_right_panels_are_tabs_each_the_full_height(window):
    right = [window.verdict_dock, window.layer_dock, window.annotation_dock]
    assert all(window.tabifiedDockWidgets(right[0]).count(d) == 1 for d in right[1:])
    window.verdict_dock.raise_()
    assert window.verdict_dock.height() > 0.6 * window.height()


def _ct_at(offset_mm: float, patient: str = "P001", slices: int = 24):
    ct = make_ct()
    positions = ct.slice_positions[:slices] + np.array([0.0, 0.0, offset_mm])
    return dataclasses.replace(ct, hu=ct.hu[:slices], slice_positions=positions, origin=tuple(positions[0]),
                               info=PatientStudyInfo(patient_id=patient, study_date="20230101"))


def test_prior_and_current_scroll_together_by_table_position(window, qtbot):
    window.open_images([make_ct()])
    view = window.prior_view
    prior = _ct_at(5.0)  # the same table, the prior 5 mm (two slices of 2.5 mm) higher
    view.set_prior(prior)
    window.set_prior_current(True)
    assert window.active_pane is view.current_pane and view.prior_pane.isVisible()
    window.grid.panes["axial"].set_slice(10)
    z_current = window.state.cursor[0]
    here = make_ct().slice_positions[z_current, 2]
    assert prior.slice_positions[view.prior_state.cursor[0], 2] == pytest.approx(here)
    window.actions_by_command["next_slice"].trigger()  # keys act on the current pane; the prior follows
    assert prior.slice_positions[view.prior_state.cursor[0], 2] == pytest.approx(make_ct().slice_positions[window.state.cursor[0], 2])
    view.prior_pane.scroll(3)  # scrolling the prior moves the current too
    assert make_ct().slice_positions[window.state.cursor[0], 2] == pytest.approx(
        prior.slice_positions[view.prior_state.cursor[0], 2])
    window.actions_by_command["link_prior"].trigger()  # unlinked: bring the same anatomy into both by hand
    window.state.set_cursor((4, *window.state.cursor[1:]))
    view.prior_state.set_cursor((9, *view.prior_state.cursor[1:]))
    assert window.state.cursor[0] == 4
    window.actions_by_command["link_prior"].trigger()  # linked again, there
    window.state.set_cursor((6, *window.state.cursor[1:]))
    assert view.prior_state.cursor[0] == 11
    window.state.set_window(Window(350.0, 50.0))
    assert view.prior_state.window == Window(350.0, 50.0)  # two CTs share W/L


def test_prior_of_another_patient_is_shown_with_a_warning(window, qtbot, tmp_path):
    from inference.phantoms import make_ct_phantom, write_ct_series

    hu, _ = make_ct_phantom((8, 48, 48), (5.0, 5.0, 5.0))
    write_ct_series(tmp_path / "prior", hu, (5.0, 5.0, 5.0))
    window.open_images([make_ct()])
    with qtbot.waitSignal(window.priorLoaded, timeout=30000):
        window.open_prior(tmp_path / "prior")
    assert window.views.currentWidget() is window.prior_view and window.prior_view.prior is not None
    assert "another patient" in window.message_bar.text()
    window.actions_by_command["prior_current"].trigger()
    assert window.views.currentWidget() is window.grid


def test_linking_offsets():
    current, prior = np.arange(0, 100, 5.0), np.arange(300, 400, 5.0)
    assert default_offset(np.arange(10, 80, 5.0), current) == 0.0  # overlapping: one frame of reference
    assert default_offset(prior, current) == pytest.approx(300.0)  # apart: the middles line up
    assert nearest_slice(current, 42.0) == 8


def test_shortcuts_are_edited_in_the_help_and_kept(window, settings, qtbot):
    dialog = window.window_actions.edit_shortcuts()
    row = next(r for r in range(dialog.table.rowCount()) if dialog.table.item(r, 2).text().startswith("Invert"))
    dialog.table.item(row, 1).setText("Ctrl+I")
    dialog.accept()
    assert [k.toString() for k in window.actions_by_command["invert"].shortcuts()] == ["Ctrl+I"]
    assert "(Ctrl+I)" in window.actions_by_command["invert"].toolTip()
    settings.sync()
    from viewer.main_window import MainWindow

    again = MainWindow(settings)
    qtbot.addWidget(again)
    assert [k.toString() for k in again.actions_by_command["invert"].shortcuts()] == ["Ctrl+I"]
    clash = again.window_actions.edit_shortcuts()
    clash.table.item(row, 1).setText("A")  # the key of Analyse
    clash.accept()
    assert clash.isVisible() and "given to both" in clash.problem.text()
    clash.restore_defaults()
    clash.accept()
    assert [k.toString() for k in again.actions_by_command["invert"].shortcuts()] == ["I"]
    again.close()


def test_every_action_says_its_keys_and_f6_walks_the_panels(window, qtbot):
    for command, action in window.actions_by_command.items():
        keys = [k.toString() for k in action.shortcuts()]
        assert action.toolTip() and all(k in action.toolTip() for k in keys), command
    window.open_images([make_ct()])
    window.grid.active.graphics.setFocus()
    window.focus_panel(1)
    from PySide6.QtWidgets import QApplication

    first = QApplication.focusWidget()
    assert first is not None and not window.views.isAncestorOf(first)
    for _ in range(20):  # round the panels and back to the views
        window.focus_panel(1)
        if window.views.isAncestorOf(QApplication.focusWidget()):
            break
    assert window.views.isAncestorOf(QApplication.focusWidget())


def test_overlay_text_reads_on_any_image():
    for colour in TEXT_COLOURS:
        assert worst_case_contrast(colour) >= MIN_CONTRAST, colour
    assert "pt;" in OVERLAY_STYLE and "pt;" in EDGE_STYLE  # sized in points: follows the system's scale
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.highDpiScaleFactorRoundingPolicy() == Qt.HighDpiScaleFactorRoundingPolicy.PassThrough


def test_the_model_table_says_queued_only_while_an_analysis_runs(window, qtbot, tmp_path, monkeypatch):
    from inference.testing.tiny_models import install_ct_models

    install_ct_models(tmp_path / "models")
    monkeypatch.setenv("LUNGLENS_MODEL_DIR", str(tmp_path / "models"))
    window.open_images([make_ct()])
    panel = window.opinions.panel
    qtbot.waitUntil(lambda: bool(panel.rows), timeout=20000)
    texts = [panel.table.item(row, 3).text() for row in panel.rows.values()]
    assert texts and all(t == "not run yet" for t in texts)
