"""The model panel: one row per model with what it is, where it ran and what it says, and its card.

The check box in front of a model decides whether the next analysis runs it. Models the registry
refused (corrupt file, bad manifest, shadowed) are listed greyed with the reason, so a missing model
is never a mystery. Clicking a row selects that model: its Grad-CAM is the one shown on the slice,
of the class picked in the row's Map column (its finding class until another is picked).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QBrush, QColor, QDesktopServices, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QHeaderView, QLabel, QPushButton, QTableWidget,
    QTableWidgetItem, QTextBrowser, QVBoxLayout, QWidget,
)

from inference.pipelines.results import ModelOpinion
from inference.registry import ModelStatus, user_model_dir
from inference.study import Modality
from viewer.analysis_thread import ModelCatalogue
from viewer.logic.opinion_data import finding_class
from viewer.logic.summary_html import number

COLUMNS = ("Model", "Method", "Device", "Verdict", "Probability", "Threshold", "Map", "Card")
MODEL, METHOD, DEVICE, VERDICT, PROBABILITY, THRESHOLD, MAP, CARD = range(len(COLUMNS))
_SKIPPED = QColor("#7d8590")


class ModelCardDialog(QDialog):
    """A model card (.md) rendered for reading, with a button to open the file itself."""

    def __init__(self, path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Model card \u2014 {path.stem}")
        self.resize(760, 640)
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(True)
        self.text.setMarkdown(path.read_text(encoding="utf-8", errors="replace"))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        open_file = buttons.addButton("Open the file", QDialogButtonBox.ButtonRole.ActionRole)
        open_file.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))))
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)


def _swatch(colour: str) -> QIcon:
    pixmap = QPixmap(10, 10)
    pixmap.fill(QColor(colour))
    return QIcon(pixmap)


class ModelPanel(QWidget):
    modelSelected = Signal(str)
    skipChanged = Signal(object)  # frozenset of model ids the next analysis leaves out
    mapClassChanged = Signal(str, str)  # model id, the class its Grad-CAM should show

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.header = QLabel("")
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(VERDICT, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeaderItem(PROBABILITY).setToolTip("Calibrated study probability of the model's finding")
        self.table.horizontalHeaderItem(THRESHOLD).setToolTip("The model's operating threshold on its finding")
        self.table.horizontalHeaderItem(MAP).setToolTip("The class whose Grad-CAM the model's layer shows")
        self.table.setToolTip("Tick a model to run it; select a row to show its Grad-CAM")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.header)
        layout.addWidget(self.table, 1)
        self.rows: dict[str, int] = {}
        self.map_choices: dict[str, QComboBox] = {}
        self.statuses: dict[str, ModelStatus] = {}
        self.skip: frozenset[str] = frozenset()
        self.catalogue: ModelCatalogue | None = None
        self._filling = False
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.clear("Open a study to see the models that can read it.")

    # --- filling -------------------------------------------------------------------------------

    def clear(self, message: str) -> None:
        self.catalogue = None
        self.rows, self.statuses, self.map_choices = {}, {}, {}
        self.table.setRowCount(0)
        self.header.setText(message)

    def set_controls(self, widget: QWidget) -> None:
        """A strip of controls between the header and the table (the Grad-CAM display's)."""
        self.layout().insertWidget(1, widget)

    def set_catalogue(self, catalogue: ModelCatalogue, skip: frozenset[str], colours: Mapping[str, str]) -> None:
        """Rows for the models that can run on this modality (checked unless in ``skip``), then the refused ones."""
        self.catalogue, self.skip = catalogue, frozenset(skip)
        self._filling = True
        try:
            self.table.setRowCount(0)
            self.rows, self.statuses, self.map_choices = {}, {}, {}
            for status in catalogue.candidates:
                self._add_row(status, colours.get(status.id, "#888"))
            for status in catalogue.skipped:
                self._add_row(status, None)
        finally:
            self._filling = False
        self.header.setText(self._header_text(catalogue))

    def _header_text(self, catalogue: ModelCatalogue) -> str:
        kind = "CT" if catalogue.modality == Modality.CT else "X-ray"
        if catalogue.segmenter is not None:
            mask = f"lung mask by {catalogue.segmenter.id} ({catalogue.segmenter.manifest.method})"
        else:
            mask = "classical lung mask (no U-Net installed)" if catalogue.modality == Modality.CT else "no lung mask model installed"
        if not catalogue.candidates:
            return (f"<b>No {kind} classifier installed</b>; {mask}. Models go in {user_model_dir()} "
                    "(or $LUNGLENS_MODEL_DIR): &lt;id&gt;.onnx + .json + .md.")
        return f"{len(catalogue.candidates)} {kind} model(s); {mask}. Tick the models to run, click one to show its Grad-CAM."

    def _add_row(self, status: ModelStatus, colour: str | None) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        manifest = status.manifest
        # the version goes in the tooltip: the verdict column needs the width more
        name = QTableWidgetItem(status.id)
        name.setData(Qt.ItemDataRole.UserRole, status.id)
        version = f"{status.id} version {manifest.version}. " if manifest else ""
        cells = [name, QTableWidgetItem(manifest.method if manifest else "?")]
        cells += [QTableWidgetItem("") for _ in range(len(COLUMNS) - 2)]
        threshold = manifest.threshold if manifest is not None else None
        if threshold is not None:
            cells[THRESHOLD].setText(f"{threshold.value:.2f} {threshold.positive_class}")
        if colour is not None:
            name.setIcon(_swatch(colour))
            name.setFlags(name.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            name.setCheckState(Qt.CheckState.Unchecked if status.id in self.skip else Qt.CheckState.Checked)
            name.setToolTip(version + "Tick to run this model in the next analysis")
            cells[VERDICT].setText("not run yet" if status.id not in self.skip else "not selected")
        else:
            name.setFlags(name.flags() & ~Qt.ItemFlag.ItemIsUserCheckable)
            cells[VERDICT].setText(f"skipped: {status.problem}")
            for cell in cells:
                cell.setForeground(QBrush(_SKIPPED))
                cell.setToolTip(status.problem)
        for column, cell in enumerate(cells):
            self.table.setItem(row, column, cell)
        card = QPushButton("Card")
        card.setEnabled(status.card_path.is_file())
        card.setToolTip(str(status.card_path) if status.card_path.is_file() else f"{status.card_path.name} is missing")
        card.clicked.connect(lambda _=False, p=status.card_path: ModelCardDialog(p, self).exec())
        self.table.setCellWidget(row, CARD, card)
        self.rows[status.id] = row
        self.statuses[status.id] = status

    def set_status(self, model_id: str, text: str) -> None:
        """Free text in the verdict column (queued, running, no opinion and why)."""
        if model_id in self.rows:
            self.table.item(self.rows[model_id], VERDICT).setText(text)
            self.table.item(self.rows[model_id], VERDICT).setToolTip(text)

    def set_opinion(self, opinion: ModelOpinion) -> None:
        row = self.rows.get(opinion.model_id)
        if row is None:
            return
        verdict = opinion.verdict
        device = opinion.device + (" (cached)" if opinion.from_cache else "")
        label = verdict.label or f"no verdict: {verdict.reason}"
        if verdict.positive is not None:
            label += "  (positive)" if verdict.positive else "  (negative)"
        cls = finding_class(opinion)
        texts = {
            DEVICE: device,
            VERDICT: label,
            PROBABILITY: f"{number(verdict.probabilities.get(cls))} {cls}",
            THRESHOLD: f"{number(verdict.threshold)} {verdict.positive_class}" if verdict.threshold is not None else "\u2014",
        }
        for column, text in texts.items():
            self.table.item(row, column).setText(text)
        self._add_map_choice(row, opinion, cls)
        colour = {True: "#ff8c80", False: "#8fd19e"}.get(verdict.positive)
        if colour:
            self.table.item(row, VERDICT).setForeground(QBrush(QColor(colour)))

    def _add_map_choice(self, row: int, opinion: ModelOpinion, shown: str) -> None:
        choice = QComboBox()
        choice.addItems(list(opinion.classes))
        choice.setCurrentText(shown)
        choice.setToolTip(f"The class whose Grad-CAM {opinion.model_id}'s layer shows")
        choice.currentTextChanged.connect(lambda cls, model_id=opinion.model_id: self.mapClassChanged.emit(model_id, cls))
        self.table.setCellWidget(row, MAP, choice)
        self.map_choices[opinion.model_id] = choice

    # --- choices -------------------------------------------------------------------------------

    def select_model(self, model_id: str) -> None:
        if model_id in self.rows and self.selected_model() != model_id:
            self.table.selectRow(self.rows[model_id])

    def selected_model(self) -> str | None:
        items = self.table.selectedItems()
        return items[0].tableWidget().item(items[0].row(), MODEL).data(Qt.ItemDataRole.UserRole) if items else None

    def set_checked(self, model_id: str, run: bool) -> None:
        item = self.table.item(self.rows[model_id], MODEL)
        item.setCheckState(Qt.CheckState.Checked if run else Qt.CheckState.Unchecked)

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != MODEL or not item.flags() & Qt.ItemFlag.ItemIsUserCheckable:
            return
        model_id = item.data(Qt.ItemDataRole.UserRole)
        run = item.checkState() == Qt.CheckState.Checked
        self.skip = (self.skip - {model_id}) if run else (self.skip | {model_id})
        self.skipChanged.emit(self.skip)

    def _on_selection(self) -> None:
        model_id = self.selected_model()
        if model_id is not None:
            self.modelSelected.emit(model_id)
