"""The LungLens main window: the views and the panels around them, and what each command does.

Three parts live beside it: opening a study (``viewer.study_opening``: the loader, the loaded series,
progress and cancel), the commands offered as actions, menus, tool bars and keys
(``viewer.window_actions``, from the ``commands()`` here), and the models' opinions
(``viewer.opinions``), which see the window only through their host protocol (``OpinionsHost``).

Public API for other parts of the product (the model-opinions panels, scripts, tests)::

    window = MainWindow()
    window.open_path("/data/study")            # loads off the GUI thread; window.loading tells
    window.open_images([ct_volume])            # images already in memory
    window.layers.add(LabelLayer(...))         # overlays: see viewer.logic.layers
    window.state                               # image, window/level, cursor shared by the panes
    window.grid.active                         # the active SliceView
    window.apply_preset(1); window.set_layout("2x2"); window.save_screenshot("out.png")
    window.opinions.analyze(); window.opinions.wait_until_done()   # the models' opinions: viewer.opinions
    window.set_compare(True)                   # the slice once per model, side by side
    window.annotations.records()               # the reader's annotations (viewer.annotations)
    window.open_prior("/data/prior")           # prior/current side by side (viewer.prior_current)
    window.reading_mode.toggle()               # images only, full screen (viewer.reading_mode)
    window.actions_by_command["invert"]        # each command's QAction (viewer.window_actions)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QApplication, QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QStackedWidget, QVBoxLayout, QWidget,
)

from inference.study import CTVolume, Image, SkippedFile, XRayImage
from viewer.annotations.panel import AnnotationPanel
from viewer.annotations.session import AnnotationSession
from viewer.browser import StudyBrowser
from viewer.dialogs import MessageBar
from viewer.layer_panel import LayerPanel
from viewer.logic.hanging import HangingProtocols
from viewer.logic.layers import LayerList
from viewer.logic.mask_files import MaskFileError, read_mask_layer
from viewer.logic.presets import HEADER_PRESET, PRESET_KEYS, preset_problem
from viewer.opinions import Opinions
from viewer.prior_current import PriorCurrentView, patient_mismatch, prior_series
from viewer.reading_mode import ReadingMode
from viewer.settings import ViewerSettings
from viewer.slice_view import SliceView
from viewer.study_opening import StudyOpening
from viewer.study_results import StudyResults
from viewer.tag_browser import TagBrowser
from viewer.tasks import run_in_background
from viewer.view_grid import LAYOUTS, ViewGrid
from viewer.view_state import HoverInfo, ViewState
from viewer.window_actions import TOOLS_SHOWN, MenuParts, WindowActions
from viewer.worklist_dock import Worklist


class MainWindow(QMainWindow):
    loadingFinished = Signal()
    priorLoaded = Signal()  # a prior study is beside the current one, or could not be

    def __init__(self, settings: ViewerSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else ViewerSettings()
        self.setWindowTitle("LungLens")
        self.resize(1500, 950)
        self.setAcceptDrops(True)
        self.state = ViewState(parent=self)
        self.layers: LayerList = self.state.layers
        self.grid = ViewGrid(self.state)
        self.message_bar = MessageBar()
        self.opinions = Opinions(self, parent=self)
        self.compare = self.opinions.compare
        self._build_views()
        self._build_docks()
        self.reading_mode = ReadingMode(self, hidden_too=(self.message_bar,))
        self.opening = StudyOpening(self, self.state, self.browser, self.study_results, self.message_bar, self.settings,
                                    self.show_series)
        self.opening.finished.connect(self.loadingFinished)
        self._build_status_bar()
        self.cine_timer = QTimer(self)
        self.cine_timer.timeout.connect(self._cine_step)
        self._build_actions()
        self._connect()
        layout = self.settings.layout
        self.set_layout(layout if layout in LAYOUTS else "1x3")
        geometry, docks = self.settings.store.value("window/geometry"), self.settings.store.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if docks is not None:
            self.restoreState(docks)

    def _build_views(self) -> None:
        self.views = QStackedWidget()  # the layout grid, or compare mode's one pane per model
        self.views.addWidget(self.grid)
        self.views.addWidget(self.compare)
        self.prior_view = PriorCurrentView(self.state)
        self.views.addWidget(self.prior_view)
        self.annotations = AnnotationSession(self.state, parent=self)
        self.hanging = HangingProtocols(self.settings.store)
        central = QWidget()
        box = QVBoxLayout(central)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        box.addWidget(self.message_bar)
        box.addWidget(self.views, 1)
        self.setCentralWidget(central)

    def _build_docks(self) -> None:
        """The panels around the views, where they sit the first time (the window restores the reader's layout)."""
        self.browser = StudyBrowser()
        self.layer_panel = LayerPanel(self.layers)
        self.tag_browser = TagBrowser()
        self.browser_dock = self._dock("Studies", self.browser, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.worklist = Worklist(self)  # the study index in triage order (viewer.worklist_dock)
        self.worklist_dock = self._dock("Worklist", self.worklist.panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.tabifyDockWidget(self.browser_dock, self.worklist_dock)
        self.browser_dock.raise_()
        self.layer_dock = self._dock("Layers", self.layer_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tag_dock = self._dock("DICOM tags", self.tag_browser, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.layer_dock, self.tag_dock)
        self.layer_dock.raise_()
        self.tag_dock.hide()
        self.verdict_dock = self._dock("Verdict", self.opinions.card, Qt.DockWidgetArea.RightDockWidgetArea)
        self.splitDockWidget(self.verdict_dock, self.layer_dock, Qt.Orientation.Vertical)
        self.study_results = StudyResults(self)  # SEG/SR found in the study: layers and this panel
        self.results_dock = self._dock("DICOM results", self.study_results.panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.verdict_dock, self.results_dock)
        self.results_dock.hide()
        self.study_results.available.connect(self._on_results_available)
        self.annotation_dock = self._dock("Annotations", AnnotationPanel(self.annotations), Qt.DockWidgetArea.RightDockWidgetArea)
        self.model_dock = self._dock("Models", self.opinions.panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.curves_dock = self._dock(self.opinions.curves.windowTitle(), self.opinions.curves, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.opinions.curves.windowTitleChanged.connect(self.curves_dock.setWindowTitle)
        self.splitDockWidget(self.model_dock, self.curves_dock, Qt.Orientation.Horizontal)
        # The image keeps most of the screen; the reading panels get a strip below and a column beside it.
        self.resizeDocks([self.model_dock, self.curves_dock], [230, 230], Qt.Orientation.Vertical)
        self.resizeDocks([self.model_dock, self.curves_dock], [640, 760], Qt.Orientation.Horizontal)
        self.resizeDocks([self.verdict_dock, self.browser_dock], [380, 250], Qt.Orientation.Horizontal)
        self.resizeDocks([self.verdict_dock, self.layer_dock], [420, 300], Qt.Orientation.Vertical)
        for corner, area in ((Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea),
                             (Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)):
            self.setCorner(corner, area)  # the side columns run the full height; the plot strip sits between
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks
                            | QMainWindow.DockOption.AllowNestedDocks | QMainWindow.DockOption.GroupedDragging)
        self.tab_panels(Qt.DockWidgetArea.RightDockWidgetArea)  # each right panel gets the column's whole height
        self.verdict_dock.raise_()

    def _build_status_bar(self) -> None:
        self.hover_label = QLabel("")
        self.statusBar().addWidget(self.hover_label, 1)
        for widget in (self.opening.progress, self.opening.cancel_button, self.opinions.progress, self.opinions.cancel_button):
            self.statusBar().addPermanentWidget(widget)

    def _build_actions(self) -> None:
        """The commands as actions with their keys, in menus and tool bars (viewer.window_actions)."""
        parts = MenuParts(
            view_docks=(self.browser_dock, self.worklist_dock, self.layer_dock, self.annotation_dock, self.tag_dock,
                        self.results_dock),
            model_docks=(self.model_dock, self.curves_dock, self.verdict_dock),
            open_path=self.open_path, apply_preset=self.apply_preset, window_screenshot=self._ask_window_screenshot,
            cancel_analysis=self.opinions.cancel, about=self._show_about, cine_fps_changed=self._on_fps,
        )
        self.window_actions = WindowActions(self, self.views, self.settings, self.commands(), parts)
        self.actions_by_command = self.window_actions.by_command
        self.window_actions.keysChanged.connect(self._fit_presets)
        self.reading_mode.toggled.connect(self.actions_by_command["reading_mode"].setChecked)

    def _connect(self) -> None:
        self.grid.hovered.connect(self._on_hover)
        self.grid.activePaneChanged.connect(self._on_active_pane)
        self.compare.hovered.connect(self._on_hover)
        self.compare.activePaneChanged.connect(self._on_active_pane)
        self.prior_view.hovered.connect(self._on_hover)
        self.prior_view.activePaneChanged.connect(self._on_active_pane)
        self.state.imageChanged.connect(self._fit_presets)
        self._fit_presets()
        self.browser.seriesActivated.connect(self.show_series)
        self.state.cursorChanged.connect(self._update_tags)
        self.state.imageChanged.connect(self._update_tags)
        self.tag_dock.visibilityChanged.connect(lambda visible: visible and self._update_tags())
        for pane in self.grid.panes.values():
            pane.activated.connect(self._on_pane_clicked)

    # --- opening -------------------------------------------------------------------------------

    @property
    def loading(self) -> bool:
        """True from open_path until everything the loader sent has been shown (or it was cancelled)."""
        return self.opening.loading

    def open_path(self, path: str | Path) -> None:
        """Open a DICOM file or folder, an X-ray picture or a volume file; loads off the GUI thread."""
        self.opening.open_path(path)

    def open_images(self, images: list[Image], skipped: tuple[SkippedFile, ...] = ()) -> None:
        """Show images already in memory (tests, scripts, other tools), the first one at once."""
        self.opening.open_images(images, skipped)

    def wait_until_loaded(self, timeout_s: float = 600.0) -> bool:
        """Process events until loading ends (headless runs); False on timeout."""
        return self.opening.wait_until_loaded(timeout_s)

    @property
    def images(self) -> dict[int, Image]:
        """Every loaded series of the open study by key (the browser's order)."""
        return self.opening.images

    @property
    def skipped(self) -> tuple[SkippedFile, ...]:
        """Files of the open study that are not shown, each with the reason."""
        return self.opening.skipped

    @property
    def current_key(self) -> int | None:
        return self.opening.current_key

    @property
    def study_path(self) -> Path | None:
        """Where the open study was read from; None for images opened from memory."""
        return self.opening.study_path

    def show_series(self, key: int) -> None:
        image = self.opening.select(key)
        self.cine_timer.stop()
        self.state.set_image(image)
        self.set_layout(self.hanging.layout(image.modality.value), remember=False)
        self.browser.set_current(key)
        self.setWindowTitle(f"LungLens \u2014 {image.description or image.info.patient_name or 'series'}")
        if image.warnings:
            self.message_bar.show_message(
                f"This series has {len(image.warnings)} warning(s): {image.warnings[0]}"
                + (" \u2026" if len(image.warnings) > 1 else ""),
                "warning", [("series", w) for w in image.warnings],
            )
        elif self.message_bar.level == "warning" and not self.skipped:
            self.message_bar.hide()
        self.active_pane.graphics.setFocus()
        self.opinions.on_series_shown()

    @property
    def image(self) -> Image | None:
        return self.state.image

    @property
    def showing_preview(self) -> bool:
        """True while the quick look (one slice) stands in for a series that is still loading."""
        return self.opening.showing_preview

    @property
    def compare_mode(self) -> bool:
        return self.views.currentWidget() is self.compare

    @property
    def active_pane(self) -> SliceView:
        """The pane keys and tools act on: compare mode's or prior/current's active pane, else the layout's."""
        if self.compare_mode and self.compare.active is not None:
            return self.compare.active
        if self.views.currentWidget() is self.prior_view and self.prior_view.active is not None:
            return self.prior_view.active
        return self.grid.active

    def set_compare(self, on: bool) -> None:
        """Compare mode: the current slice once per model, side by side, linked (viewer.compare_view)."""
        if on:
            self.views.setCurrentWidget(self.compare)
            self.opinions.refresh_compare()
        else:
            self.views.setCurrentWidget(self.grid)
            self.compare.set_models((), {}, {})
        self.actions_by_command["compare"].setChecked(on)
        self.active_pane.graphics.setFocus()

    def set_prior_current(self, on: bool) -> None:
        """Prior/current side by side (viewer.prior_current); asks for the prior when there is none yet."""
        if on and self.prior_view.prior is None:
            self._ask_prior()
            return
        self.views.setCurrentWidget(self.prior_view if on else self.grid)
        self.actions_by_command["prior_current"].setChecked(on)
        self.actions_by_command["compare"].setChecked(False)
        self.active_pane.graphics.setFocus()

    def open_prior(self, path: str | Path) -> None:
        """Load a prior study of the patient (off the GUI thread) and show it beside the open series."""
        current = self.image
        if current is None:
            self.message_bar.show_message("Open the current study before comparing it with a prior.", "error")
            return
        from inference.loading import load_path

        self.statusBar().showMessage(f"Loading the prior study {Path(path).name}\u2026")
        run_in_background(lambda: load_path(str(path))[0], lambda images: self._on_prior(current, images), self,
                          lambda message: self._on_prior_failed(f"The prior study could not be opened: {message}"))

    def _on_prior(self, current: Image, images: list) -> None:
        if self.image is not current:
            return
        prior = prior_series(images, current)
        if prior is None:
            self._on_prior_failed("The prior study has no series of this modality to compare with.")
            return
        self.prior_view.set_prior(prior)
        self.set_prior_current(True)
        self.statusBar().showMessage("Prior and current scroll together (Ctrl+L: on/off, linking the slices shown)", 8000)
        if problem := patient_mismatch(prior, current):
            self.message_bar.show_message(f"Careful: {problem}.", "warning")
        self.priorLoaded.emit()

    def _on_prior_failed(self, message: str) -> None:
        self.message_bar.show_message(message, "error")
        self.priorLoaded.emit()

    def _ask_prior(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a prior study of this patient", self.settings.last_folder)
        if path:
            self.open_prior(path)

    def tab_panels(self, *areas: Qt.DockWidgetArea) -> None:
        """Every panel of each side (all sides by default) in one tab group: one panel at a time, full height."""
        wanted = areas or (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea,
                           Qt.DockWidgetArea.BottomDockWidgetArea)
        for area in wanted:
            docks = [d for d in self.findChildren(QDockWidget) if self.dockWidgetArea(d) == area and not d.isFloating()]
            for dock in docks[1:]:
                self.tabifyDockWidget(docks[0], dock)

    def focus_panel(self, step: int) -> None:
        """Move the keyboard focus to the next (step 1) or previous shown panel; the views count as one."""
        places = [self.views] + [d for d in self.findChildren(QDockWidget) if d.isVisible() and not d.visibleRegion().isEmpty()]
        focus = QApplication.focusWidget()
        here = next((i for i, w in enumerate(places) if focus is not None and (w is focus or w.isAncestorOf(focus))), 0)
        target = places[(here + step) % len(places)]
        if target is self.views:
            self.active_pane.graphics.setFocus()
            return
        focusable = [w for w in target.widget().findChildren(QWidget)
                     if w.focusPolicy() & Qt.FocusPolicy.TabFocus and w.isVisible() and w.isEnabled()]
        (focusable[0] if focusable else target.widget()).setFocus(Qt.FocusReason.TabFocusReason)

    # --- drag and drop -------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.open_path(paths[0])
            event.acceptProposedAction()

    # --- commands ------------------------------------------------------------------------------

    def set_layout(self, name: str, remember: bool = True) -> None:
        """Lay the panes out; ``remember``: as the open modality's hanging protocol (viewer.logic.hanging)."""
        if self.views.currentWidget() is not self.grid:
            self.set_compare(False)
        self.grid.set_layout(name)
        self.settings.layout = name
        if remember and self.image is not None:
            self.hanging.remember(self.image.modality.value, name)
        action = self.actions_by_command.get(f"layout_{name}")
        if action is not None:
            action.setChecked(True)

    def apply_preset(self, key: int) -> None:
        """Window presets: 0 the series' header window, 1-4 CT (from settings), 5 the data's full range."""
        source = self.state.source
        if source is None:
            return
        if problem := preset_problem(key, source.is_ct, source.header_window is not None):
            self.statusBar().showMessage(problem, 5000)
        elif key == HEADER_PRESET:
            self.state.set_window(source.header_window)
        elif key == 5:
            self.state.set_window(source.full_range)
        else:
            self.state.set_window(self.settings.preset(key)[1])

    def _fit_presets(self) -> None:
        """Presets that do not fit the open image are off, with the reason in their tooltip."""
        source = self.state.source
        for key in PRESET_KEYS:
            action = self.actions_by_command[f"preset_{key}"]
            problem = preset_problem(key, source.is_ct, source.header_window is not None) if source is not None else ""
            action.setEnabled(source is not None and not problem)
            action.setToolTip(problem or self.window_actions.tooltip(f"preset_{key}"))

    def save_preset(self, key: int) -> None:
        self.settings.save_preset(key, self.state.window)
        name = self.settings.preset(key)[0]
        self.statusBar().showMessage(f"Preset {key} ({name}) is now W {self.state.window.width:.0f} L {self.state.window.level:.0f}", 5000)

    def reset_view(self) -> None:
        source = self.state.source
        if source is None:
            return
        self.state.set_window(source.default_window)
        self.state.set_invert(source.default_invert)
        for pane in (*self.grid.visible_panes(), *self.compare.visible_panes()):
            pane.fit()

    def set_tool(self, tool: str) -> None:
        for pane in (*self.grid.panes.values(), *self.compare.panes.values()):
            pane.set_tool(tool)
        action = self.actions_by_command.get(f"tool_{tool}")
        if action is not None:
            action.setChecked(True)

    def toggle_cine(self) -> None:
        if self.cine_timer.isActive():
            self.cine_timer.stop()
        elif self.state.source is not None and self.active_pane.slice_count > 1:
            self.cine_timer.start(int(1000 / self.window_actions.fps.value()))
        self.actions_by_command["cine"].setChecked(self.cine_timer.isActive())

    def _cine_step(self) -> None:
        pane = self.active_pane
        if pane.reading_position() >= pane.slice_count:
            pane.go_to_end(last=False)
        else:
            pane.scroll(1)

    def save_screenshot(self, path: str | Path, whole_window: bool = False) -> Path:
        """Write the views (or the whole window) as PNG; returns the path written."""
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        path.parent.mkdir(parents=True, exist_ok=True)
        picture = self.grab().toImage() if whole_window else self.views_picture()
        if not picture.save(str(path), "PNG"):
            raise OSError(f"could not write {path}")
        return path

    def measurement_records(self) -> list:
        """Every annotation of the open series as ``inference.measurements.Measurement`` (report, JSON, SR)."""
        return self.annotations.records()

    def views_picture(self) -> QImage:
        """The views as on screen (the layout grid, or the compare panes)."""
        return self.views.currentWidget().grab().toImage()

    def load_mask_file(self, path: str | Path) -> bool:
        """Add a mask or heatmap file as a layer on the open image; a clear message when it does not fit."""
        image = self.image
        if image is None or self.showing_preview:
            self.message_bar.show_message("Open a series before loading a mask onto it.", "error")
            return False
        try:
            layer, notes = read_mask_layer(path, image, self.layers.unique_name(Path(path).name.split(".")[0]))
        except MaskFileError as exc:
            self.message_bar.show_message(str(exc), "error")
            return False
        self.layers.add(layer)
        self.layer_dock.show()
        if notes:
            self.message_bar.show_message(" ".join(notes), "warning")
        return True

    def _ask_open(self, folder: bool) -> None:
        start = self.settings.last_folder
        if folder:
            path = QFileDialog.getExistingDirectory(self, "Open a DICOM folder", start)
        else:
            path, _ = QFileDialog.getOpenFileName(
                self, "Open an image", start,
                "Images (*.dcm *.DCM *.IMA *.png *.jpg *.jpeg *.nii *.nii.gz *.mha *.mhd *.nrrd);;All files (*)",
            )
        if path:
            self.open_path(path)

    def _ask_mask(self) -> None:
        image = self.image
        if image is None:
            self.message_bar.show_message("Open a series before loading a mask onto it.", "error")
            return
        pattern = ("Volumes (*.nii *.nii.gz *.mha *.mhd *.nrrd);;All files (*)" if isinstance(image, CTVolume)
                   else "Pictures (*.png *.jpg *.jpeg *.tif *.tiff);;All files (*)")
        path, _ = QFileDialog.getOpenFileName(self, "Load a mask or heatmap", self.settings.last_folder, pattern)
        if path:
            self.load_mask_file(path)

    def _ask_screenshot(self) -> None:
        start = str(Path(self.settings.last_folder or Path.home()) / "lunglens-view.png")
        path, _ = QFileDialog.getSaveFileName(self, "Save a screenshot", start, "PNG (*.png)")
        if path:
            written = self.save_screenshot(path)
            self.statusBar().showMessage(f"Saved {written}", 5000)

    def _update_tags(self) -> None:
        if not self.tag_dock.isVisible():
            return
        image = self.image
        if isinstance(image, CTVolume) and image.source_files:
            files = image.source_files
            z = self.state.cursor[0] if len(files) == image.shape[0] else 0
            self.tag_browser.show_file(files[z])
        elif isinstance(image, XRayImage) and image.source_file:
            self.tag_browser.show_file(image.source_file)
        else:
            self.tag_browser.show_file(None)

    def _on_hover(self, info: HoverInfo | None) -> None:
        self.hover_label.setText(info.text() if info is not None else "")

    def _on_active_pane(self, pane: SliceView) -> None:
        if self.cine_timer.isActive():
            self.cine_timer.stop()
            self.actions_by_command["cine"].setChecked(False)

    def _on_pane_clicked(self, pane: SliceView) -> None:
        pane.graphics.setFocus()

    def _show_about(self) -> None:
        QMessageBox.about(
            self, "About LungLens",
            "<b>LungLens</b> \u2014 chest CT and X-ray viewer with AI opinions.<br><br>"
            "<b>Research use only, not a medical device.</b> Do not use for diagnosis.",
        )

    # --- actions, menus, toolbar ---------------------------------------------------------------

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.replace(" ", "_"))
        dock.setWidget(widget)
        dock.setMinimumWidth(290)
        self.addDockWidget(area, dock)
        return dock

    def commands(self) -> dict[str, Callable[[], object]]:
        """What each command of the shortcut table does, by name (viewer.window_actions offers them)."""
        active = lambda: self.active_pane  # noqa: E731 - the pane changes, so look it up at trigger time
        commands = {
            "open": lambda: self._ask_open(folder=False),
            "open_folder": lambda: self._ask_open(folder=True),
            "load_mask": self._ask_mask,
            "screenshot": self._ask_screenshot,
            "quit": self.close,
            "next_slice": lambda: active().scroll(1),
            "previous_slice": lambda: active().scroll(-1),
            "page_down": lambda: active().scroll(10),
            "page_up": lambda: active().scroll(-10),
            "first_slice": lambda: active().go_to_end(last=False),
            "last_slice": lambda: active().go_to_end(last=True),
            "next_pane": lambda: self.grid.cycle_active(1),
            "previous_pane": lambda: self.grid.cycle_active(-1),
            "cine": self.toggle_cine,
            "zoom_in": lambda: active().zoom(1.25),
            "zoom_out": lambda: active().zoom(0.8),
            "fit": lambda: active().fit(),
            "reset": self.reset_view,
            "invert": lambda: self.state.set_invert(not self.state.invert),
            "crosshair_lines": self._toggle_crosshair_lines,
            "delete_measurement": self.annotations.delete_selected,
            "clear_measurements": self.state.annotations.clear,
            "undo": self.state.annotations.undo,
            "redo": self.state.annotations.redo,
            "reading_mode": self.reading_mode.toggle,
            "tab_panels": self.tab_panels,
            "next_panel": lambda: self.focus_panel(1),
            "previous_panel": lambda: self.focus_panel(-1),
            "prior_current": lambda: self.set_prior_current(self.views.currentWidget() is not self.prior_view),
            "link_prior": lambda: self.prior_view.set_linked(self.actions_by_command["link_prior"].isChecked()),
            "tags": self._toggle_tags,
            "help": lambda: self.window_actions.edit_shortcuts(),
            "default_tool": lambda: self.reading_mode.leave() if self.reading_mode.active else self.set_tool("wl"),
            "analyze": self.opinions.analyze,
            "compare": lambda: self.set_compare(not self.compare_mode),
            "export_report": self.opinions.ask_export,
            "next_study": lambda: self.worklist.step(1),
            "previous_study": lambda: self.worklist.step(-1),
            "export_dicom": self.show_dicom_export,
            "pacs": self.show_pacs,
        }
        for name in LAYOUTS:
            commands[f"layout_{name}"] = lambda n=name: self.set_layout(n)
        for key in PRESET_KEYS:
            commands[f"preset_{key}"] = lambda k=key: self.apply_preset(k)
        for key in range(1, 5):
            commands[f"save_preset_{key}"] = lambda k=key: self.save_preset(k)
        for tool in TOOLS_SHOWN:
            commands[f"tool_{tool}"] = lambda t=tool: self.set_tool(t)
        return commands

    def _toggle_tags(self) -> None:
        if self.tag_dock.isVisible() and not self.tag_dock.visibleRegion().isEmpty():
            self.tag_dock.hide()
        else:
            self.tag_dock.show()
            self.tag_dock.raise_()

    def _toggle_crosshair_lines(self) -> None:
        visible = self.actions_by_command["crosshair_lines"].isChecked()
        for pane in self.grid.panes.values():
            pane.set_crosshair_visible(visible)

    def _on_results_available(self, found: bool) -> None:
        self.results_dock.setVisible(found)
        if found:
            self.results_dock.raise_()

    # The PACS and DICOM modules (pynetdicom, highdicom) load when first asked for, not at start-up.
    def show_pacs(self):
        """The PACS dialog (viewer.pacs_dialog): find, retrieve and open a study."""
        from viewer.pacs_dialog import PacsDialog

        dialog = PacsDialog(self)
        dialog.open()
        return dialog

    def show_dicom_export(self):
        """Export the analysis as DICOM, optionally to a PACS (viewer.dicom_export)."""
        if self.opinions.analysis is None:
            self.message_bar.show_message("Analyse the study (A) before exporting its DICOM results.", "warning")
            return None
        from viewer.dicom_export import DicomExportDialog

        dialog = DicomExportDialog(self)
        dialog.open()
        return dialog

    def _on_fps(self, value: int) -> None:
        self.settings.store.setValue("cine_fps", value)
        if self.cine_timer.isActive():
            self.cine_timer.setInterval(int(1000 / value))

    def _ask_window_screenshot(self) -> None:
        start = str(Path(self.settings.last_folder or Path.home()) / "lunglens-window.png")
        path, _ = QFileDialog.getSaveFileName(self, "Save a screenshot of the window", start, "PNG (*.png)")
        if path:
            self.statusBar().showMessage(f"Saved {self.save_screenshot(path, whole_window=True)}", 5000)

    def closeEvent(self, event) -> None:
        self.opening.cancel(wait=True)
        self.opinions.shutdown()
        self.worklist.shutdown()
        self.cine_timer.stop()
        self.settings.store.setValue("window/geometry", self.saveGeometry())
        self.settings.store.setValue("window/state", self.saveState())
        self.settings.sync()
        super().closeEvent(event)

