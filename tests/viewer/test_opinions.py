"""The models' opinions in the viewer, with tiny ONNX models on phantom studies: analysis in the
background, overlays, model panel, curves, compare mode, verdict card, report, headless command."""

from __future__ import annotations

import dataclasses
import tempfile
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt, QTimer

from inference.preprocessing import InputSpec
from inference.study import Window
from tests.inference.synthetic import chest_phantom, ct_volume, xray_phantom
from inference.testing.tiny_models import CT_SPEC, classifier_onnx, install, install_ct_models
from viewer.logic.layers import HeatmapLayer, LabelLayer
from viewer.logic.opinion_data import CamKey, CamMaps, cam_layer_name, disagreement, finding_class, runs

CT_MODELS = ("ct_masked", "ct_plain")  # the registry lists models by id
XR_MODELS = ("xr_concat", "xr_dense")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """Two CT classifiers and a 3D lung U-Net, two X-ray classifiers, a corrupt CT model (the registry
    refuses it) and one whose graph does not fit its manifest (it fails when the analysis opens it)."""
    directory = tmp_path_factory.mktemp("models")
    install_ct_models(directory)
    install(directory, classifier_onnx(16, [-1.0, 1.0]), "ct_wrong_size", spec=CT_SPEC)
    xr_spec = InputSpec(size=32)
    install(directory, classifier_onnx(32, [-2.0, 2.0]), "xr_dense", modality="XR", method="M2", spec=xr_spec)
    install(directory, classifier_onnx(32, [1.0, -1.0]), "xr_concat", modality="XR", method="M5", spec=xr_spec,
            threshold=0.6)
    install(directory, classifier_onnx(32, [-1.0, 1.0]), "ct_broken", method="M1", spec=CT_SPEC)
    (directory / "ct_broken.onnx").write_bytes(b"truncated download")
    return directory


@pytest.fixture
def models(model_dir, monkeypatch) -> Path:
    monkeypatch.setenv("LUNGLENS_MODEL_DIR", str(model_dir))
    return model_dir


@pytest.fixture(scope="module")
def phantom_ct():
    hu, truth = chest_phantom(lesion=True)
    return ct_volume(hu), truth


def analysed(window, image, qtbot):
    window.open_images([image])
    assert window.opinions.analyze()
    assert window.opinions.wait_until_done(60)
    assert window.opinions.analysis is not None, window.opinions.status
    return window.opinions


def slow_pipeline(monkeypatch, delay_s: float, threads: list | None = None):
    """The real pipeline, with every progress step taking ``delay_s`` longer (in the worker thread)."""
    import viewer.analysis_thread as module

    real = module.analyze_study

    def slowed(image, choice, device, cache, progress, cancel, on_result):
        if threads is not None:
            threads.append(threading.current_thread())

        def step(fraction, stage):
            time.sleep(delay_s)
            progress(fraction, stage)

        return real(image, choice, device, cache, progress=step, cancel=cancel, on_result=on_result)

    monkeypatch.setattr(module, "analyze_study", slowed)


# --- analysis ------------------------------------------------------------------------------------


