"""The small dialogs and bars around the views: the message bar, a dialog's status line, a details list,
the shortcuts help (where the keys can be changed)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QFrame, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget, QTableWidgetItem,
    QToolButton, QVBoxLayout, QWidget,
)

from viewer.logic.shortcuts import SHORTCUTS

_MESSAGE_COLOURS = {"info": ("#1d3a57", "#cfe3f7"), "warning": ("#4a3812", "#f5d9a0"), "error": ("#541c1c", "#f7c6c6")}
STATUS_COLOURS = {"info": "#8b949e", "ok": "#59a14f", "error": "#e15759"}


class StatusLine(QLabel):
    """A dialog's word-wrapped status line: grey while it works, green when done, red for an error."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)

    def say(self, text: str, level: str = "info") -> None:
        self.setStyleSheet(f"color: {STATUS_COLOURS[level]}")
        self.setText(text)


class MessageBar(QFrame):
    """A strip above the views for what the user must know (errors, warnings, skipped files)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setObjectName("messageBar")
        self.label.setWordWrap(True)
        self.details_button = QPushButton("Details\u2026")
        close = QToolButton()
        close.setText("\u2715")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.details_button)
        layout.addWidget(close)
        close.clicked.connect(self.hide)
        self.details_button.clicked.connect(self._show_details)
        self.details: list[tuple[str, str]] = []
        self.level = "info"
        self.hide()

    def show_message(self, text: str, level: str = "info", details: list[tuple[str, str]] | None = None) -> None:
        background, foreground = _MESSAGE_COLOURS[level]
        self.level = level
        self.setStyleSheet(f"MessageBar {{ background: {background}; }} QLabel {{ color: {foreground}; background: {background}; }}")
        self.label.setText(text)
        self.details = list(details or [])
        self.details_button.setVisible(bool(self.details))
        self.show()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def _show_details(self) -> None:
        DetailsDialog(self.label.text(), self.details, self).exec()


class DetailsDialog(QDialog):
    """A two-column list (file, reason) the user can read and copy."""

    def __init__(self, title: str, rows: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Details")
        self.resize(900, 420)
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(["File / item", "Reason"])
        for r, (what, why) in enumerate(rows):
            table.setItem(r, 0, QTableWidgetItem(what))
            table.setItem(r, 1, QTableWidgetItem(why))
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        table.resizeColumnToContents(0)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        heading = QLabel(title)
        heading.setWordWrap(True)
        layout.addWidget(heading)
        layout.addWidget(table)
        layout.addWidget(buttons)


class ShortcutsDialog(QDialog):
    """Help: every shortcut and mouse gesture, grouped; the keys of a shortcut can be edited here.

    ``keys`` are the current assignments (command -> keys); ``assignments()`` the edited ones. Keys are
    written as Qt names, several separated by " / " ("Ctrl+Z / Alt+Backspace"); an empty cell removes
    a command's keys. A key given to two commands, or a name Qt does not know, keeps the dialog open
    with the reason.
    """

    SEPARATOR = " / "

    def __init__(self, parent: QWidget | None = None, keys: dict[str, tuple[str, ...]] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("LungLens shortcuts")
        self.resize(680, 760)
        self.keys = {s.command: tuple(keys.get(s.command, s.keys)) if keys else s.keys for s in SHORTCUTS}
        mouse = [("Mouse", "Wheel", "Scroll slices"), ("Mouse", "Ctrl + wheel", "Zoom"),
                 ("Mouse", "Middle drag", "Pan"), ("Mouse", "Right drag", "Window (left/right) and level (up/down)"),
                 ("Mouse", "Left drag", "The active tool (W/L by default)"),
                 ("Mouse", "Double click", "Maximise a pane / back to the layout")]
        rows = [(s.group, self.SEPARATOR.join(self.keys[s.command]), s.text) for s in SHORTCUTS] + mouse
        table = QTableWidget(len(rows), 3)
        table.setHorizontalHeaderLabels(["Group", "Keys", "Action"])
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)
                editable = c == 1 and r < len(SHORTCUTS)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable if editable else item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                if editable:
                    item.setToolTip("Double-click or F2 to change; several keys separated by ' / '")
                table.setItem(r, c, item)
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(22)
        table.setEditTriggers(QTableWidget.EditTrigger.DoubleClicked | QTableWidget.EditTrigger.EditKeyPressed)
        table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        table.resizeColumnsToContents()
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #f7c6c6;")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
                                   | QDialogButtonBox.StandardButton.RestoreDefaults)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(self.restore_defaults)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.table = table

    def restore_defaults(self) -> None:
        for r, shortcut in enumerate(SHORTCUTS):
            self.table.item(r, 1).setText(self.SEPARATOR.join(shortcut.keys))

    def assignments(self) -> dict[str, tuple[str, ...]]:
        """command -> keys as edited, each key in Qt's portable spelling."""
        edited = {}
        for r, shortcut in enumerate(SHORTCUTS):
            parts = [k.strip() for k in self.table.item(r, 1).text().split(self.SEPARATOR.strip())]
            edited[shortcut.command] = tuple(QKeySequence(k).toString() or k for k in parts if k)
        return edited

    def check(self) -> str:
        """Why the edited keys cannot be used, or ""."""
        owner: dict[str, str] = {}
        texts = {s.command: s.text for s in SHORTCUTS}
        for command, keys in self.assignments().items():
            for key in keys:
                if QKeySequence(key).isEmpty() or QKeySequence(key).toString() != key:
                    return f"'{key}' ({texts[command]}) is not a key Qt knows"
                if key in owner:
                    return f"{key} is given to both '{texts[owner[key]]}' and '{texts[command]}'"
                owner[key] = command
        return ""

    def accept(self) -> None:
        problem = self.check()
        self.problem.setText(problem)
        if not problem:
            super().accept()
