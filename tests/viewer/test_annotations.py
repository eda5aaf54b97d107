"""Annotations: what each tool measures, undo/redo, the sidecar store (never the study folder), the
mouse gestures in a real window, the panel, and the report, JSON and DICOM SR they reach."""

from __future__ import annotations

import json
import math
import stat

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from tests.viewer.conftest import STAMP_HU, make_ct, make_xray
from tests.viewer.test_main_window import _drag, _widget_point
from viewer.logic.annotations.measuring import SliceContext, label, measurement, nearest, polygon_mask
from viewer.logic.annotations.model import Annotation, AnnotationList
from viewer.logic.annotations.store import SeriesNotes, SidecarStore, series_key
from viewer.logic.planes import PROJECTION, Plane

VALUES = np.arange(100 * 120, dtype=np.int16).reshape(100, 120)  # value = 120 * row + column
CONTEXT = SliceContext(VALUES, (0.5, 0.25), "mm", "HU", PROJECTION)  # rows 0.5 mm, columns 0.25 mm


def _record(kind, points, text=""):
    return measurement(Annotation(1, kind, "projection", 0, points, text), CONTEXT)


# --- what each annotation measures (Qt-free) ----------------------------------------------------------


def test_lengths_and_angles_are_measured_in_the_patient_not_on_screen():
    assert _record("length", ((0, 0), (40, 30))).length == pytest.approx(math.hypot(10, 15))
    # 10 columns (2.5 mm) right and 5 rows (2.5 mm) down from the vertex: 45 degrees in mm, not atan(5/10)
    assert _record("angle", ((10, 0), (0, 0), (10, 5))).angle == pytest.approx(45.0)
    assert _record("angle", ((10, 0), (0, 0), (0, 10))).angle == pytest.approx(90.0)
    assert label(_record("angle", ((10, 0), (0, 0), (0, 10)))) == "90.0\u00b0"


def test_roi_statistics_count_the_pixels_whose_centres_lie_inside():
    rect = _record("rectangle", ((5, 6), (15, 9)))  # columns 5-14, rows 6-8
    inside = VALUES[6:9, 5:15]
    assert rect.mean == pytest.approx(inside.mean()) and rect.minimum == inside.min() and rect.maximum == inside.max()
    assert rect.area == pytest.approx(10 * 0.25 * 3 * 0.5)
    square = ((10, 10), (20, 10), (20, 20), (10, 20))
    freehand = _record("freehand", square)
    assert freehand.area == pytest.approx(10 * 0.25 * 10 * 0.5)
    assert freehand.mean == pytest.approx(VALUES[10:20, 10:20].mean())
    triangle = polygon_mask((30, 30), ((0, 0), (20, 0), (0, 20)))
    assert triangle[2, 2] and not triangle[15, 15] and triangle.sum() == 190  # centres under the hypotenuse
    ellipse = _record("ellipse", ((0, 0), (40, 20)))
    assert ellipse.area == pytest.approx(math.pi * 5 * 5)


def test_probe_arrow_and_text_records():
    probe = _record("point", ((30.7, 12.2),))
    assert probe.value == VALUES[12, 30] and label(probe) == f"{VALUES[12, 30]} HU"
    assert _record("arrow", ((1, 1), (9, 9)), "nodule").text() == "arrow: nodule"
    assert label(_record("text", ((4, 4),), "compare with prior")) == "compare with prior"


def test_points_go_to_the_array_slice_with_the_panes_flips_undone():
    flipped = SliceContext(VALUES, (1.0, 1.0), "mm", "HU", Plane("axial", (0, 1, 2), flip_rows=True, flip_cols=True))
    record = measurement(Annotation(1, "length", "axial", 3, ((10, 20), (30, 40))), flipped)
    assert record.points == ((110, 80), (90, 60)) and record.plane == "axial"
    reformat = SliceContext(VALUES, (1.0, 1.0), "mm", "HU", Plane("coronal", (1, 0, 2)))
    assert measurement(Annotation(1, "length", "coronal", 3, ((1, 2), (3, 4))), reformat).plane == "coronal reformat"


