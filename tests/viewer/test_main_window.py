"""The main window on in-memory phantoms: what a radiologist sees and does, checked on rendered pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from inference.preprocessing import window_to_uint8
from inference.study import Window
from viewer.logic.layers import HeatmapLayer, LabelLayer
from viewer.logic.planes import mpr_plane

from .conftest import CT_SHAPE, STAMP_HU, make_ct, make_xray


def _widget_point(pane, row: int, col: int) -> QPoint:
    """Where the centre of a pane pixel is on the pane's viewport."""
    sy, sx = pane.pixel_size
    scene = pane.view.mapViewToScene(QPointF((col + 0.5) * sx, (row + 0.5) * sy))
    return pane.graphics.mapFromScene(scene)


def test_open_shows_axial_middle_slice_in_the_lung_window(window, ct_volume):
    window.open_images([ct_volume])
    pane = window.grid.active
    assert pane.plane_name == "axial" and pane.slice_count == CT_SHAPE[0]
    assert pane.slice_index == CT_SHAPE[0] // 2
    expected = window_to_uint8(ct_volume.hu[CT_SHAPE[0] // 2], Window(1500, -600))
    np.testing.assert_array_equal(pane.displayed_image(), expected)
    assert window.browser.topLevelItemCount() == 1
    assert "non-uniform spacing" in window.browser.warning_text(0)
    assert "warning" in window.message_bar.text()


def test_wheel_arrows_page_home_end_scroll_slices(window, ct_volume, qtbot):
    """As in a PACS: Down, Page Down and the wheel towards the user go towards the feet, Home is the
    head end, and the overlay numbers slices from the head (no InstanceNumber in this phantom)."""
    window.open_images([ct_volume])
    pane = window.grid.active
    start = pane.slice_index
    height = lambda: window.state.source.patient_mm(window.state.cursor)[2]  # noqa: E731 - LPS +z is the head
    before_height = height()
    window.actions_by_command["next_slice"].trigger()
    assert height() < before_height and pane.slice_index == start - 1
    np.testing.assert_array_equal(pane.slice_values(), ct_volume.hu[start - 1])
    window.actions_by_command["page_up"].trigger()
    assert pane.slice_index == start + 9
    window.actions_by_command["last_slice"].trigger()
    assert pane.slice_index == 0 and f"Slice {CT_SHAPE[0]}/{CT_SHAPE[0]}" in pane._corner["br"].text()
    window.actions_by_command["first_slice"].trigger()
    assert pane.slice_index == CT_SHAPE[0] - 1 and f"Slice 1/{CT_SHAPE[0]}" in pane._corner["br"].text()
    before = pane.displayed_image().copy()
    viewport = pane.graphics.viewport()
    centre = QPointF(viewport.rect().center())
    wheel = QWheelEvent(centre, QPointF(viewport.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, -120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, wheel)
    assert pane.slice_index == CT_SHAPE[0] - 2  # wheel towards the user = one slice towards the feet
    assert f"Slice 2/{CT_SHAPE[0]}" in pane._corner["br"].text()
    assert not np.array_equal(before, pane.displayed_image())


def test_overlay_numbers_slices_by_instance_number(window, ct_volume):
    """A series whose InstanceNumbers run head to foot (as scanners write them) shows those numbers."""
    n = CT_SHAPE[0]
    numbered = type(ct_volume)(**{**ct_volume.__dict__, "instance_numbers": tuple(range(n, 0, -1))})
    window.open_images([numbered])
    pane = window.grid.active
    pane.set_slice(n - 1)  # the head end
    assert f"Slice 1/{n}" in pane._corner["br"].text()
    pane.set_slice_number(22)
    assert pane.slice_index == n - 22 and f"Slice 22/{n}" in pane._corner["br"].text()


def test_keyboard_reaches_the_active_pane(window, ct_volume, qtbot):
    window.open_images([ct_volume])
    pane = window.grid.active
    window.activateWindow()
    pane.graphics.setFocus()
    start = pane.slice_index
    qtbot.keyClick(pane.graphics.viewport(), Qt.Key.Key_Down)
    assert pane.slice_index == start - 1  # towards the feet
    qtbot.keyClick(pane.graphics.viewport(), Qt.Key.Key_2)
    assert window.state.window == Window(350, 50)


@pytest.mark.parametrize("key, expected", [(1, Window(1500, -600)), (2, Window(350, 50)), (3, Window(2000, 500)),
                                           (4, Window(400, 40))])
def test_presets_set_the_expected_levels(window, ct_volume, key, expected):
    window.open_images([ct_volume])
    window.actions_by_command[f"preset_{key}"].trigger()
    assert window.state.window == expected
    pane = window.grid.active
    np.testing.assert_array_equal(pane.displayed_image(), window_to_uint8(pane.slice_values(), expected))


def test_full_range_preset_and_invert(window, ct_volume):
    window.open_images([ct_volume])
    window.actions_by_command["preset_5"].trigger()
    low, high = window.state.window.low, window.state.window.high
    assert (low, high) == (float(ct_volume.hu.min()), float(ct_volume.hu.max()))
    before = window.grid.active.displayed_image().astype(int)
    window.actions_by_command["invert"].trigger()
    np.testing.assert_array_equal(window.grid.active.displayed_image(), 255 - before)


def test_saved_preset_persists_in_settings(window, ct_volume, settings):
    window.open_images([ct_volume])
    window.state.set_window(Window(1200, -500))
    window.actions_by_command["save_preset_1"].trigger()
    settings.sync()
    from viewer.settings import ViewerSettings

    assert ViewerSettings().preset(1)[1] == Window(1200, -500)


def test_value_under_the_cursor_is_the_phantoms_hu(window, ct_volume, qtbot):
    window.open_images([ct_volume])
    pane = window.grid.active
    pane.set_slice(16)
    qtbot.mouseMove(pane.graphics.viewport(), _widget_point(pane, 7, 10))
    text = window.hover_label.text()
    assert text.startswith(f"{ct_volume.hu[16, 7, 10]} HU"), text
    assert ct_volume.hu[16, 7, 10] == STAMP_HU + 32
    number = window.state.source.numbering.number(16)
    assert f"slice {number}, row 8, column 11" in text  # 1-based, the slice numbered as the pane shows it
    x, y, z = ct_volume.voxel_to_patient(16, 7, 10)
    assert f"LPS ({x:.1f}, {y:.1f}, {z:.1f}) mm" in text
    window.actions_by_command["next_slice"].trigger()  # the mouse stays; the pixel under it changed
    below = pane.slice_index
    assert window.hover_label.text().startswith(f"{ct_volume.hu[below, 7, 10]} HU"), window.hover_label.text()
    assert f"slice {window.state.source.numbering.number(below)}," in window.hover_label.text()
    window.open_images([make_xray()])
    assert "HU" not in window.hover_label.text()  # the CT's value is not left standing over the X-ray


def test_coronal_and_sagittal_panes_show_the_arrays_planes(window, ct_volume):
    window.open_images([ct_volume])
    window.state.set_cursor((17, 7, 6))  # through the L-shaped stamp
    coronal, sagittal = window.grid.panes["coronal"], window.grid.panes["sagittal"]
    lung = Window(1500, -600)
    np.testing.assert_array_equal(coronal.displayed_image(), window_to_uint8(ct_volume.hu[::-1, 7, :], lung))
    np.testing.assert_array_equal(sagittal.displayed_image(), window_to_uint8(ct_volume.hu[::-1, :, 6], lung))
    assert coronal.displayed_image().shape == (CT_SHAPE[0], CT_SHAPE[2])
    # Anisotropic voxels keep their true size: the coronal pane is 2.5 mm per row, 0.6 mm per column.
    assert coronal.pixel_size == (2.5, 0.6)
    assert window.grid.panes["axial"].slice_index == 17


def test_orientation_labels_and_radiological_convention(window, ct_volume):
    window.open_images([ct_volume])
    axial = window.grid.panes["axial"]
    assert {k: v.text() for k, v in axial._edge.items()} == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    # The right lung (the lower HU, low x) is drawn on the screen's left half.
    right_lung_hu = int(ct_volume.hu[axial.slice_index, 20, 14])
    window.state.set_window(Window(20, right_lung_hu))
    mid_grey = np.nonzero(axial.displayed_image() == 128)
    assert len(mid_grey[1]) > 0 and mid_grey[1].max() < CT_SHAPE[2] // 2


def test_overlays_draw_and_toggle_in_every_pane(window, ct_volume):
    window.open_images([ct_volume])
    mask = np.zeros(CT_SHAPE, np.uint8)
    mask[:, 10:30, 8:20] = 1
    window.layers.add(LabelLayer("lung mask", mask, colours={1: (255, 0, 0)}, opacity=1.0))
    heat = np.zeros(CT_SHAPE, np.float32)
    heat[12, 10:15, 30:35] = 1.0
    window.layers.add(HeatmapLayer("cam", heat, threshold=0.5))
    axial = window.grid.panes["axial"]
    axial.set_slice(12)
    pixels = axial.layer_pixels("lung mask")
    np.testing.assert_array_equal(pixels == 0xFFFF0000, mask[12] == 1)
    coronal = window.grid.panes["coronal"]
    np.testing.assert_array_equal(coronal.layer_pixels("lung mask") != 0, mask[::-1, window.state.cursor[1], :] == 1)
    assert (axial.layer_pixels("cam") >> 24 > 0).sum() == 25
    drawn = axial.composited_pixels()
    assert np.all(drawn[mask[12] == 1] == 0xFFFF0000)  # opaque red where the mask is, on screen
    window.layers.update("lung mask", visible=False)
    assert axial.layer_pixels("lung mask") is None and coronal.layer_pixels("lung mask") is None
    assert not np.any(axial.composited_pixels()[mask[12] == 1] == 0xFFFF0000)
    row = window.layer_panel.rows["lung mask"]
    row.visible.setChecked(True)  # the panel checkbox drives the model, the model drives the views
    assert window.layers["lung mask"].visible and axial.layer_pixels("lung mask") is not None


def test_monochrome1_xray_shows_lungs_dark(window):
    xray = make_xray(monochrome1=True)
    window.open_images([xray])
    pane = window.grid.active
    assert pane.plane_name == "projection"
    image = pane.displayed_image()
    lungs, mediastinum = image[10:50, 6:20].mean(), image[10:50, 22:28].mean()
    assert lungs < 80 < 170 < mediastinum
    window.actions_by_command["invert"].trigger()
    assert pane.displayed_image()[10:50, 6:20].mean() > 170


def test_measurements_length_and_roi_statistics(window, ct_volume):
    window.open_images([ct_volume])
    pane = window.grid.active
    pane.set_slice(17)
    length = pane.add_measurement("length", (0.0, 0.0), (30.0, 40.0))
    assert length.text() == "50.0 mm"
    sy, sx = pane.pixel_size
    # A rectangle over the stamp's horizontal bar: rows 6-8, columns 5-14.
    rect = pane.add_measurement("rectangle", (5 * sx, 6 * sy), (15 * sx, 9 * sy))
    assert f"Mean {STAMP_HU + 34:.1f} SD 0.0 HU" in rect.text() and "Area 14.4 mm\u00b2" in rect.text()  # 30 pixels
    pane.scroll(1)
    assert pane.measurements == []  # measurements belong to their slice
    pane.scroll(-1)
    assert [m.annotation.kind for m in pane.measurements] == ["length", "rectangle"]
    window.actions_by_command["delete_measurement"].trigger()  # the rectangle, drawn last, is selected
    assert [m.annotation.kind for m in pane.measurements] == ["length"]


def test_length_says_px_without_spacing(window):
    xray = make_xray()
    window.open_images([type(xray)(**{**xray.__dict__, "spacing": None})])
    assert window.grid.active.add_measurement("length", (0.0, 0.0), (3.0, 4.0)).text() == "5.0 px"


def test_screenshot_is_not_blank_and_has_the_views_size(window, ct_volume, tmp_path):
    window.open_images([ct_volume])
    window.set_layout("2x2")
    path = window.save_screenshot(tmp_path / "view.png")
    from PIL import Image

    picture = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert picture.shape == (window.grid.height(), window.grid.width())
    assert picture.std() > 20


def test_layouts_and_settings_persist(window, ct_volume, settings):
    window.open_images([ct_volume])
    for name, count in (("1x1", 1), ("2x2", 3), ("1x3", 3)):
        window.set_layout(name)
        assert len(window.grid.visible_panes()) == count
    window.set_layout("2x2")
    assert window.grid.overview.isVisible()
    settings.sync()
    from viewer.settings import ViewerSettings

    assert ViewerSettings().layout == "2x2"


def test_loading_a_mask_file_checks_its_shape(window, ct_volume, tmp_path):
    import SimpleITK as sitk

    window.open_images([ct_volume])
    mask = np.zeros(CT_SHAPE, np.uint8)
    mask[:, 10:30, 8:20] = 1
    mask[:, 10:30, 28:40] = 2
    image = sitk.GetImageFromArray(mask)
    image.SetSpacing(tuple(reversed(ct_volume.spacing)))
    sitk.WriteImage(image, str(tmp_path / "lungs.nii.gz"))
    assert window.load_mask_file(tmp_path / "lungs.nii.gz")
    layer = window.layers["lungs"]
    assert layer.present_labels == (1, 2) and layer.label_names[1] == "right lung"
    sitk.WriteImage(sitk.GetImageFromArray(mask[:, :, :-1]), str(tmp_path / "wrong.nii.gz"))
    assert not window.load_mask_file(tmp_path / "wrong.nii.gz")
    assert "same voxel grid" in window.message_bar.text() and len(window.layers) == 1


def test_png_mask_on_an_xray(window, tmp_path):
    from PIL import Image

    xray = make_xray()
    window.open_images([xray])
    mask = np.zeros(xray.shape, np.uint8)
    mask[10:50, 6:20] = 255
    Image.fromarray(mask).save(tmp_path / "lungs.png")
    assert window.load_mask_file(tmp_path / "lungs.png")
    np.testing.assert_array_equal(window.layers["lungs"].labels, mask // 255)


def test_a_series_acquired_right_to_left_still_shows_the_right_lung_on_screen_left(window):
    flipped = make_ct(direction=np.diag([-1.0, 1.0, 1.0]))
    window.open_images([flipped])
    axial = window.grid.panes["axial"]
    assert mpr_plane("axial", flipped.direction).flip_cols
    np.testing.assert_array_equal(axial.slice_values(), flipped.hu[axial.slice_index, :, ::-1])


def test_double_click_maximises_a_pane_and_back(window, ct_volume, qtbot):
    window.open_images([ct_volume])
    coronal = window.grid.panes["coronal"]
    def double_click() -> None:
        point = _widget_point(coronal, 10, 10)
        qtbot.mouseDClick(coronal.graphics.viewport(), Qt.MouseButton.LeftButton, pos=point)
        qtbot.mouseRelease(coronal.graphics.viewport(), Qt.MouseButton.LeftButton, pos=point)  # QTest sends none

    double_click()
    assert window.grid.visible_panes() == [coronal] and window.grid.active is coronal
    double_click()
    assert len(window.grid.visible_panes()) == 3


def _drag(qtbot, pane, button, start: QPoint, end: QPoint, steps: int = 5) -> None:
    """A drag with real events, paced: pyqtgraph drops mouse moves that come within 10 ms of the last
    (its rate limit, mouseRateLimit 100/s), which would turn a fast synthetic drag into a click."""
    viewport = pane.graphics.viewport()
    qtbot.mousePress(viewport, button, pos=start)
    for i in range(1, steps + 1):
        qtbot.wait(11)
        qtbot.mouseMove(viewport, start + (end - start) * i / steps)
    qtbot.mouseRelease(viewport, button, pos=end)


def test_right_drag_sets_window_and_level(window, ct_volume, qtbot):
    window.open_images([ct_volume])
    pane = window.grid.active
    before = window.state.window
    centre = pane.graphics.viewport().rect().center()
    _drag(qtbot, pane, Qt.MouseButton.RightButton, centre, centre + QPoint(100, 40))
    after = window.state.window
    assert after.width > before.width and after.level > before.level  # right widens, down raises the level


def test_length_tool_by_mouse_and_crosshair_tool(window, ct_volume, qtbot):
    window.open_images([ct_volume])
    pane = window.grid.active
    window.actions_by_command["tool_length"].trigger()
    _drag(qtbot, pane, Qt.MouseButton.LeftButton, _widget_point(pane, 5, 5), _widget_point(pane, 5, 35))
    assert len(pane.measurements) == 1
    value, unit = pane.measurements[0].text().split()
    assert unit == "mm" and abs(float(value) - 30 * 0.6) < 0.3  # 30 columns of 0.6 mm, to a screen pixel
    window.actions_by_command["tool_crosshair"].trigger()
    qtbot.mouseClick(pane.graphics.viewport(), Qt.MouseButton.LeftButton, pos=_widget_point(pane, 9, 21))
    assert window.state.cursor[1:] == (9, 21)
    assert window.grid.panes["coronal"].slice_index == 9 and window.grid.panes["sagittal"].slice_index == 21


def test_touchpad_wheel_deltas_add_up_to_one_slice_per_notch(window, ct_volume):
    window.open_images([ct_volume])
    pane = window.grid.active
    viewport = pane.graphics.viewport()
    centre = QPointF(viewport.rect().center())
    start = pane.slice_index
    for _ in range(6):  # six 40-unit touchpad events = two notches
        event = QWheelEvent(centre, QPointF(viewport.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, -40),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(viewport, event)
    assert pane.slice_index == start - 2  # towards the feet