def test_analysis_fills_layers_panel_curves_and_card(window, models, phantom_ct, qtbot):
    volume, truth = phantom_ct
    opinions = analysed(window, volume, qtbot)
    analysis = opinions.analysis
    assert [o.model_id for o in analysis.opinions] == list(CT_MODELS)

    mask = window.layers[opinions.mask_layer]
    assert isinstance(mask, LabelLayer) and mask.shape == volume.shape
    assert set(np.unique(mask.labels)) == {0, 1, 2} and mask.label_names == {1: "right lung", 2: "left lung"}
    right_x, left_x = (np.nonzero(mask.labels == k)[2].mean() for k in (1, 2))
    assert right_x < left_x  # right lung at low x: drawn on the screen's left
    assert mask.colour(1) != mask.colour(2)

    heatmaps = [layer.name for layer in window.layers if isinstance(layer, HeatmapLayer)]
    assert heatmaps == [cam_layer_name(o.model_id, "COVID") for o in analysis.opinions]  # one per model: its finding
    assert all(window.layers[name].shape == volume.shape for name in heatmaps)
    visible = [name for name, key in opinions.cam_keys.items() if window.layers[name].visible]
    assert visible == [cam_layer_name("ct_masked", "COVID")]  # the selected (first) model's only

    z = int(np.argmax(analysis.opinion("ct_masked").probabilities[:, 1]))
    window.grid.active.set_slice(z)
    shown = window.layers[visible[0]].volume()[z].astype(float)
    exact = analysis.opinion("ct_masked").cam_on_slice(z, "COVID")
    assert np.corrcoef(shown.ravel(), exact.ravel())[0, 1] > 0.8  # the model's map, smoothed for display
    assert window.grid.active.layer_pixels(visible[0]) is not None

    panel = opinions.panel
    for model_id in CT_MODELS:
        row = panel.rows[model_id]
        assert panel.table.item(row, 2).text().startswith("cpu")
        verdict = analysis.opinion(model_id).verdict
        assert panel.table.item(row, 3).text().startswith(verdict.label)
        assert panel.table.item(row, 5).text().startswith(f"{verdict.threshold:.2f}")

    for opinion in analysis.opinions:
        x, y = opinions.curves.curve_data(opinion.model_id)
        np.testing.assert_array_equal(x, np.arange(volume.shape[0], 0, -1))  # numbered head to foot, as a PACS does
        np.testing.assert_allclose(y, opinion.probabilities[:, 1], equal_nan=True)

    card = opinions.card.toPlainText()
    assert "Research use, not a medical device" in card
    assert "Consensus" in card and "ct_plain" in card and "ct_masked" in card
    assert f"{analysis.lung.volume_ml['right']:.0f}" in card and "severity index" in card
    assert "non-uniform" not in card  # the phantom has no input warning; a warning would be listed here


def test_results_arrive_one_by_one_off_the_gui_thread_and_the_ui_keeps_running(window, models, phantom_ct, qtbot,
                                                                              monkeypatch):
    workers: list[threading.Thread] = []
    slow_pipeline(monkeypatch, 0.05, workers)
    arrivals: list[tuple[str, bool]] = []
    window.open_images([phantom_ct[0]])
    window.layers.connect(lambda e: e.kind == "added" and arrivals.append((e.layer.name, window.opinions.analysis is None)))
    opinions_seen: list[tuple[str, bool]] = []
    shown = window.opinions.panel.set_opinion
    monkeypatch.setattr(window.opinions.panel, "set_opinion",
                        lambda o: (opinions_seen.append((o.model_id, window.opinions.analysis is None)), shown(o)))
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    window.opinions.analyze()
    assert window.opinions.running and window.opinions.progress.isVisible()
    assert window.opinions.wait_until_done(60)
    timer.stop()
    assert workers and all(w is not threading.main_thread() for w in workers)
    gaps = np.diff(ticks)
    # A frozen UI stops the 10 ms timer for the whole analysis; the bound leaves room for a loaded CI machine.
    assert len(ticks) > 20 and gaps.max() < 1.0, f"{len(ticks)} ticks, longest gap {gaps.max():.3f} s"
    names = [name for name, _ in arrivals]
    assert names[0].startswith("lung mask") and arrivals[0][1]
    assert opinions_seen == [("ct_masked", True), ("ct_plain", True)]  # model by model, as each finishes
    assert [n for n in names if n.startswith("Grad-CAM")] == [cam_layer_name(m, "COVID") for m in CT_MODELS]
    assert not window.opinions.progress.isVisible()


def test_cancel_stops_the_analysis_and_keeps_what_arrived(window, models, phantom_ct, qtbot, monkeypatch):
    slow_pipeline(monkeypatch, 0.2)
    window.open_images([phantom_ct[0]])
    window.opinions.analyze()
    worker = window.opinions.worker
    qtbot.waitUntil(lambda: window.opinions.mask_layer is not None, timeout=10000)
    window.opinions.cancel_button.click()
    assert not window.opinions.running and "cancelled" in window.opinions.status
    assert worker.wait(10000) and worker.cancelled
    qtbot.wait(100)
    assert window.opinions.analysis is None
    assert not window.opinions.cancel_button.isVisible()
    assert len(window.opinions.results) < len(CT_MODELS)
    assert window.opinions.mask_layer in window.layers  # what had arrived stays on screen


