"""The PACS dialog: pick a server (kept in the same user settings as ``lunglens pacs``), check it
answers, find studies by patient name or ID, study date range and modality, retrieve one into the
local study store with a progress bar and cancel, and open it.

Every network call runs off the GUI thread; a failure is shown in words in the dialog (which AE
title was refused, which port nothing listens on, how far a retrieve got), never as a traceback.
Keyboard: Return in a search field finds, Return on a study retrieves it (or opens it when it is
already complete), Escape closes; every control has an Alt mnemonic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDateEdit, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout,
    QGridLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QProgressBar, QPushButton, QSpinBox, QTableWidget,
    QTableWidgetItem, QVBoxLayout, QWidget,
)

from inference.identifiers import formatted_date
from inference.pacs.connection import PacsConnection, connect
from inference.pacs.query import StudyQuery, StudyRow
from inference.pacs.servers import PacsError, PacsServer, RetrieveMethod, Transport, load_servers, save_server
from inference.pacs.store import StoredStudy, stored_study
from viewer.dialogs import STATUS_COLOURS, StatusLine
from viewer.tasks import Worker, as_outcome, run_in_background

if TYPE_CHECKING:
    from viewer.main_window import MainWindow

MODALITIES = (("Any modality", ""), ("CT", "CT"), ("CR (radiograph)", "CR"), ("DX (radiograph)", "DX"))
COLUMNS = ("Patient ID", "Patient name", "Study date", "Modalities", "Description", "Images", "Local copy")


class RetrieveThread(Worker):
    """One study from the PACS into the local store; cancel stops it at the next instance (``stopped``
    says how far it got); ``progress`` counts instances here of instances listed."""

    done = Signal(int)  # instances received
    expected = (PacsError,)

    def __init__(self, pacs: PacsConnection, study_uid: str, store: StoredStudy, parent=None) -> None:
        super().__init__(parent)
        self.pacs, self.study_uid, self.store = pacs, study_uid, store

    def work(self) -> None:
        self.done.emit(self.pacs.retrieve(self.study_uid, self.store, self.report_count, self.cancel_event.is_set))

    @staticmethod
    def unexpected(exc: Exception) -> str:
        return f"unexpected error: {Worker.unexpected(exc)}"


class ServerEditor(QDialog):
    """Add or change one server: AE titles, host and port, or a DICOMweb URL; TLS (DICOM TLS with the
    check box, DICOMweb with an https:// URL): the CA certificate to trust, LungLens's own certificate."""

    def __init__(self, server: PacsServer | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("PACS server")
        server = server or PacsServer("")
        self.name = QLineEdit(server.name)
        self.transport = QComboBox()
        for transport, label in ((Transport.DIMSE, "DIMSE (DICOM port)"), (Transport.DICOMWEB, "DICOMweb (HTTP)")):
            self.transport.addItem(label, transport)
        self.transport.setCurrentIndex(self.transport.findData(server.transport))
        self.host, self.port = QLineEdit(server.host), QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(server.port)
        self.called_ae, self.calling_ae = QLineEdit(server.called_ae), QLineEdit(server.calling_ae)
        self.retrieve = QComboBox()
        for method in RetrieveMethod:
            self.retrieve.addItem(method.value, method)
        self.retrieve.setCurrentIndex(self.retrieve.findData(server.retrieve))
        self.storage_port = QSpinBox()
        self.storage_port.setRange(1, 65535)
        self.storage_port.setValue(server.storage_port)
        self.url = QLineEdit(server.dicomweb_url)
        self.url.setPlaceholderText("http://host:8042/dicom-web")
        self.url.setMinimumWidth(320)
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(1, 600)
        self.timeout.setSuffix(" s")
        self.timeout.setValue(server.timeout_s)
        self.tls = QCheckBox("the DICOM port speaks TLS")
        self.tls.setChecked(server.tls)
        self.ca_certificate, self.client_certificate, self.client_key = (
            QLineEdit(server.ca_certificate), QLineEdit(server.client_certificate), QLineEdit(server.client_key))
        for field, hint in ((self.ca_certificate, "PEM file; empty: the system's certificates"),
                            (self.client_certificate, "PEM file, for servers that ask for one"),
                            (self.client_key, "PEM file, unless in the certificate's file")):
            field.setPlaceholderText(hint)
        self.verify = QCheckBox("check the server's certificate (off only to diagnose)")
        self.verify.setChecked(server.verify)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {STATUS_COLOURS['error']}")
        form = QFormLayout()
        for label, field in (("&Name", self.name), ("&Transport", self.transport), ("&Host", self.host), ("&Port", self.port),
                             ("&Called AE title (the PACS)", self.called_ae), ("Ca&lling AE title (LungLens)", self.calling_ae),
                             ("&Retrieve with", self.retrieve), ("&Storage port (C-MOVE)", self.storage_port),
                             ("&DICOMweb URL", self.url), ("T&imeout", self.timeout), ("&Use TLS", self.tls),
                             ("C&A certificate", self.ca_certificate), ("Client c&ertificate", self.client_certificate),
                             ("Client &key", self.client_key), ("&Verify", self.verify)):
            form.addRow(label, field)
        self.transport.currentIndexChanged.connect(self._update_fields)
        self.retrieve.currentIndexChanged.connect(self._update_fields)
        self.tls.toggled.connect(self._update_fields)
        self._update_fields()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.saved: PacsServer | None = None

    def _update_fields(self) -> None:
        """Only what the chosen transport and retrieve method use can be edited."""
        dimse = self.transport.currentData() == Transport.DIMSE
        for field in (self.host, self.port, self.called_ae, self.calling_ae, self.retrieve):
            field.setEnabled(dimse)
        self.storage_port.setEnabled(dimse and self.retrieve.currentData() == RetrieveMethod.MOVE)
        self.url.setEnabled(not dimse)
        self.tls.setEnabled(dimse)
        for field in (self.ca_certificate, self.client_certificate, self.client_key, self.verify):
            field.setEnabled(self.tls.isChecked() or not dimse)  # DICOMweb: used when the URL is https://

    def server(self) -> PacsServer:
        """The server as filled in; PacsError when it cannot be one."""
        if not self.name.text().strip():
            raise PacsError("give the server a name")
        return PacsServer(self.name.text().strip(), self.host.text().strip(), self.port.value(), self.called_ae.text().strip(),
                          self.calling_ae.text().strip(), self.url.text().strip(), self.timeout.value(),
                          self.transport.currentData(), self.retrieve.currentData(), self.storage_port.value(),
                          self.tls.isChecked(), self.ca_certificate.text().strip(), self.client_certificate.text().strip(),
                          self.client_key.text().strip(), self.verify.isChecked())

    def _save(self) -> None:
        try:
            self.saved = self.server()
            save_server(self.saved)
        except (PacsError, OSError) as exc:
            self.error.setText(str(exc))
            return
        self.accept()


class PacsDialog(QDialog):
    """Find a study on a PACS, retrieve it into the local store, open it in ``window``."""

    taskFinished = Signal()  # an echo, find or retrieve ended (tests and headless runs wait for it)

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window = window
        self.setWindowTitle("PACS")
        self.resize(940, 560)
        self.rows: list[StudyRow] = []
        self.worker: RetrieveThread | None = None
        self.busy = False

        self.server_box = QComboBox()
        self.server_box.setMinimumWidth(220)
        self.echo_button, self.new_button, self.edit_button = QPushButton("E&cho"), QPushButton("&New\u2026"), QPushButton("Ed&it\u2026")
        self.patient_name, self.patient_id = QLineEdit(), QLineEdit()
        self.patient_name.setPlaceholderText("e.g. DOE* (wildcards * and ?)")
        self.modality = QComboBox()
        for label, value in MODALITIES:
            self.modality.addItem(label, value)
        self.use_dates = QCheckBox("Study da&te from")
        self.date_from, self.date_to = QDateEdit(QDate.currentDate().addYears(-1)), QDateEdit(QDate.currentDate())
        for edit in (self.date_from, self.date_to):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)
        self.find_button = QPushButton("&Find")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.progress = QProgressBar()
        self.progress.hide()
        self.cancel_button = QPushButton("C&ancel retrieve")
        self.cancel_button.hide()
        self.retrieve_button, self.open_button = QPushButton("&Retrieve"), QPushButton("&Open")
        self.status = StatusLine()
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)

        self._lay_out(close)
        self._connect()
        self.reload_servers()
        self.patient_name.setFocus()

    def _lay_out(self, close: QDialogButtonBox) -> None:
        """Server row, query form, results table, status line, actions: top to bottom."""
        server_row = QHBoxLayout()
        server_label = QLabel("&Server")
        server_label.setBuddy(self.server_box)
        for widget in (server_label, self.server_box, self.echo_button, self.new_button, self.edit_button):
            server_row.addWidget(widget)
        server_row.addStretch(1)
        query = QGridLayout()
        for column, (text, field) in enumerate((("Patient &name", self.patient_name), ("Patient I&D", self.patient_id),
                                                ("&Modality", self.modality))):
            label = QLabel(text)
            label.setBuddy(field)
            query.addWidget(label, 0, 2 * column)
            query.addWidget(field, 0, 2 * column + 1)
        query.addWidget(self.use_dates, 1, 0)
        query.addWidget(self.date_from, 1, 1)
        to_label = QLabel("to")
        to_label.setBuddy(self.date_to)
        query.addWidget(to_label, 1, 2)
        query.addWidget(self.date_to, 1, 3)
        query.addWidget(self.find_button, 1, 5)
        actions = QHBoxLayout()
        for widget in (self.retrieve_button, self.open_button, self.progress, self.cancel_button):
            actions.addWidget(widget)
        actions.addStretch(1)
        actions.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(server_row)
        layout.addLayout(query)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addLayout(actions)

    def _connect(self) -> None:
        """Buttons, fields and the table to their actions; Return finds from a search field and
        retrieves from the table, so no button is the default."""
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)
        self.echo_button.clicked.connect(self.echo)
        self.new_button.clicked.connect(lambda: self.edit_server(new=True))
        self.edit_button.clicked.connect(lambda: self.edit_server(new=False))
        self.find_button.clicked.connect(self.find)
        for field in (self.patient_name, self.patient_id):
            field.returnPressed.connect(self.find)
        self.use_dates.toggled.connect(self.date_from.setEnabled)
        self.use_dates.toggled.connect(self.date_to.setEnabled)
        self.table.activated.connect(lambda _index: self.retrieve_or_open())
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.retrieve_button.clicked.connect(self.retrieve)
        self.open_button.clicked.connect(self.open_study)
        self.cancel_button.clicked.connect(self.cancel_retrieve)
        self.server_box.currentIndexChanged.connect(lambda _i: self._update_buttons())

    # --- servers -------------------------------------------------------------------------------

    def reload_servers(self, select: str | None = None) -> None:
        """Fill the server list from the user settings (the same file ``lunglens pacs add`` writes)."""
        self.server_box.clear()
        try:
            servers = load_servers()
        except PacsError as exc:
            self.status.say(str(exc), "error")
            servers = {}
        for name, server in servers.items():
            self.server_box.addItem(f"{name} \u2014 {server.describe()}", server)
        if select in servers:
            self.server_box.setCurrentIndex(list(servers).index(select))
        if not servers:
            self.status.say("No PACS configured yet: add one with New\u2026 (or 'lunglens pacs add' on the command line).", "info")
        self._update_buttons()

    @property
    def server(self) -> PacsServer | None:
        return self.server_box.currentData()

    def edit_server(self, new: bool) -> None:
        editor = ServerEditor(None if new else self.server, self)
        if editor.exec() == QDialog.DialogCode.Accepted and editor.saved is not None:
            self.reload_servers(select=editor.saved.name)
            self.status.say(f"Saved {editor.saved.name}.", "ok")

    # --- talking to the server -----------------------------------------------------------------

    @property
    def status_text(self) -> str:
        return self.status.text()

    def _run(self, what: str, function: Callable[[], Any], on_value: Callable[[Any], None]) -> None:
        server = self.server
        if server is None:
            self.status.say("Choose a PACS first (New\u2026 adds one).", "error")
            return
        self.busy = True
        self._update_buttons()
        self.status.say(f"{what} {server.name}\u2026")

        def finished(outcome: tuple[bool, Any]) -> None:
            ok, value = outcome
            self.busy = False
            self._update_buttons()
            on_value(value) if ok else self.status.say(value, "error")
            self.taskFinished.emit()

        def crashed(message: str) -> None:
            finished((False, f"unexpected error: {message}"))

        run_in_background(as_outcome(lambda: function(connect(server)), (PacsError,)), finished, self, crashed)

    def echo(self) -> None:
        self._run("Asking", lambda pacs: pacs.echo(),
                  lambda _none: self.status.say(f"{self.server.name} answers ({self.server.describe()}).", "ok"))

    def query(self) -> StudyQuery:
        dates = ""
        if self.use_dates.isChecked():
            dates = f"{self.date_from.date().toString('yyyyMMdd')}-{self.date_to.date().toString('yyyyMMdd')}"
        return StudyQuery(self.patient_name.text().strip(), self.patient_id.text().strip(), dates, self.modality.currentData())

    def find(self) -> None:
        query = self.query()
        self._run("Searching", lambda pacs: pacs.find_studies(query), self._show_rows)

    def _show_rows(self, rows: list[StudyRow]) -> None:
        self.rows = sorted(rows, key=lambda r: (r.study_date, r.patient_id), reverse=True)
        self.table.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            cells = (row.patient_id, row.patient_name.replace("^", " "), formatted_date(row.study_date), row.modalities,
                     row.description, "" if row.instances is None else str(row.instances), self._local_copy(row))
            for c, text in enumerate(cells):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        if self.rows:
            self.table.selectRow(0)
            self.table.setFocus()
        self.status.say(f"{len(self.rows)} stud{'y' if len(self.rows) == 1 else 'ies'} found." if self.rows
                 else "No study matches; widen the search (wildcards, a longer date range, any modality).",
                 "ok" if self.rows else "info")

    @staticmethod
    def _local_copy(row: StudyRow) -> str:
        store = stored_study(row.study_uid)
        return "complete" if store.complete else "partial" if store.instance_uids() else "\u2014"

    # --- retrieving and opening ----------------------------------------------------------------

    @property
    def selected(self) -> StudyRow | None:
        rows = self.table.selectionModel().selectedRows()
        return self.rows[rows[0].row()] if rows else None

    @property
    def retrieving(self) -> bool:
        return self.worker is not None

    def _update_buttons(self) -> None:
        idle = not self.busy and not self.retrieving
        has_server = self.server is not None
        for button in (self.echo_button, self.find_button):
            button.setEnabled(idle and has_server)
        self.edit_button.setEnabled(idle and has_server)
        row = self.selected
        self.retrieve_button.setEnabled(idle and has_server and row is not None)
        self.open_button.setEnabled(idle and row is not None and stored_study(row.study_uid).complete)

    def retrieve_or_open(self) -> None:
        row = self.selected
        if row is not None and stored_study(row.study_uid).complete:
            self.open_study()
        else:
            self.retrieve()

    def retrieve(self) -> None:
        row, server = self.selected, self.server
        if row is None or server is None or self.retrieving:
            return
        store = stored_study(row.study_uid)
        if store.complete:
            self.status.say(f"Already in the local store ({store.status()}): Open shows it.", "ok")
            self.open_button.setFocus()
            return
        worker = RetrieveThread(connect(server), row.study_uid, store, self)
        worker.progress.connect(self._on_progress)
        worker.done.connect(lambda received: self._on_retrieved(store, received))
        worker.failed.connect(lambda message: self.status.say(message, "error"))
        worker.stopped.connect(lambda message: self.status.say(message, "info"))
        worker.finished.connect(lambda: self._on_worker_finished(worker))
        self.worker = worker
        self.progress.setRange(0, row.instances or 0)
        self.progress.setValue(0)
        self.progress.setFormat("%v / %m instances")
        self.progress.show()
        self.cancel_button.show()
        self._update_buttons()
        self.status.say(f"Retrieving from {server.name} ({server.describe()})\u2026")
        worker.start()
        self.cancel_button.setFocus()

    def cancel_retrieve(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.status.say("Cancelling\u2026")

    def _on_progress(self, done: int, total: int, _stage: str) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _on_retrieved(self, store: StoredStudy, received: int) -> None:
        self.status.say(f"Retrieved: {store.status()}, {received} received now, in {store.folder}. Open shows it.", "ok")

    def _on_worker_finished(self, worker: RetrieveThread) -> None:
        worker.deleteLater()
        if worker is not self.worker:
            return
        self.worker = None
        self.progress.hide()
        self.cancel_button.hide()
        row = self.selected
        if row is not None:
            self.table.setItem(self.table.currentRow(), len(COLUMNS) - 1, QTableWidgetItem(self._local_copy(row)))
        self._update_buttons()
        (self.open_button if self.open_button.isEnabled() else self.retrieve_button).setFocus()
        self.taskFinished.emit()

    def open_study(self) -> None:
        row = self.selected
        if row is None or not stored_study(row.study_uid).complete:
            self.status.say("Retrieve the study completely before opening it.", "error")
            return
        self.window.open_path(stored_study(row.study_uid).folder)
        self.accept()

    def done(self, result: int) -> None:
        """Closing stops a running retrieve (what arrived stays; a later retrieve resumes)."""
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait()
        super().done(result)
