"""Starting the viewer: the Qt application, the main window, and the headless screenshot run."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from viewer.qt_libraries import platform_problem
from viewer.settings import PRESET_ALIASES


def ensure_display(headless: bool) -> None:
    """Use Qt's offscreen platform for headless runs or where there is no display at all."""
    no_display = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if headless or no_display:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def missing_platform_library() -> str:
    """Why Qt cannot open a window here, naming the packages to install, or "" (viewer.qt_libraries):
    without them Qt aborts the process with a plugin message that does not say what to install."""
    return platform_problem(dict(os.environ))


def application():
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from viewer.theme import apply_dark_theme

    app = QApplication.instance()
    if app is None:
        # The system's scale as it is (125 %, 150 %...), not rounded to a whole factor; fonts are in points.
        QApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(sys.argv[:1])
        app.setApplicationName("LungLens")
        app.setOrganizationName("LungLens")
        apply_dark_theme(app)
    return app


def report_errors_in(window) -> None:
    """Show an unexpected error from a Qt callback in the window's message bar (and on stderr) instead
    of losing it; the session, and whatever is open, carry on."""
    previous = sys.excepthook

    def hook(kind, error, trace) -> None:
        previous(kind, error, trace)
        try:
            window.message_bar.show_message(f"Unexpected error: {kind.__name__}: {error}", "error")
        except RuntimeError:  # the window is already gone
            pass

    sys.excepthook = hook


def preset_key(name: str) -> int:
    """'lung', 'mediastinum', 'bone', 'soft_tissue', 'full' or '1'..'5' -> preset key."""
    text = name.strip().lower()
    if text.isdigit() and 1 <= int(text) <= 5:
        return int(text)
    if text not in PRESET_ALIASES:
        raise ValueError(f"unknown preset {name!r}; use 1-5 or one of: lung, mediastinum, bone, soft_tissue, full")
    return PRESET_ALIASES[text]


def run_viewer(
    path: str | None,
    screenshot: str | None = None,
    preset: str | None = None,
    slice_number: int | None = None,
    layout: str | None = None,
    whole_window: bool = False,
    after_open=None,
    analyze: bool = False,
    compare: bool = False,
    report: str | None = None,
) -> int:
    """Open ``path`` in the viewer; with ``screenshot`` render headless to that PNG and return.

    ``after_open(window)`` runs once the study has loaded (the demo adds its ground-truth mask there).
    ``layout`` overrides the modality's hanging protocol for this run.
    ``analyze`` runs the installed models on every series once it has loaded; headless, the picture is then the whole
    window (views with overlays, model panel, curves, verdict), in compare mode with ``compare``, and
    ``report`` also exports the report there (with its view PNG and results JSON beside it).
    """
    analyze = analyze or compare or report is not None
    ensure_display(headless=screenshot is not None)
    if problem := missing_platform_library():
        print(f"lunglens: {problem}", file=sys.stderr)
        return 1
    app = application()
    from viewer.main_window import MainWindow
    from viewer.settings import ViewerSettings, open_settings

    if screenshot is None:
        window = MainWindow(ViewerSettings(open_settings()))
        report_errors_in(window)
        window.show()
        if layout:
            window.loadingFinished.connect(lambda: window.set_layout(layout, remember=False))
        if after_open is not None:
            window.loadingFinished.connect(lambda: after_open(window))
        if analyze:
            window.loadingFinished.connect(lambda: _analyse_once(window, compare))
        if path:
            window.open_path(path)
        return app.exec()
    if os.environ.get("LUNGLENS_SETTINGS"):
        return _render(MainWindow(ViewerSettings(open_settings())), path, screenshot, preset, slice_number, layout,
                       whole_window, after_open, analyze, compare, report)
    # Headless renders start from the defaults and leave the user's settings (recent list...) alone.
    from PySide6.QtCore import QSettings

    with tempfile.TemporaryDirectory(prefix="lunglens-headless-") as scratch:
        settings = ViewerSettings(QSettings(str(Path(scratch) / "settings.ini"), QSettings.Format.IniFormat))
        return _render(MainWindow(settings), path, screenshot, preset, slice_number, layout, whole_window, after_open,
                       analyze, compare, report)


def _analyse_once(window, compare: bool) -> None:
    if window.image is not None and window.opinions.analysis is None and not window.opinions.running:
        window.opinions.analyse_every_series()
        if compare:
            window.set_compare(True)


def _analyse_shown(window) -> bool:
    """Analyse the series on screen and wait; False (with the reason on stderr) when it did not work."""
    if not window.opinions.analyze() or not window.opinions.wait_until_done():
        print("lunglens view: the analysis did not finish in time", file=sys.stderr)
        return False
    if window.opinions.analysis is None:
        print(f"lunglens view: the analysis failed: {window.opinions.status}", file=sys.stderr)
        return False
    return True


def _render(window, path, screenshot, preset, slice_number, layout, whole_window, after_open, analyze=False,
            compare=False, report=None) -> int:
    app = application()
    window.resize(1600, 1000)
    window.show()
    if path:
        window.open_path(path)
    try:
        if not window.wait_until_loaded():
            print("lunglens view: loading did not finish in time", file=sys.stderr)
            return 1
        if window.image is None:
            print(f"lunglens view: nothing to show: {window.message_bar.text() or 'no image found'}", file=sys.stderr)
            return 1
        first = window.current_key
        others = [key for key in sorted(window.images) if key != first] if analyze else []
        for key in others:  # every series of the study, each printed; the one shown first is drawn
            window.show_series(key)
            if not _analyse_shown(window):
                return 1
            print(f"series {key + 1} ({window.image.modality.value}, {window.image.description}): {window.opinions.status}")
        if others:
            window.show_series(first)
        if layout:
            window.set_layout(layout, remember=False)
        if after_open is not None:
            after_open(window)
        if preset:
            window.apply_preset(preset_key(preset))
        if slice_number is not None:
            window.grid.active.set_slice_number(slice_number)
        if analyze:
            if not _analyse_shown(window):
                return 1
            print(window.opinions.status)
            whole_window = True
            if compare:
                window.set_compare(True)
            if report is not None:
                from viewer.report import ExportError

                try:
                    files = window.opinions.export_report(report)
                except (ExportError, OSError) as exc:
                    print(f"lunglens view: no report written: {exc}", file=sys.stderr)
                    return 2
                print(f"wrote {files.report}, {files.view.name}, {files.results.name}")
        app.processEvents()
        try:
            written = window.save_screenshot(Path(screenshot), whole_window=whole_window)
        except OSError as exc:  # checked before opening; the place changed or filled up meanwhile
            print(f"lunglens view: the screenshot could not be written ({exc.strerror or exc})", file=sys.stderr)
            return 2
        print(f"wrote {written}")
        return 0
    finally:
        window.close()
