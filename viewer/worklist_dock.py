"""The worklist: the study index as a sortable, filterable table, read in triage order.

One row per study the index knows (patient, date, modality, the models' consensus, the highest
model probability, status); it starts sorted by triage rank (``inference.worklist.ranking``). A
study analysed in the viewer joins the list too.
Double-clicking a row opens the study and shows its opinions from the result cache at once; N and
Shift+N step to the next or previous study of the table as sorted and filtered. "Analyse a folder"
runs ``lunglens batch --resume``'s work in the background (worker processes, not the GUI thread)
with a progress bar, and the table follows as results land.

Reading never creates the index; the first batch or analysis does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QProgressBar, QPushButton,
    QTableView, QVBoxLayout, QWidget,
)

from inference.batch.analyst import BatchSettings, installed_models_keys, models_key
from inference.batch.engines import LocalEngine, default_workers
from inference.batch.run import BatchSummary, plan_batch, run_batch
from inference.identifiers import formatted_date
from inference.registry import discover_models
from inference.study import Modality
from inference.worklist.entries import image_entry, record_analysis
from inference.worklist.index import Status, StudyIndex, WorklistRow, index_path
from inference.worklist.ranking import ranked
from viewer.tasks import Worker, run_in_background

if TYPE_CHECKING:
    from viewer.main_window import MainWindow

COLUMNS = ("#", "Patient", "Date", "Modality", "Consensus", "Highest p", "Status")
RANK, PATIENT, DATE, MODALITY, CONSENSUS, PROBABILITY, STATUS = range(len(COLUMNS))
HEADER_TIPS = {
    RANK: "Triage rank: most positive votes first, then the highest model probability",
    PROBABILITY: "Highest model probability: the most confident model's probability of its finding",
}
PATIENT_WIDTH = 150
SORT_ROLE = Qt.ItemDataRole.UserRole
ALL_STATUSES = "All statuses"
_POSITIVE, _NEGATIVE, _MUTED = QColor("#ff8c80"), QColor("#8fd19e"), QColor("#7d8590")
REFRESH_WHILE_RUNNING_MS = 2000


def patient_text(row: WorklistRow) -> str:
    """'Doe Jane (P1)'; a radiograph file without identifiers shows its file name."""
    entry = row.entry
    name = entry.patient_name.replace("^", " ").strip()
    if name and entry.patient_id:
        return f"{name} ({entry.patient_id})"
    return name or entry.patient_id or Path(entry.path).name


def consensus_text(row: WorklistRow) -> str:
    if row.consensus is None:
        return ""
    return f"{row.consensus} ({row.positive_votes} of {row.voters})" if row.voters else row.consensus


def _tooltip(row: WorklistRow) -> str:
    lines = [row.entry.path]
    if row.reason:
        lines.append(row.reason)
    if row.status == Status.OUTDATED:
        lines.append("analysed by other models than the installed ones: analyse it again to update")
    for v in row.verdicts:
        probability = "" if v.probability is None else f" {v.probability:.2f} {v.finding}"
        lines.append(f"{v.model_id}: {v.label or 'no verdict'}{probability}")
    return "\n".join(lines)


@dataclass(frozen=True)
class WorklistSnapshot:
    """The index as read off the GUI thread: rows in triage order."""

    rows: tuple[WorklistRow, ...]


def read_worklist() -> WorklistSnapshot:
    """The index's rows, outdated ones marked against the installed models; empty if there is no index yet."""
    if not index_path().exists():
        return WorklistSnapshot(())
    installed = installed_models_keys(discover_models(), list(Modality), BatchSettings())
    with StudyIndex() as index:
        return WorklistSnapshot(tuple(ranked(index.rows(installed))))


class WorklistModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: tuple[WorklistRow, ...] = ()

    def set_rows(self, rows: tuple[WorklistRow, ...]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(section)
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, column = self.rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(index.row(), row, column)
        if role == SORT_ROLE:
            return self._sort_value(index.row(), row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(row)
        if role == Qt.ItemDataRole.ForegroundRole:
            if row.status in (Status.FAILED, Status.NEW) or (column == STATUS and row.status == Status.OUTDATED):
                return QBrush(_MUTED)
            if column == CONSENSUS and row.voters:
                return QBrush(_POSITIVE if 2 * (row.positive_votes or 0) > row.voters else _NEGATIVE)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (RANK, PROBABILITY):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _text(rank: int, row: WorklistRow, column: int) -> str:
        if column == RANK:
            return str(rank + 1)
        if column == PATIENT:
            return patient_text(row)
        if column == DATE:
            return formatted_date(row.entry.study_date)
        if column == MODALITY:
            return row.entry.modality
        if column == CONSENSUS:
            return consensus_text(row)
        if column == PROBABILITY:
            return "" if row.top_probability is None else f"{row.top_probability:.2f}"
        return row.status.value

    @staticmethod
    def _sort_value(rank: int, row: WorklistRow, column: int):
        if column == RANK:
            return rank
        if column == PROBABILITY:
            return -1.0 if row.top_probability is None else row.top_probability
        if column == CONSENSUS:
            return (row.positive_votes or 0) / row.voters if row.voters else -1.0
        return WorklistModel._text(rank, row, column).lower()


class WorklistFilter(QSortFilterProxyModel):
    """Rows whose patient, date, modality, consensus or path holds the text, and of the chosen status."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.text = ""
        self.status: Status | None = None
        self.setSortRole(SORT_ROLE)

    def set_filter(self, text: str, status: Status | None) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.9+, where invalidateFilter() is deprecated
            self.beginFilterChange()
            self.text, self.status = text.strip().lower(), status
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.text, self.status = text.strip().lower(), status
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:
        model: WorklistModel = self.sourceModel()
        row = model.rows[source_row]
        if self.status is not None and row.status != self.status:
            return False
        if not self.text:
            return True
        haystack = " ".join(model._text(source_row, row, c) for c in range(len(COLUMNS))) + " " + row.entry.path
        return self.text in haystack.lower()


class BatchThread(Worker):
    """``lunglens batch --resume`` on some paths with the local engine; ``progress`` counts studies done
    of those planned. Cancel stops it between studies and the summary says so (it is not an error)."""

    planned = Signal(int)  # studies to analyse
    done = Signal(object)  # BatchSummary

    def __init__(self, paths: list[str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.paths = paths

    def work(self) -> None:
        settings = BatchSettings()
        with StudyIndex() as index:
            plan = plan_batch(self.paths, settings, index, resume=True, source="viewer")
            total = len(plan.tasks)
            self.planned.emit(total)
            finished = [0]

            def one_more(_result) -> None:
                finished[0] += 1
                self.report_count(finished[0], total)

            summary = run_batch(plan, LocalEngine(settings, default_workers()), index, one_more, self.cancel_event)
        self.done.emit(summary)


class WorklistPanel(QWidget):
    """The table, its filters and the batch controls."""

    studyActivated = Signal(object)  # WorklistRow
    analyseRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = WorklistModel(self)
        self.proxy = WorklistFilter(self)
        self.proxy.setSourceModel(self.model)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter: patient, date, modality, consensus\u2026")
        self.search.setClearButtonEnabled(True)
        self.status_filter = QComboBox()
        self.status_filter.addItems([ALL_STATUSES, *(s.value for s in Status)])
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(RANK, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(PATIENT, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(PATIENT, PATIENT_WIDTH)
        header.setStretchLastSection(True)
        self.analyse_button = QPushButton("Analyse a folder\u2026")
        self.analyse_button.setToolTip("Analyse every study in a folder in the background (what is not done yet)")
        self.cancel_button = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.batch_note = QLabel("")  # what the last batch did; stays while the list is refreshed
        self.batch_note.setWordWrap(True)
        filters = QHBoxLayout()
        filters.addWidget(self.search, 1)
        filters.addWidget(self.status_filter)
        controls = QHBoxLayout()
        controls.addWidget(self.analyse_button)
        controls.addWidget(self.progress, 1)
        controls.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addLayout(controls)
        layout.addWidget(self.batch_note)
        layout.addWidget(self.note)
        self.progress.hide()
        self.cancel_button.hide()

        self.search.textChanged.connect(self._apply_filter)
        self.status_filter.currentTextChanged.connect(self._apply_filter)
        self.table.doubleClicked.connect(lambda index: self.activate(index.row()))
        self.analyse_button.clicked.connect(self.analyseRequested)

    def set_snapshot(self, snapshot: WorklistSnapshot) -> None:
        """New rows; the selected study stays selected where it is still listed."""
        selected = self.selected_row()
        self.model.set_rows(snapshot.rows)
        if not snapshot.rows:
            self.note.setText("No studies yet: Analyse a folder\u2026 here, or 'lunglens batch FOLDER' in a terminal.")
        else:
            self.note.setText(f"{len(snapshot.rows)} studies; double-click to open, N / Shift+N for the next / previous.")
        if selected is not None:
            self.select_key(selected.key)

    def _apply_filter(self) -> None:
        status = self.status_filter.currentText()
        self.proxy.set_filter(self.search.text(), None if status == ALL_STATUSES else Status(status))

    def row_at(self, proxy_row: int) -> WorklistRow:
        return self.model.rows[self.proxy.mapToSource(self.proxy.index(proxy_row, 0)).row()]

    def selected_row(self) -> WorklistRow | None:
        rows = self.table.selectionModel().selectedRows()
        return self.row_at(rows[0].row()) if rows else None

    def select_key(self, key: str) -> bool:
        for proxy_row in range(self.proxy.rowCount()):
            if self.row_at(proxy_row).key == key:
                self.table.selectRow(proxy_row)
                return True
        return False

    def activate(self, proxy_row: int) -> None:
        if 0 <= proxy_row < self.proxy.rowCount():
            self.table.selectRow(proxy_row)
            self.studyActivated.emit(self.row_at(proxy_row))

    def step(self, delta: int) -> None:
        """Open the next (+1) or previous (-1) study in the table's current order."""
        rows = self.table.selectionModel().selectedRows()
        current = rows[0].row() if rows else -1 if delta > 0 else self.proxy.rowCount()
        self.activate(current + delta)


class Worklist(QObject):
    """Ties the panel to the main window: reading the index, opening studies, running a batch."""

    refreshed = Signal()
    opened = Signal(object)  # the WorklistRow whose study is now shown

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window = window
        self.panel = WorklistPanel()
        self.batch: BatchThread | None = None
        self._refreshing = self._read_again = False
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_WHILE_RUNNING_MS)
        self._timer.timeout.connect(self.refresh)
        self.panel.studyActivated.connect(self.open)
        window.opinions.finished.connect(self._on_analysis_finished)
        self.panel.analyseRequested.connect(self._ask_folder)
        self.panel.cancel_button.clicked.connect(self.cancel)
        self.refresh()

    def refresh(self) -> None:
        """Read the index again, off the GUI thread; asked during a read, once more after it."""
        if self._refreshing:
            self._read_again = True
            return
        self._refreshing, self._read_again = True, False
        run_in_background(read_worklist, self._on_read, self, self._on_read_failed)

    def _read_done(self) -> None:
        self._refreshing = False
        if self._read_again:
            self.refresh()

    def _on_read(self, snapshot: WorklistSnapshot) -> None:
        self.panel.set_snapshot(snapshot)
        self._read_done()
        self.refreshed.emit()

    def _on_read_failed(self, message: str) -> None:
        self.panel.note.setText(f"The worklist could not be read: {message}")
        self._read_done()

    # --- opening -------------------------------------------------------------------------------

    def open(self, row: WorklistRow) -> None:
        """Open the study and show its opinions: from the cache when it was analysed with these models."""
        window = self.window
        if not Path(row.entry.path).exists():
            window.message_bar.show_message(f"{row.entry.path} is not there any more (moved or deleted).", "error")
            return

        def loaded() -> None:
            window.loadingFinished.disconnect(loaded)
            for key, image in window.images.items():
                if image.uid == row.key and key != window.current_key:
                    window.show_series(key)
            if row.status in (Status.ANALYSED, Status.OUTDATED) and not window.opinions.running:
                window.opinions.analyze()
            self.opened.emit(row)

        window.loadingFinished.connect(loaded)
        window.open_path(row.entry.path)

    def step(self, delta: int) -> None:
        self.panel.step(delta)

    def _on_analysis_finished(self) -> None:
        """A study analysed in the viewer joins the worklist, or its line gets the new result."""
        window = self.window
        analysis, image, path, catalogue = window.opinions.analysis, window.image, window.study_path, window.opinions.catalogue
        if analysis is None or image is None or path is None or catalogue is None:
            return
        key = models_key(catalogue.choice(window.settings.skipped_models))
        run_in_background(lambda: record_analysis(image_entry(image, path), analysis, key, "viewer"),
                          lambda _: self.refresh(), self,
                          lambda message: self.panel.note.setText(f"The worklist could not be updated: {message}"))

    # --- batch ---------------------------------------------------------------------------------

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Analyse every study in a folder", self.window.settings.last_folder or "")
        if folder:
            self.start_batch([folder])

    def start_batch(self, paths: list[str]) -> bool:
        if self.batch is not None:
            return False
        thread = BatchThread(paths, self)
        thread.planned.connect(self._on_planned)
        thread.progress.connect(lambda done, _total, _stage: self.panel.progress.setValue(done))
        thread.done.connect(self._on_batch_done)
        thread.failed.connect(lambda message: self.panel.batch_note.setText(f"The batch failed: {message}"))
        thread.finished.connect(lambda: self._on_thread_finished(thread))
        self.batch = thread
        self.panel.analyse_button.setEnabled(False)
        self.panel.progress.setRange(0, 0)
        self.panel.progress.show()
        self.panel.cancel_button.show()
        self.panel.batch_note.setText("Looking for studies\u2026")
        self._timer.start()
        thread.start()
        return True

    def _on_planned(self, total: int) -> None:
        self.panel.progress.setRange(0, max(total, 1))
        self.panel.progress.setValue(0)
        self.panel.progress.setFormat("%v of %m studies")
        self.panel.batch_note.setText(f"Analysing {total} studies in the background\u2026")
        self.refresh()

    def _on_batch_done(self, summary: BatchSummary) -> None:
        state = "stopped" if summary.interrupted else "done"
        self.panel.batch_note.setText(f"Batch {state}: {len(summary.analysed)} analysed, {len(summary.failed)} failed "
                                f"in {summary.seconds:.0f} s.")

    def _on_thread_finished(self, thread: BatchThread) -> None:
        thread.deleteLater()
        self.batch = None
        self._timer.stop()
        self.panel.progress.hide()
        self.panel.cancel_button.hide()
        self.panel.analyse_button.setEnabled(True)
        self.refresh()

    def cancel(self) -> None:
        if self.batch is not None:
            self.batch.cancel()

    def shutdown(self) -> None:
        """Stop a running batch and wait for it (the window is closing)."""
        if self.batch is not None:
            self.batch.cancel()
            self.batch.wait()
