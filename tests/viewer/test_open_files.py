"""Opening real files through the loader thread: DICOM CT and X-ray phantoms, skipped files, cancel,
drag and drop, recent studies, the demo phantom and the headless command line."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from inference.phantoms import make_ct_phantom, make_xray_phantom, write_ct_series, write_xray_dicom
from inference.preprocessing import window_to_uint8
from inference.study import Window

SHAPE, SPACING = (10, 48, 56), (5.0, 6.0, 6.0)


@pytest.fixture(scope="module")
def ct_folder(tmp_path_factory) -> tuple[Path, np.ndarray]:
    folder = tmp_path_factory.mktemp("ct")
    hu, _ = make_ct_phantom(SHAPE, SPACING, seed=3)
    write_ct_series(folder / "series", hu, SPACING, shuffle=True)
    (folder / "series" / "notes.txt").write_text("not an image")
    return folder / "series", hu


def _open_and_wait(window, qtbot, path) -> None:
    window.open_path(path)
    qtbot.waitUntil(lambda: not window.loading, timeout=30000)


def test_open_a_dicom_folder_shows_the_series_and_lists_skipped_files(window, qtbot, ct_folder):
    folder, hu = ct_folder
    seen = []
    window.open_path(folder)
    window.opening.loader.firstImage.connect(lambda image: seen.append(("first", image.shape)))
    window.opening.loader.seriesLoaded.connect(lambda loaded: seen.append(("series", loaded.image.shape)))
    qtbot.waitUntil(lambda: not window.loading, timeout=30000)
    assert seen == [("first", (1, *SHAPE[1:])), ("series", SHAPE)]  # a quick look first, then the series
    np.testing.assert_array_equal(window.image.hu, hu)  # shuffled files, ordered back by position
    pane = window.grid.active
    np.testing.assert_array_equal(pane.displayed_image(), window_to_uint8(hu[SHAPE[0] // 2], Window(1500, -600)))
    assert "skipped" in window.message_bar.text()
    assert any(path.endswith("notes.txt") for path, _ in window.message_bar.details)
    assert window.settings.recent[0] == str(folder)
    assert window.browser.is_loaded(0)


def test_value_under_the_cursor_of_a_loaded_series(window, qtbot, ct_folder):
    folder, hu = ct_folder
    _open_and_wait(window, qtbot, folder)
    pane = window.grid.active
    pane.set_slice(4)
    sy, sx = pane.pixel_size
    scene = pane.view.mapViewToScene(QPointF(30.5 * sx, 20.5 * sy))
    qtbot.mouseMove(pane.graphics.viewport(), pane.graphics.mapFromScene(scene))
    number = window.state.source.numbering.number(4)
    assert window.hover_label.text().startswith(f"{hu[4, 20, 30]} HU   slice {number}, row 21, column 31")


def test_monochrome1_dicom_xray_shows_lungs_dark(window, qtbot, tmp_path):
    image, mask = make_xray_phantom((96, 80), seed=1)
    write_xray_dicom(tmp_path / "cr.dcm", image, photometric="MONOCHROME1")
    _open_and_wait(window, qtbot, tmp_path / "cr.dcm")
    pane = window.grid.active
    shown = pane.displayed_image().astype(float)
    lungs, spine = shown[mask > 0].mean(), shown[:, 38:42].mean()
    assert lungs < 100 and spine > lungs + 60
    import pydicom

    right, down = pydicom.dcmread(tmp_path / "cr.dcm").PatientOrientation  # labels say what the file says
    assert (pane._edge["right"].text(), pane._edge["bottom"].text()) == (right, down)


def test_cancel_keeps_the_window_usable(window, qtbot, ct_folder, monkeypatch):
    import inference.loading as loading

    started = threading.Event()

    def slow_load(header, progress=None, cancel=None):
        started.set()
        while not cancel():
            threading.Event().wait(0.01)
        raise loading.LoadCancelled("cancelled")

    monkeypatch.setattr(loading, "load_series", slow_load)
    window.open_path(ct_folder[0])
    assert started.wait(10)
    window.opening.cancel_button.click()
    qtbot.waitUntil(lambda: not window.loading, timeout=10000)
    assert "cancelled" in window.message_bar.text()
    assert not window.opening.progress.isVisible()


def test_missing_path_and_unreadable_folder_give_messages(window, qtbot, tmp_path):
    window.open_path(tmp_path / "nowhere")
    assert "does not exist" in window.message_bar.text()
    (tmp_path / "junk.bin").write_bytes(b"\x00" * 300)
    _open_and_wait(window, qtbot, tmp_path)
    assert "No images found" in window.message_bar.text()
    assert window.image is None


def test_drop_a_folder_opens_it_and_recent_menu_reopens(window, qtbot, ct_folder):
    folder = ct_folder[0]
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(folder))])
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    window.dropEvent(drop)
    qtbot.waitUntil(lambda: not window.loading and window.image is not None, timeout=30000)
    assert window.image.shape == SHAPE
    window.open_images([])
    window.window_actions.recent_menu.aboutToShow.emit()
    action = next(a for a in window.window_actions.recent_menu.actions() if a.text() == str(folder))
    action.trigger()
    qtbot.waitUntil(lambda: not window.loading and window.image is not None, timeout=30000)
    assert window.image.shape == SHAPE


def test_demo_phantom_is_generated_once_in_the_cache(tmp_path):
    from viewer.commands.demo import phantom_demo

    series, mask = phantom_demo(cache_root=tmp_path)
    assert tmp_path in series.parents and len(list(series.iterdir())) > 10 and mask.is_file()
    stamp = mask.stat().st_mtime_ns
    assert phantom_demo(cache_root=tmp_path) == (series, mask) and mask.stat().st_mtime_ns == stamp


def test_view_command_renders_a_screenshot_headless(ct_folder, tmp_path):
    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LUNGLENS_SETTINGS": str(tmp_path / "s.ini")}
    done = subprocess.run(
        [sys.executable, "-m", "inference.cli", "view", str(ct_folder[0]), "--screenshot", str(out),
         "--preset", "mediastinum", "--slice", "3", "--layout", "2x2"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    from PIL import Image

    picture = np.asarray(Image.open(out).convert("L"), dtype=float)
    assert picture.shape[0] > 500 and picture.std() > 20


def test_demo_command_opens_the_bundled_study_and_shows_the_bundled_models_opinions(tmp_path):
    """The README's first command: the real demo CT, analysed on open by the pack's CT models."""
    from inference.registry import discover_models
    from viewer.commands.demo import BUNDLED_DEMO, bundled_demo

    assert bundled_demo() is not None, "resources/demo holds no study"
    pack = BUNDLED_DEMO.parent / "models"  # the suite hides the pack from other tests; this one uses it
    ct_models = [s.id for s in discover_models([("bundled", pack)])
                 if s.usable and s.manifest.modality == "CT" and s.manifest.task == "classification"]
    assert ct_models, "the pack has no CT classifier"
    out = tmp_path / "demo.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LUNGLENS_SETTINGS": str(tmp_path / "s.ini"),
           "LUNGLENS_BUNDLED_MODEL_DIR": str(pack), "LUNGLENS_MODEL_DIR": str(tmp_path / "no-user-models"),
           "LUNGLENS_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "inference.cli", "demo", "--screenshot", str(out)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Analysed: consensus" in done.stdout and f"of {len(ct_models)} positive" in done.stdout, done.stdout
    from PIL import Image

    picture = np.asarray(Image.open(out).convert("RGB"), dtype=float)
    assert picture.shape[:2] == (1000, 1600)  # the whole window: views, model table, curves, verdict
    assert np.abs(picture[..., 0] - picture[..., 2]).max() > 100  # heatmaps and mask colours are drawn


def test_a_mixed_folder_lists_every_series_and_the_skipped_files(window, qtbot, tmp_path):
    from inference.phantoms import write_mixed_folder

    mixed = write_mixed_folder(tmp_path / "study", shape=(6, 32, 32))
    _open_and_wait(window, qtbot, mixed.root)
    loaded = [key for key in range(10) if window.browser.is_loaded(key)]
    assert len(loaded) == 3  # two CT series and the X-ray
    assert {type(window.images[k]).__name__ for k in loaded} == {"CTVolume", "XRayImage"}
    skipped = {Path(path).name for path, _ in window.message_bar.details}
    assert {mixed.report.name, mixed.presentation_state.name, mixed.text.name, mixed.truncated.name} <= skipped
    xray_key = next(k for k in loaded if type(window.images[k]).__name__ == "XRayImage")
    window.show_series(xray_key)
    assert window.grid.active.plane_name == "projection"