def test_a_new_image_drops_the_running_analysis(window, models, phantom_ct, qtbot, monkeypatch):
    slow_pipeline(monkeypatch, 0.1)
    window.open_images([phantom_ct[0]])
    window.opinions.analyze()
    window.open_images([xray_phantom()[0]])
    qtbot.wait(1500)
    assert not window.opinions.running and window.opinions.results == {}
    assert all(not name.startswith(("lung mask", "Grad-CAM")) for name in window.layers.names)


def test_corrupt_model_is_listed_as_skipped_and_the_others_run(window, models, phantom_ct, qtbot):
    opinions = analysed(window, phantom_ct[0], qtbot)
    panel = opinions.panel
    row = panel.rows["ct_broken"]
    status = panel.table.item(row, 3).text()
    assert status.startswith("skipped") and "does not match its manifest" in status
    assert not panel.table.item(row, 0).flags() & Qt.ItemFlag.ItemIsUserCheckable
    assert "xr_dense" not in panel.rows  # X-ray models are not offered for a CT
    assert {o.model_id for o in opinions.analysis.opinions} == set(CT_MODELS)
    failed = panel.table.item(panel.rows["ct_wrong_size"], 3).text()
    assert failed.startswith("no opinion: model ct_wrong_size") and "does not match the manifest size" in failed


def test_model_card_opens_from_the_panel(window, models, phantom_ct, qtbot, monkeypatch):
    from viewer.model_panel import CARD, ModelCardDialog

    shown = []
    monkeypatch.setattr(ModelCardDialog, "exec", lambda dialog: shown.append(dialog.text.toPlainText()))
    window.open_images([phantom_ct[0]])
    panel = window.opinions.panel
    qtbot.waitUntil(lambda: "ct_masked" in panel.rows, timeout=10000)
    panel.table.cellWidget(panel.rows["ct_masked"], CARD).click()
    assert shown and "A tiny test model" in shown[0]


def test_unticked_model_does_not_run_and_the_choice_persists(window, models, phantom_ct, qtbot, settings):
    window.open_images([phantom_ct[0]])
    qtbot.waitUntil(lambda: "ct_plain" in window.opinions.panel.rows, timeout=10000)
    window.opinions.panel.set_checked("ct_plain", False)
    assert settings.skipped_models == {"ct_plain"}
    window.opinions.analyze()
    assert window.opinions.wait_until_done(60)
    assert [o.model_id for o in window.opinions.analysis.opinions] == ["ct_masked"]
    panel = window.opinions.panel
    assert panel.table.item(panel.rows["ct_plain"], 3).text() == "not selected"
    assert panel.table.item(panel.rows["ct_plain"], 0).checkState() == Qt.CheckState.Unchecked


def test_analyse_on_open_runs_after_loading_from_disk(window, models, tmp_path, qtbot, settings):
    from inference.phantoms import make_ct_phantom, write_ct_series

    hu, _ = make_ct_phantom((12, 64, 64), (6.0, 6.0, 6.0))
    write_ct_series(tmp_path / "study", hu, (6.0, 6.0, 6.0))
    window.window_actions.analyse_on_open.setChecked(True)
    assert settings.analyse_on_open
    window.open_path(tmp_path / "study")
    assert window.wait_until_loaded(60)
    qtbot.waitUntil(lambda: window.opinions.analysis is not None, timeout=30000)
    assert len(window.opinions.analysis.opinions) == len(CT_MODELS)


# --- what is shown ---------------------------------------------------------------------------------


def test_selecting_a_model_shows_its_grad_cam_and_the_table_picks_the_class(window, models, phantom_ct, qtbot):
    opinions = analysed(window, phantom_ct[0], qtbot)
    opinions.panel.select_model("ct_plain")
    shown = {name for name in opinions.cam_keys if window.layers[name].visible}
    assert shown == {cam_layer_name("ct_plain", "COVID")}
    opinions.panel.map_choices["ct_plain"].setCurrentText("NonCOVID")  # the Map column of the model table
    qtbot.waitUntil(lambda: cam_layer_name("ct_plain", "NonCOVID") in window.layers.names, timeout=20000)
    assert cam_layer_name("ct_plain", "COVID") not in window.layers.names  # still one layer for the model
    assert window.layers[cam_layer_name("ct_plain", "NonCOVID")].visible
    assert opinions.cam_keys[cam_layer_name("ct_plain", "NonCOVID")] == CamKey("ct_plain", "NonCOVID")


