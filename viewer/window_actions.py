"""The main window's commands as actions, and the menus, tool bars and shortcuts dialog that offer them.

The window carries out each command of the shortcut table (``viewer.logic.shortcuts``) and hands them
here by name (``MainWindow.commands``); this module decides how they are offered: each command's keys
(the table's, or the reader's own from the settings), which are checkable and which exclusive, which
keys act only while a view has the focus, each tooltip with its keys, the menu bar and the two tool
bars. A new command is a line in the table, a function in the window's commands and its place below.
Actions belong to the window, not to its menus, so every key works in reading mode too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QSpinBox, QWidget

from viewer.annotations.overlay import ANNOTATION_TOOLS
from viewer.dialogs import ShortcutsDialog
from viewer.logic.presets import PRESET_KEYS
from viewer.logic.shortcuts import SHORTCUTS, Shortcut
from viewer.settings import ViewerSettings
from viewer.view_grid import LAYOUTS

# Keys that lists and trees use themselves: they act on the views only while a view has the focus.
VIEW_ONLY_KEYS = {"next_slice", "previous_slice", "page_down", "page_up", "first_slice", "last_slice",
                  "next_pane", "previous_pane", "delete_measurement"}
CHECKABLE = {"cine", "crosshair_lines", "compare", "prior_current", "reading_mode", "link_prior"}
CHECKED_AT_START = ("tool_wl", "link_prior", "crosshair_lines")
TOOLS_SHOWN = ("wl", "pan", "zoom", "crosshair", *ANNOTATION_TOOLS)
TOOL_LABELS = {"wl": "W/L", "pan": "Pan", "zoom": "Zoom", "crosshair": "Crosshair", "length": "Length", "angle": "Angle",
               "ellipse": "Ellipse", "rectangle": "Rectangle", "freehand": "Freehand", "arrow": "Arrow", "text": "Text",
               "point": "Probe"}
PRESET_LABELS = ("Header", "Lung", "Mediast.", "Bone", "Soft t.", "Full")


@dataclass(frozen=True)
class MenuParts:
    """What the menus show besides the table's commands, from the window."""

    view_docks: tuple[QDockWidget, ...]  # shown or hidden from the View menu
    model_docks: tuple[QDockWidget, ...]  # from the Models menu
    open_path: Callable[[str], None]  # a recent study
    apply_preset: Callable[[int], None]
    window_screenshot: Callable[[], None]
    cancel_analysis: Callable[[], None]
    about: Callable[[], None]
    cine_fps_changed: Callable[[int], None]


