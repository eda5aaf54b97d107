"""Opening a study in the main window: a path, loaded off the GUI thread, or images already in memory.

``StudyOpening`` owns what is open: the loaded series by key, the files skipped with their reasons,
the series shown, and whether a loading series' quick look stands in for it. As the loader reports
(``viewer.loading``) it fills the study browser and the DICOM results panel, shows progress and a
Cancel button (the window puts them in its status bar) and has the window show the first series
loaded (``show``); ``finished`` fires once everything the loader sent is shown, or it was cancelled.
Results a superseded or cancelled loader had already queued never land on the study opened since.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMainWindow, QProgressBar, QPushButton

from inference.study import Image, ScanResult, SkippedFile
from viewer.browser import StudyBrowser
from viewer.dialogs import MessageBar
from viewer.loading import LoadedSeries, StudyLoadThread
from viewer.logic.display import thumbnail
from viewer.settings import ViewerSettings
from viewer.study_results import StudyResults
from viewer.tasks import connect_while_current, wait_for
from viewer.view_state import ViewState


class StudyOpening(QObject):
    finished = Signal()  # the load ended: everything it sent is shown, or it was cancelled or failed

    def __init__(self, window: QMainWindow, state: ViewState, browser: StudyBrowser, results: StudyResults,
                 message_bar: MessageBar, settings: ViewerSettings, show: Callable[[int], None]) -> None:
        super().__init__(window)
        self.window, self.state, self.browser, self.results = window, state, browser, results
        self.message_bar, self.settings, self.show = message_bar, settings, show
        self.images: dict[int, Image] = {}
        self.skipped: tuple[SkippedFile, ...] = ()
        self.current_key: int | None = None
        self.showing_preview = False  # a loading series' quick look (one slice) stands in for it
        self.study_path: Path | None = None
        self.loader: StudyLoadThread | None = None
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.cancel_button = QPushButton("Cancel")
        self.progress.hide()
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(lambda: self.cancel())

    @property
    def loading(self) -> bool:
        """True from open_path until everything the loader sent has been shown (or it was cancelled)."""
        return self.loader is not None

    def open_path(self, path: str | Path) -> None:
        """Open a DICOM file or folder, an X-ray picture or a volume file; loads off the GUI thread."""
        path = str(Path(path).expanduser())
        if not Path(path).exists():
            self.message_bar.show_message(f"{path} does not exist.", "error")
            return
        self.cancel(wait=True)
        self._clear()
        self.settings.add_recent(path)
        self.settings.last_folder = str(Path(path).parent if Path(path).is_file() else path)
        self.study_path = Path(path)
        self.window.setWindowTitle(f"LungLens \u2014 {Path(path).name}")
        loader = StudyLoadThread(path, self)
        connect_while_current(
            [
                (loader.scanned, self._on_scanned),
                (loader.firstImage, self._on_first_image),
                (loader.seriesLoaded, self._on_series_loaded),
                (loader.seriesFailed, self._on_series_failed),
                (loader.progress, self._on_progress),
                (loader.failed, lambda message: self.message_bar.show_message(f"Could not open {path}: {message}", "error")),
                (loader.finished, self._on_loader_finished),
            ],
            lambda: loader is self.loader,
        )
        loader.finished.connect(loader.deleteLater)
        self.loader = loader
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        loader.start()

    def open_images(self, images: list[Image], skipped: tuple[SkippedFile, ...] = ()) -> None:
        """Show images already in memory (tests, scripts, other tools), the first one at once."""
        self.cancel(wait=True)
        self._clear()
        self.study_path = None
        for key, image in enumerate(images):
            self._on_series_loaded(LoadedSeries(key, None, image, thumbnail(image)))
        self.skipped = tuple(skipped)
        self._report_skipped()

    def select(self, key: int) -> Image:
        """Series ``key`` becomes the one shown (no longer a quick look); returns it for the window to show."""
        self.current_key = key
        self.showing_preview = False
        return self.images[key]

    def cancel(self, wait: bool = False) -> None:
        """Stop the running load; with ``wait`` also forget it at once (its queued results are dropped)."""
        loader = self.loader
        if loader is None:
            return
        loader.cancel()
        if wait:
            loader.wait()
            self.loader = None
            self.progress.hide()
            self.cancel_button.hide()

    def wait_until_loaded(self, timeout_s: float = 600.0) -> bool:
        """Process events until loading ends (headless runs); False on timeout."""
        return wait_for(self.finished, lambda: not self.loading, timeout_s)

    def _clear(self) -> None:
        self.images.clear()
        self.skipped = ()
        self.current_key = None
        self.browser.clear_studies()
        self.results.set_results(())
        self.message_bar.hide()
        self.state.set_image(None)

    def _on_scanned(self, scan: ScanResult) -> None:
        self.skipped = tuple(scan.skipped)
        self.results.set_results(scan.results)
        for key, header in enumerate(scan.series):
            self.browser.add_header(key, header)
        if not scan.series:
            self.message_bar.show_message(
                f"No images found in {scan.root}" + (f" ({len(scan.skipped)} file(s) skipped)." if scan.skipped else "."),
                "error", [(s.path, s.reason) for s in scan.skipped],
            )

    def _on_first_image(self, image: Image) -> None:
        if self.current_key is None and self.state.source is None:
            self.showing_preview = True
            self.state.set_image(image)

    def _on_series_loaded(self, loaded: LoadedSeries) -> None:
        self.images[loaded.key] = loaded.image
        self.skipped += getattr(loaded.image, "left_out", ())  # slices the series could not use, listed with why
        self.browser.set_loaded(loaded.key, loaded.image, loaded.thumbnail)
        if self.current_key is None:
            self.show(loaded.key)

    def _on_series_failed(self, key: int, message: str) -> None:
        self.browser.set_failed(key, message)
        self.message_bar.show_message(f"A series could not be loaded: {message}", "error")

    def _on_progress(self, done: int, total: int, what: str) -> None:
        self.progress.setRange(0, max(total, 0))
        self.progress.setValue(done)
        self.progress.setFormat(f"{what} %v/%m" if what else "Loading %v/%m")

    def _on_loader_finished(self) -> None:
        loader, self.loader = self.loader, None
        self.progress.hide()
        self.cancel_button.hide()
        if loader.cancelled:
            self.message_bar.show_message(f"Loading cancelled; {len(self.images)} series loaded.", "warning")
        elif self.images and self.skipped:
            self._report_skipped()
        if self.showing_preview and not self.images:
            self.showing_preview = False
            self.state.set_image(None)
        self.finished.emit()

    def _report_skipped(self) -> None:
        if self.skipped:
            self.message_bar.show_message(
                f"{len(self.skipped)} file(s) were skipped (not images, or unreadable). The rest opened.",
                "warning", [(s.path, s.reason) for s in self.skipped],
            )
