"""The annotations panel: every annotation of the open series with what it measures, where it lies,
and undo, redo, delete and clear. Selecting a row shows its slice and selects it on the image."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout,
    QWidget,
)

from viewer.annotations.session import AnnotationSession
from viewer.logic.annotations.model import AnnotationEvent

COLUMNS = ("Where", "Annotation")


class AnnotationPanel(QWidget):
    def __init__(self, session: AnnotationSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("The annotations of this series; select one to show its slice")
        self.empty = QLabel("No annotations on this series. Tools: D length, G angle, E ellipse, B rectangle, "
                            "L freehand, Shift+A arrow, Shift+T text, Shift+P point probe.")
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #8b949e;")
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for name, text, tip in (("undo", "&Undo", "Undo the last annotation change (Ctrl+Z)"),
                                ("redo", "&Redo", "Redo what was undone (Ctrl+Y)"),
                                ("delete", "&Delete", "Delete the selected annotation (Del)"),
                                ("clear", "Clear a&ll", "Delete every annotation of this series (Ctrl+Del)")):
            button = QPushButton(text)
            button.setToolTip(tip)
            self.buttons[name] = button
            row.addWidget(button)
        row.addStretch(1)
        box = QVBoxLayout(self)
        box.setContentsMargins(4, 4, 4, 4)
        box.addWidget(self.empty)
        box.addWidget(self.table, 1)
        box.addLayout(row)
        annotations = session.annotations
        self.buttons["undo"].clicked.connect(annotations.undo)
        self.buttons["redo"].clicked.connect(annotations.redo)
        self.buttons["delete"].clicked.connect(session.delete_selected)
        self.buttons["clear"].clicked.connect(annotations.clear)
        self.table.itemSelectionChanged.connect(self._on_row)
        session.changed.connect(self.refresh)
        self._disconnect = annotations.connect(self._on_event)
        self.destroyed.connect(lambda *_: self._disconnect())
        self._filling = False
        self.refresh()

    def refresh(self) -> None:
        session = self.session
        annotations = list(session.annotations)
        numbering = session.state.source.numbering if session.state.source is not None else None
        self._filling = True
        try:
            self.table.setRowCount(len(annotations))
            for row, annotation in enumerate(annotations):
                record = session.record(annotation)
                where = QTableWidgetItem(record.where(numbering) if numbering else "")
                where.setData(Qt.ItemDataRole.UserRole, annotation.uid)
                self.table.setItem(row, 0, where)
                self.table.setItem(row, 1, QTableWidgetItem(record.text()))
            self._select_row(session.annotations.selected)
        finally:
            self._filling = False
        self.empty.setVisible(not annotations)
        self.buttons["undo"].setEnabled(session.annotations.can_undo)
        self.buttons["redo"].setEnabled(session.annotations.can_redo)
        self.buttons["delete"].setEnabled(session.annotations.selected is not None)
        self.buttons["clear"].setEnabled(bool(annotations))

    def _on_event(self, event: AnnotationEvent) -> None:
        if event.kind == "selected":
            self._filling = True
            try:
                self._select_row(self.session.annotations.selected)
            finally:
                self._filling = False
            self.buttons["delete"].setEnabled(self.session.annotations.selected is not None)
        elif event.kind == "reset":
            self.refresh()

    def _select_row(self, uid: int | None) -> None:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(Qt.ItemDataRole.UserRole) == uid:
                self.table.selectRow(row)
                return
        self.table.clearSelection()

    def _on_row(self) -> None:
        if self._filling:
            return
        items = self.table.selectedItems()
        if not items:
            return
        uid = self.table.item(items[0].row(), 0).data(Qt.ItemDataRole.UserRole)
        annotation = self.session.annotations.get(uid)
        if annotation is not None:
            self.session.go_to(annotation)