def test_curve_marker_follows_the_slice_and_a_click_jumps(window, models, phantom_ct, qtbot):
    opinions = analysed(window, phantom_ct[0], qtbot)
    curves = opinions.curves
    window.grid.active.set_slice(5)  # array slice 5 of 24 along +z: number 19 from the head
    assert curves.marker.value() == 19 and "Slice 19/24" in curves.values.text()
    assert "Slice 19/24" in window.grid.active._corner["br"].text()  # the same number as the overlay
    assert window.curves_dock.windowTitle() == "Per-slice probabilities"
    window.actions_by_command["next_slice"].trigger()  # towards the feet: the next number
    assert curves.marker.value() == 20
    window.curves_dock.show()
    qtbot.waitUntil(lambda: curves.plot.isVisible())
    box = curves.plot.plotItem.vb
    scene = box.mapViewToScene(QPointF(15.0, 0.5))
    qtbot.mouseClick(curves.plot.viewport(), Qt.MouseButton.LeftButton, pos=curves.plot.mapFromScene(scene))
    assert window.state.cursor[0] == 9 and window.grid.active.slice_index == 9
    assert curves.marker.value() == 15


def test_disagreement_is_one_model_over_its_threshold_and_another_under():
    volume = ct_volume(chest_phantom()[0])
    from inference.pipelines.analysis import analyze_study, choose_models
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        statuses = install_ct_models(Path(scratch))
        analysis = analyze_study(volume, choose_models(list(statuses.values()), "CT", list(CT_MODELS), "classical"))
    a, b = analysis.opinions
    nan = np.nan
    a = dataclasses.replace(a, probabilities=np.array([[0.8, 0.2], [0.4, 0.6], [0.3, 0.7], [nan, nan], [0.1, 0.9]]),
                            verdict=dataclasses.replace(a.verdict, threshold=0.5, slice_threshold=0.5))
    b = dataclasses.replace(b, probabilities=np.array([[0.7, 0.3], [0.7, 0.3], [0.2, 0.8], [0.1, 0.9], [0.5, 0.5]]),
                            verdict=dataclasses.replace(b.verdict, threshold=0.6, slice_threshold=0.6))
    np.testing.assert_array_equal(disagreement([a, b]), [False, True, False, False, True])
    assert runs(np.array([False, True, True, False, True])) == [(1, 3), (4, 5)]
    no_threshold = dataclasses.replace(b, verdict=dataclasses.replace(b.verdict, threshold=None, slice_threshold=None))
    assert not disagreement([a, no_threshold]).any()  # a model without an operating threshold does not vote


def test_cam_volume_equals_cam_on_slice_for_every_resize_policy(models, phantom_ct):
    from inference.pipelines.analysis import analyze_study, choose_models
    from inference.registry import discover_models

    cropped = ct_volume(phantom_ct[0].hu[:, 4:60, 10:50].copy())  # not square: the letterbox must be undone
    analysis = analyze_study(cropped, choose_models(discover_models(), "CT", list(CT_MODELS), "classical"))
    for opinion in analysis.opinions:
        for resize in ("letterbox", "stretch"):
            variant = dataclasses.replace(opinion, resize=resize)
            steps = CamMaps(variant, cropped.shape).maps["COVID"].array()
            assert steps.shape == cropped.shape and steps.dtype == np.uint8
            for z in np.flatnonzero(variant.analysed):
                expected = np.rint(variant.cam_on_slice(int(z), "COVID") * 255)
                assert np.abs(steps[z].astype(float) - expected).max() <= 1, (opinion.model_id, resize, z)
            assert not steps[~variant.analysed].any()


