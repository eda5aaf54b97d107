"""Loading a path off the GUI thread: header scan, a first image at once, then every series.

The GUI only ever receives finished, immutable objects (ScanResult, CTVolume, XRayImage) through
queued signals, so nothing it draws can change under it. Cancel stops at the next file the loader
looks at; what had loaded stays open.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QThread, Signal

from inference.study import Image, ScanResult, SeriesHeader
from viewer.display import thumbnail


@dataclass(frozen=True)
class LoadedSeries:
    """One series ready to show: where it came from (None for images opened from memory), the image, a thumbnail."""

    key: int
    header: SeriesHeader | None
    image: Image
    thumbnail: np.ndarray


class StudyLoadThread(QThread):
    """Scans ``path`` and loads each series in turn; signals carry the results to the GUI thread."""

    scanned = Signal(object)  # ScanResult
    firstImage = Signal(object)  # Image: one slice, shown while the series loads
    seriesLoaded = Signal(object)  # LoadedSeries
    seriesFailed = Signal(int, str)  # key, message
    progress = Signal(int, int, str)  # done, total, what
    failed = Signal(str)  # the path could not be read at all

    def __init__(self, path: str, parent=None) -> None:
        super().__init__(parent)
        self.path = path
        self._cancel = threading.Event()
        self.cancelled = False

    def cancel(self) -> None:
        self._cancel.set()

    def _report(self, done: int, total: int, what: str = "") -> None:
        self.progress.emit(int(done), int(total), str(what))

    def run(self) -> None:
        from inference import loading

        try:
            scan: ScanResult = loading.scan_path(self.path, progress=self._report, cancel=self._cancel.is_set)
            self.scanned.emit(scan)
            if scan.series:
                try:
                    self.firstImage.emit(loading.read_first_image(scan.series[0]))
                except loading.LoadError:
                    pass  # no quick look; the full load below reports the reason
            for key, header in enumerate(scan.series):
                try:
                    image = loading.load_series(header, progress=self._report, cancel=self._cancel.is_set)
                except loading.LoadError as exc:  # one broken series must not stop the others
                    self.seriesFailed.emit(key, str(exc))
                    continue
                self.seriesLoaded.emit(LoadedSeries(key, header, image, thumbnail(image)))
        except loading.LoadCancelled:
            self.cancelled = True
        except Exception as exc:  # the path itself could not be scanned: say why, never crash the GUI
            self.failed.emit(str(exc) if isinstance(exc, loading.LoadError) else f"{type(exc).__name__}: {exc}")