def test_the_nearest_annotation_is_selected_within_the_tolerance():
    line = Annotation(1, "length", "axial", 0, ((0, 0), (10, 0)))
    box = Annotation(2, "rectangle", "axial", 0, ((20, 20), (40, 40)))
    assert nearest([line, box], (5, 1), 2) is line
    assert nearest([line, box], (30, 30), 2) is box  # inside an ROI counts
    assert nearest([line, box], (5, 10), 2) is None


# --- undo and redo (Qt-free) --------------------------------------------------------------------------


def test_every_change_can_be_undone_and_redone():
    annotations = AnnotationList()
    events = []
    annotations.connect(lambda e: events.append(e.kind))
    first = annotations.add(Annotation(annotations.new_uid(), "length", "axial", 4, ((0, 0), (1, 1))))
    moved = first.moved_to(((2, 2), (5, 5)))
    annotations.replace(moved)
    second = annotations.add(Annotation(annotations.new_uid(), "point", "axial", 4, ((3, 3),)))
    annotations.clear()
    assert len(annotations) == 0
    assert annotations.undo() and {a.uid for a in annotations} == {first.uid, second.uid}
    assert annotations.undo() and list(annotations) == [moved]
    assert annotations.undo() and list(annotations) == [first]
    assert annotations.redo() and list(annotations) == [moved]
    annotations.remove(first.uid)  # a new change drops what could be redone
    assert not annotations.can_redo and annotations.undo() and list(annotations) == [moved]
    assert events[:4] == ["added", "changed", "added", "removed"]


# --- the sidecar store (Qt-free) ----------------------------------------------------------------------