def test_lung_mask_outline_can_be_switched_to_a_filled_mask(window, models, phantom_ct, qtbot):
    opinions = analysed(window, phantom_ct[0], qtbot)
    row = window.layer_panel.rows[opinions.mask_layer]
    assert row.contour.isChecked()
    pane = window.grid.active
    outline = np.count_nonzero(pane.layer_pixels(opinions.mask_layer))
    row.contour.setChecked(False)
    assert not window.layers[opinions.mask_layer].contour
    assert np.count_nonzero(pane.layer_pixels(opinions.mask_layer)) > 1.5 * outline


# --- compare mode ----------------------------------------------------------------------------------


def test_compare_mode_has_one_linked_pane_per_model(window, models, phantom_ct, qtbot):
    opinions = analysed(window, phantom_ct[0], qtbot)
    window.actions_by_command["compare"].trigger()
    assert window.compare_mode
    panes = window.compare.panes
    assert list(panes) == list(CT_MODELS)
    for model_id, pane in panes.items():
        cams = [opinions.cam_keys[n] for n in pane.layers.names if n in opinions.cam_keys]
        assert cams == [CamKey(model_id, "COVID")] and all(pane.layers[n].visible for n in pane.layers.names if n in opinions.cam_keys)
        assert model_id in pane._corner["tl"].text()
    first, second = panes.values()
    assert not np.array_equal(first.composited_pixels(), second.composited_pixels())  # each its own Grad-CAM

    window.active_pane.scroll(3)  # the keys act on compare mode's active pane
    window.actions_by_command["next_slice"].trigger()
    assert first.slice_index == second.slice_index == window.grid.panes["axial"].slice_index
    np.testing.assert_array_equal(first.slice_values(), phantom_ct[0].hu[first.slice_index])

    window.state.set_window(Window(400, 40))
    np.testing.assert_array_equal(first.displayed_image(), second.displayed_image())

    first.zoom(2.0)
    np.testing.assert_allclose(first.view.viewRange(), second.view.viewRange(), atol=1e-6)
    first.view.translateBy(x=30.0, y=-12.0)
    np.testing.assert_allclose(first.view.viewRange(), second.view.viewRange(), atol=1e-6)

    p = opinions.analysis.opinion("ct_plain").probabilities[first.slice_index, 1]
    assert f"{p:.2f}" in second._corner["tl"].text()

    style = cam_layer_name("ct_masked", "COVID")
    window.layers.update(style, colormap="hot", opacity=0.8)
    assert first.layers[style].colormap == "hot"  # the main list's style reaches the compare pane
    window.set_layout("2x2")
    assert not window.compare_mode and not window.compare.panes


def test_xray_gets_bars_and_compare_panes(window, models, qtbot):
    image, _ = xray_phantom()
    opinions = analysed(window, image, qtbot)
    assert [o.model_id for o in opinions.analysis.opinions] == list(XR_MODELS)
    curves = opinions.curves
    assert curves.is_single_image and not curves.curves
    assert window.curves_dock.windowTitle() == "Probabilities"  # one bar per model, not "per slice"
    heights = curves.bars.opts["height"]
    expected = [o.probabilities[0, o.classes.index(finding_class(o))] for o in opinions.analysis.opinions]
    np.testing.assert_allclose(heights, expected, rtol=1e-6)
    curves.show_opinions(opinions.analysis.opinions[:1], opinions.colours)
    bottom = curves.plot.getAxis("bottom")
    assert "model" in bottom.labelString() and "(x" not in bottom.labelString()  # one bar: no "model (x0.001)"
    for opinion in opinions.analysis.opinions:
        assert window.layers[cam_layer_name(opinion.model_id, finding_class(opinion))].shape == image.shape
    window.set_compare(True)
    assert list(window.compare.panes) == list(XR_MODELS)
    assert "this image" in window.compare.panes["xr_dense"]._corner["tl"].text()


class BareHost:
    """The least a window must give the opinions (viewer.opinions.OpinionsHost): no MainWindow at all."""

    def __init__(self, settings) -> None:
        from PySide6.QtWidgets import QMainWindow

        from viewer.dialogs import MessageBar
        from viewer.view_state import ViewState

        self.main = QMainWindow()
        self.state, self.settings, self.message_bar = ViewState(), settings, MessageBar()
        self.images, self.showing_preview, self.compare_mode, self.study_path = {}, False, False, None

    def views_picture(self):
        return self.main.grab().toImage()

    def measurement_records(self):
        return []

    def statusBar(self):
        return self.main.statusBar()

    def window(self):
        return self.main


