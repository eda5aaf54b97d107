"""The read a radiologist does, in the real window on a real X server (Xvfb), with real key and mouse
events (xdotool): open, scroll, window, measure three things, analyse, compare, reading mode, export
with the measurements. The steps and their checks are in ``xvfb_read.py``; CI installs xvfb and
xdotool (their absence fails there, skips elsewhere)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inference.testing.tiny_models import install_ct_models

STEPS = ["open", "scroll", "window", "measure", "analyse", "compare", "reading mode", "export"]


def _require(tool: str) -> None:
    """Missing fails in CI (CI=true), skips on a laptop."""
    if shutil.which(tool) is None:
        message = f"{tool} is not installed (apt-get install -y xvfb xdotool)"
        if os.environ.get("CI"):
            pytest.fail(f"CI expects it: {message}")
        pytest.skip(message)


def _free_display() -> int:
    return next(n for n in range(90, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists())


@pytest.fixture
def xvfb():
    _require("Xvfb")
    _require("xdotool")
    from viewer.qt_libraries import platform_problem

    if problem := platform_problem({"QT_QPA_PLATFORM": "xcb"}):
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    display = _free_display()
    server = subprocess.Popen(["Xvfb", f":{display}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{display}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f":{display}"
    server.terminate()
    server.wait(10)


def test_a_read_with_real_keys_and_mouse(xvfb, tmp_path):
    from inference.phantoms import make_ct_phantom, write_ct_series

    hu, _ = make_ct_phantom((24, 128, 128), (5.0, 2.5, 2.5))
    write_ct_series(tmp_path / "study", hu, (5.0, 2.5, 2.5))
    install_ct_models(tmp_path / "models")
    (tmp_path / "export").mkdir()
    (tmp_path / "no-bundled-models").mkdir()  # the tiny models only: the read is about the window, not the pack
    env = {**os.environ, "DISPLAY": xvfb, "QT_QPA_PLATFORM": "xcb", "LUNGLENS_MODEL_DIR": str(tmp_path / "models"),
           "LUNGLENS_BUNDLED_MODEL_DIR": str(tmp_path / "no-bundled-models"),
           "LUNGLENS_SETTINGS": str(tmp_path / "settings.ini"), "LUNGLENS_CACHE_DIR": str(tmp_path / "cache"),
           "LUNGLENS_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path / "home")}
    env.pop("WAYLAND_DISPLAY", None)
    driver = Path(__file__).with_name("xvfb_read.py")
    done = subprocess.run([sys.executable, str(driver), str(tmp_path / "study"), str(tmp_path / "export")],
                          env=env, capture_output=True, text=True, timeout=180, cwd=Path(__file__).resolve().parents[2])
    steps = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [s["step"] for s in steps] == STEPS, done.stderr[-3000:]
    failed = [s for s in steps if not s["ok"]]
    assert not failed, failed
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.suffix for p in (tmp_path / "export").iterdir()) == [".html", ".json", ".png"]
