"""The models' opinions on the open study, in the viewer: running the analysis and showing what it finds.

One object per main window ties the analysis thread to what the reader sees, as results arrive:

- the lung mask (right and left lung in two colours) and one Grad-CAM layer per model in the layer
  list, of the class picked in the model table (its finding first), only the selected model's visible
  (``viewer.cam_layers``);
- the model panel (what runs, where, and what each model says), the per-slice curves, the verdict
  card and, in compare mode, one pane per model;
- the report export.

A new image (another series, another study) cancels a running analysis and clears its results;
results of a cancelled or superseded run are dropped on arrival, never shown on the wrong image.

    window.opinions.analyze()                 # the ticked models, in the background
    window.opinions.wait_until_done()         # headless runs and tests
    window.opinions.analysis                  # StudyAnalysis once done, else None
    window.opinions.select_model("m4-ct")     # its Grad-CAM becomes the visible one
    window.opinions.export_report("~/report.html")

What it needs from the window it lives in is :class:`OpinionsHost`, and nothing more.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog, QProgressBar, QPushButton, QStatusBar, QWidget

from inference.cache import ResultCache
from inference.measurements import Measurement
from inference.pipelines.results import LungMask, ModelOpinion, StudyAnalysis
from inference.slice_numbers import BY_POSITION, SliceNumbering
from inference.study import Image
from viewer.analysis_thread import AnalysisThread, ModelCatalogue, OpinionReady, find_catalogue
from viewer.cam_layers import CamControls, CamLayers
from viewer.compare_view import CompareView
from viewer.curves import ProbabilityCurves
from viewer.dialogs import MessageBar
from viewer.logic.layers import LayerEvent
from viewer.logic.opinion_data import CamKey, compare_layers, finding_class, lung_mask_layer, model_colour
from viewer.model_panel import ModelPanel
from viewer.report import ExportError, ReportFiles, export_report
from viewer.settings import ViewerSettings
from viewer.tasks import PROGRESS_STEPS, connect_while_current, run_in_background, wait_for
from viewer.verdict_card import VerdictCard
from viewer.view_state import ViewState


class OpinionsHost(Protocol):
    """What the opinions need from the window they live in (``MainWindow`` is one). They change none of it
    but the state's layers and their own settings (the models left out, the export folder).

    ``state``: the image shown, its layers and cursor; ``settings``: the models left out, analyse on
    open, the export folder; ``message_bar`` and ``statusBar()``: where the reader is told things;
    ``window()``: the parent of the export dialog.
    """

    state: ViewState
    settings: ViewerSettings
    message_bar: MessageBar

    @property
    def images(self) -> dict[int, Image]:
        """Every loaded series of the open study by key (analysing every series warms the others)."""

    @property
    def showing_preview(self) -> bool:
        """True while a loading series' quick look stands in for it: nothing to analyse yet."""

    @property
    def compare_mode(self) -> bool:
        """True while the views are compare mode's one pane per model."""

    @property
    def study_path(self) -> Path | None:
        """Where the open study was read from (the report names it, and is never written there)."""

    def views_picture(self) -> QImage:
        """The views as on screen, for the report."""

    def measurement_records(self) -> list[Measurement]:
        """The reader's annotations of the open series, for the report."""

    def statusBar(self) -> QStatusBar: ...

    def window(self) -> QWidget: ...


