"""The command line as a script or a terminal user meets it: a closed pipe, --version, logs, hostile
file names, and outputs that cannot go where they are asked to (checked before any work)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from inference import __version__
from inference.cli import main
from inference.phantoms import make_xray_phantom, write_xray_png

LUNGLENS = [sys.executable, "-m", "inference.cli"]


@pytest.fixture
def xray(tmp_path):
    return write_xray_png(tmp_path / "study" / "chest.png", make_xray_phantom((96, 96), seed=1)[0])


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"lunglens {__version__}"


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path):
    for k in range(1500):  # enough skipped entries to overflow a pipe's buffer
        (tmp_path / f"junk-{k:04d}.txt").write_bytes(b"not an image")
    process = subprocess.Popen([*LUNGLENS, "info", str(tmp_path), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.read(100)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_verbose_and_log_file(tmp_path, xray, capsys):
    log = tmp_path / "lunglens.log"
    assert main(["--log", str(log), "info", str(xray), "--json"]) == 0
    assert "scanned 1 file(s): 1 series, 0 skipped" in log.read_text()
    capsys.readouterr()
    assert main(["info", str(xray), "-v"]) == 0
    assert "scanned 1 file(s)" in capsys.readouterr().err
    assert main(["info", str(xray)]) == 0
    assert "scanned" not in capsys.readouterr().err


def test_terminal_escape_sequences_in_file_names_never_reach_the_terminal(tmp_path, capsys):
    (tmp_path / "evil\x1b]0;owned\x07\x1b[2J.dcm").write_bytes(b"not an image")
    main(["info", str(tmp_path)])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "evil?]0;owned??[2J.dcm" in out
    main(["info", str(tmp_path), "--json"])
    assert json.loads(capsys.readouterr().out)["skipped"][0]["path"].endswith("evil\x1b]0;owned\x07\x1b[2J.dcm")


@pytest.mark.parametrize(
    "where, says",
    [("inside", "inside the study folder"), ("existing-file", "exists and is not a folder"), ("under-file", "is a file, not a folder")],
)
def test_analyze_refuses_an_unwritable_out_before_any_work(tmp_path, xray, capsys, monkeypatch, where, says):
    monkeypatch.setenv("LUNGLENS_MODEL_DIR", str(tmp_path / "no-models"))
    (tmp_path / "afile").write_text("x")
    out = {"inside": xray.parent / "results", "existing-file": tmp_path / "afile", "under-file": tmp_path / "afile" / "results"}[where]
    monkeypatch.setattr("inference.loading.load_path", lambda *a, **k: pytest.fail("loaded before checking --out"))
    assert main(["analyze", str(xray), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert not (xray.parent / "results").exists()


def test_view_refuses_screenshots_and_reports_it_cannot_write(tmp_path, xray, capsys):
    inside = xray.parent / "inside.png"
    assert main(["view", str(xray), "--screenshot", str(inside)]) == 2
    assert "inside the study folder" in capsys.readouterr().out and not inside.exists()
    (tmp_path / "reports").mkdir()
    assert main(["view", str(xray), "--screenshot", str(tmp_path / "s.png"), "--report", str(tmp_path / "reports")]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().out
    assert not (tmp_path / "reports.html").exists() and not (tmp_path / "s.png").exists()


def test_missing_qt_libraries_get_a_message_naming_the_packages_not_a_qt_abort(monkeypatch, capsys):
    from viewer import app, qt_libraries

    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(qt_libraries, "ldd_missing", lambda files: {"libxcb-cursor.so.0", "libxcb-icccm.so.4"})
    monkeypatch.setattr(app, "application", lambda: pytest.fail("Qt started without its platform libraries"))
    assert app.run_viewer(None) == 1
    err = capsys.readouterr().err
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4" in err
    assert "apt install libxcb-cursor0 libxcb-icccm4" in err and "dnf install xcb-util-cursor xcb-util-wm" in err


def test_without_ldd_the_loader_cache_is_asked_for_each_library_the_platform_needs(monkeypatch):
    from viewer import qt_libraries

    monkeypatch.setattr(qt_libraries.ctypes.util, "find_library", lambda name: None if name == "xcb-cursor" else name)
    problem = qt_libraries.platform_problem({"QT_QPA_PLATFORM": "xcb"}, ldd=lambda files: None)
    assert "libxcb-cursor.so.0 (" in problem and "sudo apt install libxcb-cursor0;" in problem
    assert qt_libraries.platform_problem({"QT_QPA_PLATFORM": "offscreen"}, ldd=lambda files: None) == ""


def test_the_readme_install_line_names_every_package_the_window_needs():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    from viewer.qt_libraries import PACKAGES

    for debian, fedora in PACKAGES.values():
        assert f" {debian}" in readme and f" {fedora}" in readme


def test_the_demo_phantom_lives_in_lunglens_cache_folder(tmp_path, monkeypatch):
    from viewer.commands.demo import phantom_demo

    monkeypatch.setenv("LUNGLENS_CACHE_DIR", str(tmp_path / "cache"))
    series, _ = phantom_demo()
    assert series.is_relative_to(tmp_path / "cache" / "demo")
    assert Path(series).is_dir()