class WindowActions(QObject):
    """One QAction per command of the shortcut table (``by_command``), then the menus and tool bars
    (``recent_menu``, ``analyse_on_open``, the cine speed ``fps``)."""

    keysChanged = Signal()  # the reader gave commands other keys (tooltips that say more follow it)

    def __init__(self, window: QMainWindow, views: QWidget, settings: ViewerSettings,
                 commands: Mapping[str, Callable[[], object]], parts: MenuParts) -> None:
        super().__init__(window)
        self.window, self.settings, self.parts = window, settings, parts
        self.by_command: dict[str, QAction] = {}
        tools, layouts = QActionGroup(window), QActionGroup(window)
        for item in SHORTCUTS:
            action = self._action(item, commands[item.command], views)
            if item.command.startswith(("tool_", "layout_")) or item.command in CHECKABLE:
                action.setCheckable(True)
                group = tools if item.command.startswith("tool_") else layouts if item.command.startswith("layout_") else window
                group.addAction(action)
            self.by_command[item.command] = action
            action.setToolTip(self.tooltip(item.command))
        for command in CHECKED_AT_START:
            self.by_command[command].setChecked(True)
        self._build_menus()

    def _action(self, item: Shortcut, command: Callable[[], object], views: QWidget) -> QAction:
        action = QAction(item.text, self.window)
        action.setShortcuts([QKeySequence(k) for k in self.settings.shortcut_keys(item.command, item.keys)])
        action.triggered.connect(lambda _checked=False: command())
        if item.command in VIEW_ONLY_KEYS:
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            views.addAction(action)
        else:
            self.window.addAction(action)
        return action

    def tooltip(self, command: str) -> str:
        """An action's text with its keys, as every button and menu item shows it on hover."""
        action = self.by_command[command]
        keys = " / ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts())
        return f"{action.text()} ({keys})" if keys else action.text()

    def edit_shortcuts(self) -> ShortcutsDialog:
        """The shortcuts help; keys changed there apply at once and are kept in the settings."""
        current = {c: tuple(k.toString() for k in a.shortcuts()) for c, a in self.by_command.items()}
        dialog = ShortcutsDialog(self.window, current)
        dialog.accepted.connect(lambda: self.set_shortcut_keys(dialog.assignments()))
        dialog.open()
        return dialog

    def set_shortcut_keys(self, keys: dict[str, tuple[str, ...]]) -> None:
        for item in SHORTCUTS:
            wanted = tuple(keys.get(item.command, item.keys))
            action = self.by_command[item.command]
            action.setShortcuts([QKeySequence(k) for k in wanted])
            action.setToolTip(self.tooltip(item.command))
            self.settings.save_shortcut_keys(item.command, wanted, item.keys)
        self.keysChanged.emit()

    # --- menus and tool bars -------------------------------------------------------------------

    def _build_menus(self) -> None:
        """The menu bar, then the tool bars: two rows (one would widen the window past a laptop's screen)."""
        self._file_menu()
        self._view_menu()
        self._tools_and_models_menus()
        help_menu = self.window.menuBar().addMenu("&Help")
        help_menu.addAction(self.by_command["help"])
        help_menu.addAction("About LungLens").triggered.connect(self.parts.about)
        self._tool_bar()
        self.window.addToolBarBreak()
        self._annotate_bar()

    def _file_menu(self) -> None:
        a = self.by_command
        file_menu = self.window.menuBar().addMenu("&File")
        file_menu.addActions([a["open"], a["open_folder"], a["pacs"], a["prior_current"]])
        self.recent_menu = file_menu.addMenu("Recent studies")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addSeparator()
        file_menu.addAction(a["load_mask"])
        file_menu.addAction(a["screenshot"])
        file_menu.addAction("Save a screenshot of the whole window\u2026").triggered.connect(self.parts.window_screenshot)
        file_menu.addSeparator()
        file_menu.addAction(a["quit"])

    def _view_menu(self) -> None:
        a = self.by_command
        view_menu = self.window.menuBar().addMenu("&View")
        view_menu.addActions([a[f"layout_{name}"] for name in LAYOUTS])
        view_menu.addActions([a["reading_mode"], a["prior_current"], a["link_prior"]])
        view_menu.addSeparator()
        view_menu.addActions([a["zoom_in"], a["zoom_out"], a["fit"], a["reset"], a["invert"], a["crosshair_lines"], a["cine"]])
        view_menu.addSeparator()
        navigate = view_menu.addMenu("Navigate")
        navigate.addActions([a[c] for c in ("next_slice", "previous_slice", "page_down", "page_up", "first_slice",
                                            "last_slice", "next_pane", "previous_pane")])
        presets = view_menu.addMenu("Window presets")
        presets.aboutToShow.connect(lambda: self._fill_presets(presets))
        view_menu.addSeparator()
        view_menu.addActions([dock.toggleViewAction() for dock in self.parts.view_docks])
        view_menu.addActions([a["tab_panels"], a["next_panel"], a["previous_panel"]])

    def _tools_and_models_menus(self) -> None:
        a = self.by_command
        tools_menu = self.window.menuBar().addMenu("&Tools")
        tools_menu.addActions([a[f"tool_{t}"] for t in TOOLS_SHOWN])
        tools_menu.addSeparator()
        tools_menu.addActions([a["undo"], a["redo"], a["delete_measurement"], a["clear_measurements"], a["tags"]])

        models_menu = self.window.menuBar().addMenu("&Models")
        models_menu.addAction(a["analyze"])
        models_menu.addAction("Cancel the analysis").triggered.connect(self.parts.cancel_analysis)
        self.analyse_on_open = models_menu.addAction("Analyse on open")
        self.analyse_on_open.setCheckable(True)
        self.analyse_on_open.setChecked(self.settings.analyse_on_open)
        self.analyse_on_open.setToolTip("Run the ticked models as soon as a series is shown")
        self.analyse_on_open.toggled.connect(self._set_analyse_on_open)
        models_menu.addSeparator()
        models_menu.addActions([a["compare"], a["export_report"], a["export_dicom"]])
        models_menu.addSeparator()
        models_menu.addActions([dock.toggleViewAction() for dock in self.parts.model_docks])

    def _set_analyse_on_open(self, on: bool) -> None:
        self.settings.analyse_on_open = on

    def _tool_bar(self) -> None:
        bar = self.window.addToolBar("Tools")
        bar.setObjectName("tools")
        bar.setIconSize(QSize(16, 16))
        self._add(bar, [("open", "Open"), ("pacs", "PACS")])
        self._add(bar, [(f"tool_{tool}", TOOL_LABELS[tool]) for tool in ("wl", "pan", "zoom", "crosshair")])
        self._add(bar, [(f"layout_{name}", name) for name in LAYOUTS])
        self._add(bar, [*((f"preset_{key}", label) for key, label in zip(PRESET_KEYS, PRESET_LABELS)), ("invert", "Invert")])
        self._add(bar, [("cine", "Cine")])
        self._add(bar, [("analyze", "Analyse"), ("compare", "Compare"), ("export_report", "Export")], separator=False)
        self.fps = QSpinBox()
        self.fps.setRange(1, 60)
        self.fps.setValue(int(self.settings.store.value("cine_fps", 10)))
        self.fps.setSuffix(" fps")
        self.fps.setToolTip("Cine speed")
        self.fps.valueChanged.connect(self.parts.cine_fps_changed)
        bar.addWidget(self.fps)
        self._add(bar, [("reading_mode", "Reading"), ("help", "?")], separator=False)

    def _annotate_bar(self) -> None:
        annotate = self.window.addToolBar("Annotate")
        annotate.setObjectName("annotate")
        self._add(annotate, [(f"tool_{tool}", TOOL_LABELS[tool]) for tool in ANNOTATION_TOOLS])
        self._add(annotate, [("undo", "Undo"), ("redo", "Redo")], separator=False)

    def _add(self, bar, commands: list[tuple[str, str]], separator: bool = True) -> None:
        """The commands on ``bar`` with their short labels, then a separator."""
        for command, label in commands:
            bar.addAction(self.by_command[command])
            self.by_command[command].setIconText(label)
        if separator:
            bar.addSeparator()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.parts.open_path(p))
        if self.settings.recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear the list").triggered.connect(self.settings.clear_recent)
        else:
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    def _fill_presets(self, menu: QMenu) -> None:
        menu.clear()
        menu.addAction(self.by_command["preset_0"])
        for key in range(1, 5):
            name, window = self.settings.preset(key)
            action = menu.addAction(f"{key}  {name}  W {window.width:.0f} L {window.level:.0f}")
            action.triggered.connect(lambda _=False, k=key: self.parts.apply_preset(k))
            action.setEnabled(self.by_command[f"preset_{key}"].isEnabled())
        menu.addAction("5  Full range of the data").triggered.connect(lambda: self.parts.apply_preset(5))
        menu.addSeparator()
        menu.addAction("Restore the default presets").triggered.connect(self.settings.reset_presets)