def test_the_opinions_run_in_any_host_that_gives_them_what_they_need(settings, models, phantom_ct, qtbot, tmp_path):
    from viewer.opinions import Opinions

    host = BareHost(settings)
    qtbot.addWidget(host.main)
    opinions = Opinions(host)
    host.state.set_image(phantom_ct[0])
    assert opinions.analyze() and opinions.wait_until_done(60)
    assert [o.model_id for o in opinions.opinions] == list(CT_MODELS)
    assert opinions.mask_layer in host.state.layers
    assert "Analysis done" in host.statusBar().currentMessage()
    assert opinions.export_report(tmp_path / "r.html").report.is_file()
    opinions.shutdown()


# --- export and headless -----------------------------------------------------------------------------


def test_report_view_and_results_are_written_and_name_every_model(window, models, phantom_ct, qtbot, tmp_path):
    opinions = analysed(window, phantom_ct[0], qtbot)
    files = opinions.export_report(tmp_path / "out" / "report")
    assert files.report.name == "report.html"
    html = files.report.read_text()
    for model_id in CT_MODELS:
        assert model_id in html
    assert html.count("data:image/png;base64,") == 1 + len(CT_MODELS)  # curves + one key slice per model
    assert "not a medical device" in html and "Consensus" in html
    results = json.loads(files.results.read_text())
    assert [m["id"] for m in results["models"]] == list(CT_MODELS)
    assert results["outputs"] == {"report": "report.html", "view": "report-view.png"}
    from PIL import Image

    view = np.asarray(Image.open(files.view).convert("L"), dtype=float)
    assert view.std() > 10
    pdf = opinions.export_report(tmp_path / "out" / "report.pdf")
    assert pdf.report.read_bytes()[:5] == b"%PDF-" and pdf.report.stat().st_size > 20000
    assert not list((tmp_path / "out").glob(".tmp-*"))
    assert window.settings.export_folder == str(tmp_path / "out")


def test_report_names_the_patient_and_the_json_only_the_identifiers_a_pacs_matches(window, models, qtbot, tmp_path):
    from tests.viewer.conftest import make_ct

    volume = make_ct()
    opinions = analysed(window, volume, qtbot)
    window.grid.active.add_measurement("length", (0.0, 0.0), (30.0, 40.0))
    files = opinions.export_report(tmp_path / "r.html")
    report = files.report.read_text()
    assert "Phantom^Test" in report and "P001" in report and "Series Instance UID" in report
    assert "Measurements" in report and "50.0 mm" in report
    doc = json.loads(files.results.read_text())
    assert "Phantom^Test" not in files.results.read_text()  # the name stays out of the JSON
    assert doc["study"]["patient_id"] == "P001"
    assert [m["length"] for m in doc["measurements"]] == [50.0]
    numbers = [s["number"] for s in doc["slices"]]
    assert len(numbers) == len(doc["results"][opinions.opinions[0].model_id]["per_slice"]) == volume.shape[0]
    assert numbers[0] == volume.shape[0] and numbers[-1] == 1  # array order runs feet to head: numbered from the head


def test_report_is_never_written_into_the_study_folder(window, models, tmp_path, qtbot):
    from inference.phantoms import make_ct_phantom, write_ct_series
    from viewer.report import ExportError

    hu, _ = make_ct_phantom((12, 64, 64), (6.0, 6.0, 6.0))
    write_ct_series(tmp_path / "study", hu, (6.0, 6.0, 6.0))
    window.open_path(tmp_path / "study")
    assert window.wait_until_loaded(60)
    window.opinions.analyze()
    assert window.opinions.wait_until_done(60)
    before = sorted(p.name for p in (tmp_path / "study").rglob("*"))
    with pytest.raises(ExportError, match="inside the study folder"):
        window.opinions.export_report(tmp_path / "study" / "reports" / "r.html")
    assert sorted(p.name for p in (tmp_path / "study").rglob("*")) == before
    assert window.opinions.default_export_folder() != tmp_path / "study"