class Opinions(QObject):
    started = Signal()
    finished = Signal()  # the analysis ended: done, failed or cancelled

    def __init__(self, host: OpinionsHost, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.state = host.state
        self.layers = host.state.layers
        self.settings = host.settings
        self.panel = ModelPanel()
        self.curves = ProbabilityCurves()
        self.card = VerdictCard()
        self.compare = CompareView(host.state)
        self._views_timer = QTimer(self)
        self._views_timer.setSingleShot(True)
        self._views_timer.setInterval(0)
        self._views_timer.timeout.connect(self._refresh_views)
        self.cam_layers = CamLayers(host.state, self)
        self.panel.set_controls(CamControls(self.cam_layers))
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setRange(0, PROGRESS_STEPS)
        self.cancel_button = QPushButton("Cancel analysis")
        self.progress.hide()
        self.cancel_button.hide()

        self.worker: AnalysisThread | None = None
        self._workers: set[AnalysisThread] = set()
        self.catalogue: ModelCatalogue | None = None
        self.colours: dict[str, str] = {}
        self.mask: LungMask | None = None
        self.results: dict[str, OpinionReady] = {}
        self.analysis: StudyAnalysis | None = None
        self.status = ""
        self.selected: str | None = None
        self.mask_layer: str | None = None
        self.every_series = False  # analyse each series as it is shown (this session only)
        self._warming: list = []  # series still to analyse in the background

        self.cancel_button.clicked.connect(self.cancel)
        self.panel.modelSelected.connect(self.select_model)
        self.panel.mapClassChanged.connect(self.cam_layers.set_class)
        self.panel.skipChanged.connect(self._on_skip_changed)
        self.curves.sliceClicked.connect(self.show_slice)
        self.state.imageChanged.connect(self._on_image)
        self.state.cursorChanged.connect(self._on_cursor)
        disconnect = self.layers.connect(self._on_layer_event)
        self.destroyed.connect(lambda *_: disconnect())

    # --- running -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.worker is not None

    @property
    def cam_keys(self) -> dict[str, CamKey]:
        """Grad-CAM layer name -> the model and class it shows."""
        return self.cam_layers.cam_keys

    @property
    def opinions(self) -> list[ModelOpinion]:
        """The opinions so far, in the catalogue's order (stable colours and rows)."""
        order = [m.id for m in self.catalogue.candidates] if self.catalogue else []
        ranked = sorted(self.results, key=lambda i: order.index(i) if i in order else len(order))
        return [self.results[i].opinion for i in ranked]

    def analyze(self, fresh: bool = False) -> bool:
        """Analyse the open series with the ticked models in the background; False if there is nothing to analyse.
        ``fresh``: read no cached result (write them anew)."""
        image = self.state.image
        if image is None or self.host.showing_preview:
            self.host.message_bar.show_message("Open a series before analysing it.", "error")
            return False
        self.cancel()
        self._clear_results()
        thread = AnalysisThread(image, self.settings.skipped_models, parent=self, fresh=fresh)
        connect_while_current(
            [
                (thread.catalogued, self._on_catalogue),
                (thread.progress, self._on_progress),
                (thread.maskReady, self._on_mask),
                (thread.opinionReady, self._on_opinion),
                (thread.analysed, self._on_analysed),
                (thread.failed, self._on_failed),
            ],
            lambda: thread is self.worker,
        )
        thread.finished.connect(lambda: self._on_thread_finished(thread))
        self.worker = thread
        self._workers.add(thread)
        self.progress.setValue(0)
        self.progress.setFormat("Analysing %p%")
        self.progress.show()
        self.cancel_button.show()
        self._set_status("Analysing\u2026")
        self.started.emit()
        thread.start()
        return True

    def cancel(self) -> None:
        """Stop the running analysis; what already arrived stays on screen."""
        thread = self.worker
        if thread is None:
            return
        thread.cancel()
        self.worker = None
        self.progress.hide()
        self.cancel_button.hide()
        done = len(self.results)
        for model in self._waiting():
            self.panel.set_status(model.id, "not run: the analysis was cancelled")
        self._set_status(f"Analysis cancelled; {done} model opinion(s) had arrived.")
        self.finished.emit()

    def shutdown(self) -> None:
        """Cancel and wait for every analysis thread (the window is closing)."""
        self.cancel()
        for thread in list(self._workers):
            thread.cancel()
            thread.wait()

    def wait_until_done(self, timeout_s: float = 600.0) -> bool:
        """Process events until the analysis ends and the maps it brought are drawn (headless runs, tests);
        False on timeout."""
        deadline = time.monotonic() + timeout_s
        if not wait_for(self.finished, lambda: not self.running, timeout_s):
            return False
        while not self.cam_layers.ready() and time.monotonic() < deadline:  # "changed" fires for other reasons too
            wait_for(self.cam_layers.changed, self.cam_layers.ready, deadline - time.monotonic())
        return self.cam_layers.ready()

    def _on_thread_finished(self, thread: AnalysisThread) -> None:
        self._workers.discard(thread)
        thread.deleteLater()
        if thread is self.worker:
            self.worker = None
            self.progress.hide()
            self.cancel_button.hide()
            self.finished.emit()

    def _on_progress(self, done: int, total: int, stage: str) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"{stage[:40]} %p%")

    # --- results -------------------------------------------------------------------------------

    def _on_catalogue(self, catalogue: ModelCatalogue) -> None:
        self.catalogue = catalogue
        self.colours = {m.id: model_colour(i) for i, m in enumerate(catalogue.candidates)}
        skip = self.settings.skipped_models
        self.panel.set_catalogue(catalogue, skip, self.colours)
        self._mark_queue()
        running = [m.id for m in catalogue.choice(skip).classifiers]
        if self.selected not in running:  # none yet, unticked, or a model of the other modality
            self.selected = running[0] if running else None

    def _waiting(self) -> list:
        """The chosen models whose opinion has not arrived (yet)."""
        if self.catalogue is None:
            return []
        return [m for m in self.catalogue.choice(self.settings.skipped_models).classifiers if m.id not in self.results]

    def _mark_queue(self) -> None:
        """While an analysis runs: the next model "analysing", the rest "queued" (only then: nothing is
        queued before Analyse)."""
        if self.running:
            for position, model in enumerate(self._waiting()):
                self.panel.set_status(model.id, "analysing\u2026" if position == 0 else "queued\u2026")

    def _on_mask(self, mask: LungMask) -> None:
        self.mask = mask
        self.cam_layers.set_lung_mask(mask.labels)
        layer = lung_mask_layer(mask)
        if layer.name in self.layers:
            self.layers.remove(layer.name)
        self.layers.add(layer)
        self.mask_layer = layer.name

    def _on_opinion(self, ready: OpinionReady) -> None:
        opinion = ready.opinion
        self.results[opinion.model_id] = ready
        self.cam_layers.add(opinion)
        self.panel.set_opinion(opinion)
        self._mark_queue()
        if opinion.model_id == self.selected:
            self.select_model(opinion.model_id)
        self._views_timer.start()  # opinions from the cache come together: the curves and card are drawn once

    def _on_analysed(self, analysis: StudyAnalysis) -> None:
        self.analysis = analysis
        ran = {o.model_id for o in analysis.opinions}
        chosen = self.catalogue.choice(self.settings.skipped_models).classifiers if self.catalogue else ()
        for model in chosen:
            if model.id not in ran:
                reasons = analysis.model_notes(model.id, "model-failed") or analysis.model_notes(model.id)
                self.panel.set_status(model.id, f"no opinion: {reasons[0] if reasons else 'the model did not run'}")
        consensus = analysis.consensus
        summary = f"consensus {consensus.label} ({consensus.positive_votes} of {consensus.voters} positive)" if consensus and consensus.voters else f"{len(analysis.opinions)} model opinion(s)"
        self._set_status(f"Analysed: {summary}.")
        self.host.statusBar().showMessage(f"Analysis done: {summary}", 8000)
        image = self.state.image
        run_in_background(lambda: ResultCache().pixels_match(image), lambda same: self._on_pixels_checked(image, same), self)

    def _on_pixels_checked(self, image, same: bool) -> None:
        """The study's pixels were hashed after the fact: results cached for other pixels are made again."""
        if not same and self.state.image is image:
            self.host.message_bar.show_message(
                "This study's pixels differ from those its cached results were made from: analysing it again.", "warning")
            self.analyze(fresh=True)

    def _on_failed(self, message: str) -> None:
        self._set_status(f"Analysis failed: {message}")
        self.host.message_bar.show_message(f"The analysis failed: {message}", "error")

    def _set_status(self, status: str) -> None:
        self.status = status
        source = self.state.source
        numbering = source.numbering if source is not None else SliceNumbering((1,), (), BY_POSITION)
        self.card.show_results(self.opinions, self.colours, numbering, self.analysis, status)

    def _refresh_views(self) -> None:
        opinions = self.opinions
        self.curves.show_opinions(opinions, self.colours)
        self._set_status(self.status)
        self.refresh_compare()

    # --- what is shown -------------------------------------------------------------------------

    def select_model(self, model_id: str) -> None:
        """Show this model's Grad-CAM (of the class picked for it); hide the other models' maps."""
        self.selected = model_id
        self.cam_layers.select(model_id)
        self.panel.select_model(model_id)

    def show_slice(self, index: int) -> None:
        """Move the viewer to array slice ``index`` (a click on the curves)."""
        if self.state.source is not None and self.state.source.is_ct:
            _, row, col = self.state.cursor
            self.state.set_cursor((index, row, col))

    def compare_panes_layers(self) -> dict[str, list]:
        return {
            o.model_id: compare_layers(self.layers, self.cam_keys, o.model_id,
                                       self.cam_layers.classes.get(o.model_id, finding_class(o)))
            for o in self.opinions
        }

    def refresh_compare(self) -> None:
        if self.host.compare_mode:
            self.compare.set_models(self.opinions, self.colours, self.compare_panes_layers())

    def _on_layer_event(self, event: LayerEvent) -> None:
        if self.host.compare_mode and self.compare.panes:
            self.compare.set_layers(self.compare_panes_layers())

    def _on_cursor(self) -> None:
        source = self.state.source
        if source is not None and source.is_ct:
            self.curves.set_current(self.state.cursor[0])

    def _on_skip_changed(self, skip: frozenset[str]) -> None:
        self.settings.skipped_models = skip

    # --- a new image ---------------------------------------------------------------------------

    def _on_image(self) -> None:
        """Everything shown belonged to the previous image: cancel, clear, and list the models for this one."""
        self.cancel()
        self._clear_results()
        self.catalogue = None
        source = self.state.source
        self.curves.reset(0 if source is None else (source.shape[0] if source.is_ct else 1),
                          None if source is None else source.numbering)
        self._on_cursor()
        if source is None:
            self.panel.clear("Open a study to see the models that can read it.")
            self._set_status("Not analysed yet: Models > Analyse (A).")
            return
        self._set_status("Not analysed yet: Models > Analyse (A), or tick Models > Analyse on open.")
        image = source.image
        modality = image.modality
        run_in_background(lambda: find_catalogue(modality), lambda catalogue: self._on_found(image, catalogue), self,
                          lambda message: self.panel.clear(f"Could not list the models: {message}"))

    def _on_found(self, image, catalogue: ModelCatalogue) -> None:
        if self.state.image is image and self.catalogue is None:
            self._on_catalogue(catalogue)

    def on_series_shown(self) -> None:
        """A series is on screen (not the quick look while loading): analyse it if the reader asked for that."""
        if self.settings.analyse_on_open or self.every_series:
            self.analyze()

    def analyse_every_series(self) -> None:
        """This session analyses every series of the study (``lunglens demo``, ``view --analyze``): the one
        shown now, each one shown later, and meanwhile, one after another in the background, the others,
        whose results wait in the cache, so showing one brings its opinions at once."""
        self.every_series = True
        shown = self.state.image
        self._warming = [image for _, image in sorted(self.host.images.items()) if image is not shown]
        if shown is not None and self.analysis is None and not self.running:
            self.analyze()
        if self.running:
            self.finished.connect(self._warm_next, Qt.ConnectionType.SingleShotConnection)
        else:
            self._warm_next()

    def _warm_next(self) -> None:
        if not self._warming:
            return
        thread = AnalysisThread(self._warming.pop(0), self.settings.skipped_models, parent=self)
        thread.finished.connect(lambda: (self._workers.discard(thread), thread.deleteLater(), self._warm_next()))
        self._workers.add(thread)
        thread.start()

    def _clear_results(self) -> None:
        self.cam_layers.clear()
        if self.mask_layer in self.layers:
            self.layers.remove(self.mask_layer)
        self.mask_layer, self.mask, self.analysis = None, None, None
        self.results.clear()
        self.curves.show_opinions([], {})
        self.compare.set_models((), {}, {})

    # --- export --------------------------------------------------------------------------------

    def default_export_folder(self) -> Path:
        folder = self.settings.export_folder
        if folder and Path(folder).is_dir():
            return Path(folder)
        documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        return Path(documents) if documents and Path(documents).is_dir() else Path.home()

    def export_report(self, path: str | Path) -> ReportFiles:
        """Report + view PNG + results JSON (see viewer.report); ExportError when it may not go there."""
        if self.analysis is None or self.state.image is None:
            raise ExportError("Analyse the study before exporting a report.")
        files = export_report(
            Path(path).expanduser(),
            self.state.image,
            self.analysis,
            self.opinions,
            {model_id: ready.cams for model_id, ready in self.results.items()},
            self.colours,
            self.host.views_picture(),
            self.host.study_path,
            self.host.measurement_records(),
        )
        self.settings.export_folder = str(files.report.parent)
        return files

    def ask_export(self) -> None:
        if self.analysis is None:
            self.host.message_bar.show_message("Analyse the study (A) before exporting a report.", "warning")
            return
        start = str(self.default_export_folder() / f"lunglens-report-{datetime.now():%Y%m%d-%H%M}.html")
        path, _ = QFileDialog.getSaveFileName(self.host.window(), "Export a report", start,
                                              "HTML report (*.html);;PDF report (*.pdf)")
        if not path:
            return
        try:
            files = self.export_report(path)
        except (ExportError, OSError) as exc:
            self.host.message_bar.show_message(str(exc), "error")
            return
        self.host.message_bar.show_message(
            f"Exported {files.report.name}, {files.view.name} and {files.results.name} to {files.report.parent}", "info")
