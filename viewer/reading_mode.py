"""Reading mode (F11): the images and their overlays fill the screen; everything else steps aside.

Panels, tool bar, menu bar, status bar and message bar are hidden and the window goes full screen; the
corner texts, orientation letters, scale bar, masks, Grad-CAMs and annotations stay, as do every
keyboard shortcut (actions belong to the window, not to its menus). F11 or Esc brings the window back
exactly as it was (dock layout, full-screen or not).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QToolBar, QWidget

HINT_MS = 2500


class ReadingMode(QObject):
    toggled = Signal(bool)

    def __init__(self, window: QMainWindow, hidden_too: tuple[QWidget, ...] = ()) -> None:
        super().__init__(window)
        self.window = window
        self.hidden_too = hidden_too  # e.g. the message bar above the views
        self.active = False
        self._state = None
        self._was_full_screen = False
        self._was_visible: list[QWidget] = []
        self.hint = QLabel("Reading mode \u2014 F11 or Esc to leave", window)
        self.hint.setStyleSheet("background: rgba(0, 0, 0, 190); color: #e6e6e6; padding: 6px 12px; border-radius: 4px;")
        self.hint.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hint.hide()

    def toggle(self) -> None:
        self.leave() if self.active else self.enter()

    def enter(self) -> None:
        if self.active:
            return
        window = self.window
        self._state = window.saveState()
        self._was_full_screen = window.isFullScreen()
        chrome = [*window.findChildren(QDockWidget), *window.findChildren(QToolBar), window.menuBar(), window.statusBar(),
                  *self.hidden_too]
        self._was_visible = [w for w in chrome if w.isVisible()]
        for widget in self._was_visible:
            widget.hide()
        window.showFullScreen()
        self.active = True
        self.hint.adjustSize()
        self.hint.move((window.width() - self.hint.width()) // 2, 12)
        self.hint.show()
        self.hint.raise_()
        QTimer.singleShot(HINT_MS, self.hint.hide)
        self.toggled.emit(True)

    def leave(self) -> None:
        if not self.active:
            return
        window = self.window
        self.active = False
        self.hint.hide()
        if self._state is not None:
            window.restoreState(self._state)  # docks and tool bars as they were, tabs included
        for widget in self._was_visible:
            if not isinstance(widget, (QDockWidget, QToolBar)):
                widget.show()
        if not self._was_full_screen:
            window.showNormal()
        self.toggled.emit(False)