def test_view_command_analyses_every_series_headless_in_compare_mode(models, tmp_path):
    from inference.phantoms import make_ct_phantom, make_xray_phantom, write_ct_series, write_xray_dicom

    hu, _ = make_ct_phantom((16, 96, 96), (6.0, 4.0, 4.0))
    write_ct_series(tmp_path / "study", hu, (6.0, 4.0, 4.0))
    write_xray_dicom(tmp_path / "study" / "cr.dcm", make_xray_phantom((128, 128))[0])  # a CR beside the CT
    out = tmp_path / "shots" / "compare.png"
    report = tmp_path / "shots" / "report.html"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LUNGLENS_SETTINGS": str(tmp_path / "settings.ini")}
    done = subprocess.run(
        [sys.executable, "-m", "inference.cli", "view", str(tmp_path / "study"), "--analyze", "--compare",
         "--screenshot", str(out), "--report", str(report)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    from PIL import Image

    picture = np.asarray(Image.open(out).convert("RGB"), dtype=float)
    assert picture.shape[:2] == (1000, 1600) and picture.std() > 20  # the whole window
    assert np.abs(picture[..., 0] - picture[..., 2]).max() > 100  # colour: the maps and panels, not grey only
    assert all(model_id in report.read_text() for model_id in CT_MODELS)
    assert "consensus" in done.stdout.lower()
    assert "(XR, " in done.stdout and "Analysed" in done.stdout.split("(XR, ")[1]  # the CR was analysed too



def test_a_domain_note_stands_beside_its_model_verdict_not_among_the_input_warnings():
    from inference.pipelines.analysis import analyze_study, choose_models
    from inference.slice_numbers import slice_numbering
    from inference.pipelines.results import Note
    from viewer.logic.summary_html import verdict_list, warnings_block

    volume = ct_volume(chest_phantom()[0])
    with tempfile.TemporaryDirectory() as scratch:
        statuses = install_ct_models(Path(scratch))
        analysis = analyze_study(volume, choose_models(list(statuses.values()), "CT", list(CT_MODELS), "classical"))
    note = "model ct_plain: outside the training domain: slices are 5.0 mm thick, the training data at most 3 mm"
    plain = dataclasses.replace(analysis.opinion("ct_plain"), warnings=(note,))
    html = verdict_list([plain], {}, slice_numbering(volume))
    assert "outside the training domain: slices are 5.0 mm thick" in html
    notes = [Note(note, "domain", "ct_plain"), Note("series: gantry tilt of 5 deg")]
    assert "5.0 mm" not in warnings_block(notes) and "gantry tilt" in warnings_block(notes)


def test_cached_results_of_other_pixels_are_made_again(window, models, phantom_ct, qtbot, monkeypatch):
    from inference.cache import ResultCache

    checks: list[bool] = []
    answers = iter([True, False, True])  # the pixel check after the first, second and third analysis

    def pixels_match(cache, image):
        checks.append(next(answers))
        return checks[-1]

    monkeypatch.setattr(ResultCache, "pixels_match", pixels_match)
    opinions = analysed(window, phantom_ct[0], qtbot)  # made, and its pixels recorded
    qtbot.waitUntil(lambda: len(checks) == 1, timeout=10000)
    assert opinions.analyze()  # from the cache; the check after it finds other pixels
    qtbot.waitUntil(lambda: len(checks) == 3 and not opinions.running, timeout=60000)
    assert "differ" in window.message_bar.text()
    assert not any(o.from_cache for o in opinions.analysis.opinions)  # analysed again, the cache not read


def test_every_series_is_analysed_and_the_next_one_shown_comes_from_the_cache(window, models, phantom_ct, qtbot):
    image, _ = xray_phantom()
    window.open_images([phantom_ct[0], image])
    opinions = window.opinions
    opinions.analyse_every_series()  # what `lunglens demo` does
    assert opinions.wait_until_done(60)
    qtbot.waitUntil(lambda: not opinions._workers, timeout=60000)  # the X-ray, analysed in the background
    window.show_series(1)
    assert opinions.running  # shown: analysed at once
    assert opinions.wait_until_done(60)
    assert [o.model_id for o in opinions.analysis.opinions] == list(XR_MODELS)
    assert all(o.from_cache for o in opinions.analysis.opinions)
