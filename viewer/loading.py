"""Loading a path off the GUI thread: header scan, a first image at once, then every series.

The GUI only ever receives finished, immutable objects (ScanResult, CTVolume, XRayImage) through
queued signals, so nothing it draws can change under it. Cancel stops at the next file the loader
looks at; what had loaded stays open.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Signal

from inference import loading
from inference.study import Image, ScanResult, SeriesHeader
from viewer.logic.display import thumbnail
from viewer.tasks import Worker


@dataclass(frozen=True)
class LoadedSeries:
    """One series ready to show: where it came from (None for images opened from memory), the image, a thumbnail."""

    key: int
    header: SeriesHeader | None
    image: Image
    thumbnail: np.ndarray


class StudyLoadThread(Worker):
    """Scans ``path`` and loads each series in turn; signals carry the results to the GUI thread.
    ``failed``: the path could not be read at all; ``progress`` counts files, then each series' slices."""

    scanned = Signal(object)  # ScanResult
    firstImage = Signal(object)  # Image: one slice, shown while the series loads
    seriesLoaded = Signal(object)  # LoadedSeries
    seriesFailed = Signal(int, str)  # key, message
    expected = (loading.LoadError,)

    def __init__(self, path: str, parent=None) -> None:
        super().__init__(parent)
        self.path = path

    def work(self) -> None:
        scan: ScanResult = loading.scan_path(self.path, progress=self.report_count, cancel=self.cancel_event.is_set)
        self.scanned.emit(scan)
        if scan.series:
            try:
                self.firstImage.emit(loading.read_first_image(scan.series[0]))
            except loading.LoadError:
                pass  # no quick look; the full load below reports the reason
        for key, header in enumerate(scan.series):
            try:
                image = loading.load_series(header, progress=self.report_count, cancel=self.cancel_event.is_set)
            except loading.LoadError as exc:  # one broken series must not stop the others
                self.seriesFailed.emit(key, str(exc))
                continue
            self.seriesLoaded.emit(LoadedSeries(key, header, image, thumbnail(image)))