def test_the_store_keeps_annotations_and_the_window_privately_and_names_no_patient(tmp_path):
    store = SidecarStore(tmp_path / "data")
    image = make_ct()
    key = series_key(image)
    notes = SeriesNotes((Annotation(3, "text", "axial", 5, ((1, 2),), "see prior"),), image.default_window, False)
    store.write(key, notes)
    assert store.read(key) == notes
    path = store.path(key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "Phantom" not in path.name and image.uid not in path.name
    path.write_text("{ half a file")
    assert store.read(key) == SeriesNotes()  # damaged: start afresh, never an error
    blocked = SidecarStore(tmp_path / "a-file")
    (tmp_path / "a-file").write_text("")
    blocked.write(key, notes)
    assert blocked.problem and "cannot be written" in blocked.problem


# --- in the window, with the mouse ----------------------------------------------------------------------


def test_each_tool_by_mouse_then_undo_redo_by_keys(window, qtbot, monkeypatch):
    window.open_images([make_ct()])
    pane = window.grid.active
    pane.set_slice(17)
    viewport = pane.graphics.viewport()
    window.set_tool("length")
    _drag(qtbot, pane, Qt.MouseButton.LeftButton, _widget_point(pane, 22, 5), _widget_point(pane, 22, 35))
    window.set_tool("angle")
    _drag(qtbot, pane, Qt.MouseButton.LeftButton, _widget_point(pane, 30, 10), _widget_point(pane, 30, 30))
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=_widget_point(pane, 12, 30))
    window.set_tool("freehand")
    _drag(qtbot, pane, Qt.MouseButton.LeftButton, _widget_point(pane, 6, 5), _widget_point(pane, 6, 14), steps=3)
    trace = [(6, 14), (8, 14), (8, 5)]
    viewport_points = [_widget_point(pane, r, c) for r, c in trace]
    window.state.annotations.undo()  # a straight drag is no outline: trace a real one point by point instead
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=_widget_point(pane, 6, 5))
    for point in [_widget_point(pane, 6, 5) + QPoint(1, 0), *viewport_points, _widget_point(pane, 6, 5)]:
        qtbot.wait(11)  # pyqtgraph's mouse rate limit (see _drag)
        qtbot.mouseMove(viewport, point)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=_widget_point(pane, 6, 5))
    window.set_tool("point")
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=_widget_point(pane, 7, 8))
    monkeypatch.setattr("viewer.annotations.overlay.QInputDialog.getText", lambda *a, **k: ("nodule?", True))
    window.set_tool("text")
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=_widget_point(pane, 35, 40))

    records = {r.kind: r for r in window.measurement_records()}
    assert set(records) == {"length", "angle", "freehand", "point", "text"}
    assert records["length"].length == pytest.approx(30 * 0.6, abs=0.3)  # 30 columns of 0.6 mm
    assert records["angle"].angle == pytest.approx(90.0, abs=1)  # along a row, then up a column
    assert records["point"].value == make_ct().hu[17, 7, 8] == STAMP_HU + 34
    assert records["freehand"].mean == pytest.approx(STAMP_HU + 34)  # the bar of the stamp, traced
    assert records["text"].note == "nodule?"
    assert {m.annotation.kind for m in pane.measurements} == set(records)

    pane.graphics.setFocus()
    undo, redo = window.actions_by_command["undo"], window.actions_by_command["redo"]
    assert undo.shortcuts()[0].toString() == "Ctrl+Z" and redo.shortcuts()[0].toString() == "Ctrl+Y"
    qtbot.keyClick(pane.graphics, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert "text" not in {r.kind for r in window.measurement_records()}
    qtbot.keyClick(pane.graphics, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert "text" in {r.kind for r in window.measurement_records()}
    panel = window.annotation_dock.widget()
    assert panel.table.rowCount() == 5 and any("nodule?" in panel.table.item(r, 1).text() for r in range(5))


def test_annotations_and_window_come_back_when_the_series_is_reopened(window, qtbot, settings, tmp_path):
    from viewer.main_window import MainWindow

    window.open_images([make_ct()])
    pane = window.grid.active
    pane.set_slice(17)
    pane.add_measurement("length", (0.0, 0.0), (30.0, 40.0))
    window.state.set_window(window.state.window.__class__(420.0, 35.0))
    window.open_images([make_xray()])  # another series: the first one's are saved, not shown here
    assert window.measurement_records() == [] and window.state.window.width != 420.0
    again = MainWindow(settings)  # a new session
    qtbot.addWidget(again)
    again.open_images([make_ct()])
    assert [r.length for r in again.measurement_records()] == [pytest.approx(50.0)]
    assert again.state.window.width == 420.0 and again.state.window.level == 35.0
    again.grid.active.set_slice(17)
    assert [m.text() for m in again.grid.active.measurements] == ["50.0 mm"]
    again.close()


def test_annotations_reach_the_json_and_the_dicom_sr(window, tmp_path, monkeypatch):
    from inference.dicom_out.write import dicom_results
    from inference.study_document import study_document
    from tests.dicom.tools import analysed, install_models, phantom_ct_study

    install_models(tmp_path / "models")
    monkeypatch.setenv("LUNGLENS_MODEL_DIR", str(tmp_path / "models"))
    image, analysis = analysed(phantom_ct_study(tmp_path / "study"))
    window.open_images([image])
    pane = window.grid.active
    pane.add_measurement("length", (0.0, 0.0), (30.0, 40.0))
    pane.annotation_overlay.add("angle", ((10, 0), (0, 0), (0, 10)))
    pane.annotation_overlay.add("point", ((12.5, 14.5),))
    records = window.measurement_records()
    assert [r.kind for r in records] == ["length", "angle", "point"]
    sr = str(dicom_results(analysis, image, records)["measurement_report_sr.dcm"])
    assert "Angle" in sr and "Attenuation Coefficient" in sr and "Length" in sr
    doc = study_document(analysis, image, {}, records)
    assert [m["kind"] for m in doc["measurements"]] == ["length", "angle", "point"]
    assert doc["measurements"][1]["angle_deg"] == pytest.approx(90.0)
    assert doc["measurements"][2]["value"] == image.hu[pane.slice_index, 14, 12]
    json.dumps(doc)


def test_nothing_is_written_into_the_study_folder(window, qtbot, tmp_path):
    from inference.phantoms import make_ct_phantom, write_ct_series

    hu, _ = make_ct_phantom((8, 48, 48), (5.0, 5.0, 5.0))
    write_ct_series(tmp_path / "study", hu, (5.0, 5.0, 5.0))
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "study").rglob("*")}
    window.open_path(tmp_path / "study")
    assert window.wait_until_loaded(60)
    window.grid.active.add_measurement("length", (0.0, 0.0), (30.0, 40.0))
    window.annotations.save()
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "study").rglob("*")} == before
    assert window.annotations.store.path(window.annotations.key).is_file()
