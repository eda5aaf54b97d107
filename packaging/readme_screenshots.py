"""The README's viewer screenshots of issue 19, made in the real window with the bundled demo study and pack.

    xvfb-run -s "-screen 0 1600x1000x24" python packaging/readme_screenshots.py resources/docs

Writes viewer-reading-mode.png (F11: the images only, with the Grad-CAM, legend, lung outline and
scale bar), viewer-annotations.png (each annotation tool on the demo CT, the Annotations panel),
viewer-gradcam.png (the display maps in MPR with the legend, the Map column and the share inside the
lungs) and viewer-prior-current.png. The demo has no earlier study of its patient, so the prior is a
stand-in made here from the demo CT: 40 of its 64 slices under a new study (date, UIDs), which the
viewer lines up by table position like any prior. Runs on xcb (an X server, Xvfb will do) so full
screen is a real screen; the user's settings, cache and data folders are not touched.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEMO = ROOT / "resources" / "demo"


def stand_in_prior(folder: Path) -> Path:
    """40 slices of the demo CT as another study of the same patient, six months earlier."""
    import pydicom
    from pydicom.uid import generate_uid

    study, series = generate_uid(), generate_uid()
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted((DEMO / "ct").glob("*.dcm"))[12:52]:
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, series, generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.StudyDate = ds.SeriesDate = "20061004"
        ds.SeriesDescription = "stand-in prior made from the demo CT"
        ds.save_as(folder / path.name)
    return folder


def main(out: Path) -> int:
    scratch = Path(tempfile.mkdtemp(prefix="lunglens-shots-"))
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    os.environ["LUNGLENS_SETTINGS"] = str(scratch / "settings.ini")
    os.environ["LUNGLENS_CACHE_DIR"] = str(scratch / "cache")
    os.environ["LUNGLENS_DATA_DIR"] = str(scratch / "data")
    from PySide6.QtCore import QEventLoop, QTimer

    from viewer.app import application
    from viewer.main_window import MainWindow
    from viewer.settings import ViewerSettings

    def settle(ms: int = 600) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    app = application()
    window = MainWindow(ViewerSettings())
    window.move(0, 0)
    window.resize(1600, 1000)
    window.show()
    window.open_path(DEMO / "ct")
    assert window.wait_until_loaded(120)
    window.grid.active.set_slice_number(38)
    assert window.opinions.analyze() and window.opinions.wait_until_done(600)
    settle(2000)  # the lung share, painted
    out.mkdir(parents=True, exist_ok=True)
    window.save_screenshot(out / "viewer-gradcam.png", whole_window=True)

    window.reading_mode.enter()
    settle(3000)  # past the hint
    window.grab().save(str(out / "viewer-reading-mode.png"))
    window.reading_mode.leave()
    settle()

    window.set_layout("1x1", remember=False)
    window.layers.update(next(n for n in window.layers.names if n.startswith("Grad-CAM") and window.layers[n].visible),
                         visible=False)
    window.apply_preset(1)
    pane = window.grid.active
    overlay = pane.annotation_overlay
    lungs = pane.plane.view(window.opinions.mask.labels)[pane.slice_index]

    def inside(label: int, share_x: float, share_y: float) -> tuple[float, float]:
        """A point at these shares of one lung's box on the shown slice (column, row)."""
        rows, cols = np.nonzero(lungs == label)
        return cols.min() + share_x * (cols.max() - cols.min()), rows.min() + share_y * (rows.max() - rows.min())

    (x1, y1), (x2, y2) = inside(1, 0.30, 0.25), inside(1, 0.55, 0.45)
    overlay.add("ellipse", ((x1, y1), (x2, y2)))  # right lung parenchyma
    overlay.add("length", (inside(1, 0.2, 0.7), inside(1, 0.7, 0.8)))
    overlay.add("point", (inside(1, 0.6, 0.6),))
    outline = [inside(2, 0.62 + 0.14 * np.cos(t), 0.72 + 0.1 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 12)[:-1]]
    overlay.add("freehand", outline)  # left lung, lower part
    overlay.add("angle", (inside(2, 0.3, 0.1), inside(2, 0.5, 0.35), inside(2, 0.8, 0.2)))
    overlay.add("arrow", (inside(1, 0.05, 0.05), inside(1, 0.3, 0.2)))
    overlay.add("text", (inside(1, 0.0, 0.0),), "compare with prior")
    window.annotation_dock.raise_()
    settle()
    window.save_screenshot(out / "viewer-annotations.png", whole_window=True)

    loaded: list[bool] = []
    window.priorLoaded.connect(lambda: loaded.append(True))
    window.open_prior(stand_in_prior(scratch / "prior"))
    while not loaded:
        settle(200)
    window.state.set_cursor((40, *window.state.cursor[1:]))
    settle()
    window.save_screenshot(out / "viewer-prior-current.png", whole_window=True)
    window.close()
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "resources" / "docs"))
