"""Viewer fixtures: small in-memory studies with an asymmetric stamp, and a main window on temp settings."""

from __future__ import annotations

import numpy as np
import pytest

from inference.study import CTVolume, PatientStudyInfo, Window, XRayImage

CT_SHAPE = (24, 40, 48)  # z, y, x: all different, so a transpose cannot pass
CT_SPACING = (2.5, 0.8, 0.6)
STAMP_HU = 900


def make_ct(direction: np.ndarray | None = None) -> CTVolume:
    """Body at 40 HU, right lung (patient right = low x) -850, left lung -800, and an L-shaped bone stamp.

    The stamp sits in the upper slices, anterior (low y) and at the patient's right (low x) and is
    longer along x than along y, so any flip or transpose of a slice moves it.
    """
    z, y, x = CT_SHAPE
    hu = np.full(CT_SHAPE, -1000, dtype=np.int16)
    hu[:, 5:35, 4:44] = 40
    hu[:, 10:30, 8:20] = -850
    hu[:, 10:30, 28:40] = -800
    hu[15:20, 6:9, 5:15] = STAMP_HU  # horizontal bar of the L
    hu[15:20, 6:14, 5:7] = STAMP_HU  # vertical bar of the L
    hu += (np.arange(z, dtype=np.int16) * 2)[:, None, None]  # every slice differs
    direction = np.eye(3) if direction is None else direction
    spacing = CT_SPACING
    positions = np.array([direction @ np.array([0.0, 0.0, k * spacing[0]]) + np.array([-14.4, -16.0, -30.0])
                          for k in range(z)])
    return CTVolume(
        hu=hu, spacing=spacing, origin=tuple(positions[0]), direction=direction, slice_positions=positions,
        uid="1.2.826.0.1.3680043.8.498.1", description="Phantom chest",
        info=PatientStudyInfo(patient_name="Phantom^Test", patient_id="P001", study_date="20240102"),
        slice_thickness_mm=2.5, warnings=("non-uniform spacing (test)",),
    )


def make_xray(monochrome1: bool = True) -> XRayImage:
    """A chest radiograph in stored values: lungs attenuate little. MONOCHROME1 stores lungs HIGH."""
    rows, cols = 60, 50
    stored = np.full((rows, cols), 3000.0, dtype=np.float32)  # mediastinum / soft tissue
    stored[10:50, 6:20] = 800.0  # right lung (screen left)
    stored[10:50, 30:44] = 800.0
    if monochrome1:
        stored = 4095.0 - stored
    return XRayImage(
        pixels=stored, spacing=(0.2, 0.2), invert=monochrome1, default_window=Window(4096.0, 2048.0),
        uid="1.2.3.4", description="Phantom CR", photometric="MONOCHROME1" if monochrome1 else "MONOCHROME2",
    )


@pytest.fixture
def ct_volume() -> CTVolume:
    return make_ct()


@pytest.fixture(autouse=True)
def private_settings(tmp_path_factory, monkeypatch) -> str:
    """Every viewer test gets its own settings file, never the user's."""
    path = str(tmp_path_factory.mktemp("settings") / "settings.ini")
    monkeypatch.setenv("LUNGLENS_SETTINGS", path)
    return path


@pytest.fixture(autouse=True)
def private_models_and_cache(tmp_path_factory, monkeypatch) -> None:
    """No viewer test reads the user's models or writes the user's result cache or data folder (opening a
    study lists the installed models; analysing one caches the results; annotations are kept per series)."""
    monkeypatch.setenv("LUNGLENS_MODEL_DIR", str(tmp_path_factory.mktemp("no-models")))
    monkeypatch.setenv("LUNGLENS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("LUNGLENS_DATA_DIR", str(tmp_path_factory.mktemp("data")))  # annotations, per-series window


@pytest.fixture
def settings(private_settings):
    from viewer.settings import ViewerSettings

    return ViewerSettings()


@pytest.fixture
def window(qtbot, settings):
    from viewer.main_window import MainWindow

    main = MainWindow(settings)
    qtbot.addWidget(main)
    main.resize(1200, 800)
    main.show()
    qtbot.waitExposed(main)
    yield main
    main.opening.cancel(wait=True)
    main.close()
