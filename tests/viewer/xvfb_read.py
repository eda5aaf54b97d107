"""A radiologist's read, driven through the X server with real key and mouse events (xdotool).

Run by ``test_read_xvfb.py`` under Xvfb: ``python tests/viewer/xvfb_read.py STUDY EXPORT_FOLDER``. The
viewer runs here on Qt's xcb platform; every gesture goes through X (xdotool), never through Qt's test
events; after each step the window's state is checked and the step written as one JSON line to stdout
(name, ok, detail), so the test can say which step of the read failed.
Steps: open, scroll (wheel and keys, the readout following), window (right drag and a preset key),
measure three things (length and ellipse by drag, an angle by drag and click; Ctrl+Z, Ctrl+Y), analyse
(A), compare (V), reading mode (F11, Esc), export (Ctrl+E and Return in the save dialog) with the
measurements in the results JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QPointF, QTimer


def wait(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_until(condition, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        wait(50)
    return bool(condition())


def xdotool(*args: str, background: bool = False) -> None:
    """Real X events. ``background``: do not wait (a modal dialog will run its own event loop meanwhile)."""
    command = ["xdotool", *args]
    if background:
        subprocess.Popen(command)
    else:
        subprocess.run(command, check=True, timeout=30)
    wait(150)  # let Qt take the events in


def report(name: str, ok: bool, detail: str = "") -> None:
    print(json.dumps({"step": name, "ok": bool(ok), "detail": detail}), flush=True)


def screen_point(pane, row: float, col: float) -> tuple[int, int]:
    """Where the centre of a pane pixel is on the X screen."""
    sy, sx = pane.pixel_size
    scene = pane.view.mapViewToScene(QPointF((col + 0.5) * sx, (row + 0.5) * sy))
    point = pane.graphics.viewport().mapToGlobal(pane.graphics.mapFromScene(scene))
    return point.x(), point.y()


def drag(pane, start: tuple[float, float], end: tuple[float, float], button: str = "1") -> None:
    x0, y0 = screen_point(pane, *start)
    x1, y1 = screen_point(pane, *end)
    xdotool("mousemove", str(x0), str(y0))
    xdotool("mousedown", button)
    for i in range(1, 6):  # in steps, slower than pyqtgraph's mouse rate limit
        xdotool("mousemove", str(round(x0 + (x1 - x0) * i / 5)), str(round(y0 + (y1 - y0) * i / 5)))
    xdotool("mouseup", button)


def main(study: str, export_folder: str) -> int:
    from viewer.app import application
    from viewer.main_window import MainWindow
    from viewer.settings import ViewerSettings

    app = application()
    settings = ViewerSettings()
    settings.export_folder = export_folder
    window = MainWindow(settings)
    window.move(0, 0)
    window.resize(1500, 950)
    window.show()
    wait(500)
    xdotool("windowfocus", "--sync", str(int(window.winId())))

    window.open_path(study)
    opened = window.wait_until_loaded(60) and window.image is not None
    report("open", opened, f"{window.image.shape if window.image is not None else None}")
    if not opened:
        return 1
    pane = window.grid.active
    x, y = screen_point(pane, pane.slice_values().shape[0] / 2, pane.slice_values().shape[1] / 2)
    xdotool("mousemove", str(x), str(y))

    before = pane.reading_position()
    xdotool("click", "--repeat", "3", "--delay", "60", "5")  # wheel down, three notches
    wheel = pane.reading_position() - before
    xdotool("key", "Down", "Down")
    keys = pane.reading_position() - before - wheel
    readout = window.hover_label.text()
    report("scroll", wheel == 3 and keys == 2 and f"slice {window.state.source.numbering.number(window.state.cursor[0])}," in readout,
           f"wheel {wheel}, keys {keys}, readout '{readout}'")

    start = window.state.window
    drag(pane, (30, 30), (30, 60), button="3")  # right drag: window and level
    dragged = window.state.window
    xdotool("key", "2")  # mediastinum preset
    report("window", dragged.width > start.width and window.state.window.width == 350.0,
           f"{start} -> {dragged} -> {window.state.window}")

    xdotool("key", "d")
    drag(pane, (20, 10), (20, 50))
    xdotool("key", "e")
    drag(pane, (40, 40), (50, 60))
    xdotool("key", "g")
    drag(pane, (70, 20), (70, 50))
    cx, cy = screen_point(pane, 100, 50)  # the second arm's end, clear of the ellipse
    xdotool("mousemove", str(cx), str(cy))
    xdotool("click", "1")
    xdotool("key", "Escape")
    kinds = sorted(r.kind for r in window.measurement_records())
    xdotool("key", "ctrl+z")
    undone = len(window.measurement_records())
    xdotool("key", "ctrl+y")
    report("measure", kinds == ["angle", "ellipse", "length"] and undone == 2 and len(window.measurement_records()) == 3,
           f"{kinds}, after Ctrl+Z {undone}")

    xdotool("key", "a")
    analysed = window.opinions.wait_until_done(120) and window.opinions.analysis is not None
    report("analyse", analysed and bool(window.opinions.analysis.opinions), window.opinions.status)

    xdotool("key", "v")
    report("compare", window.compare_mode and len(window.compare.panes) == len(window.opinions.opinions),
           f"{list(window.compare.panes)}")
    xdotool("key", "v")

    xdotool("key", "F11")
    reading = window.reading_mode.active and not window.menuBar().isVisible()
    xdotool("key", "Escape")
    report("reading mode", reading and not window.reading_mode.active and window.menuBar().isVisible())

    # The save dialog runs its own event loop inside the key's handler: its Return must already be on its way.
    xdotool("key", "ctrl+e", "sleep", "2", "key", "Return", background=True)
    written = wait_until(lambda: any(Path(export_folder).glob("*-analysis.json")), 30)
    results = next(Path(export_folder).glob("*-analysis.json"), None)
    measured = json.loads(results.read_text())["measurements"] if results else []
    report("export", written and sorted(m["kind"] for m in measured) == ["angle", "ellipse", "length"],
           f"{[p.name for p in Path(export_folder).iterdir()]}")
    window.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
