"""Exporting the analysis as DICOM from the viewer: the same objects as ``lunglens analyze --dicom-out``
(lung mask SEG, Grad-CAM SEGs, TID 1500 SR with the reader's measurements, key images) with the
viewer's own PDF report encapsulated, written into a folder (never the study's) and, if asked, sent
to a configured PACS. Encoding and sending run off the GUI thread; the PDF is printed on it (Qt).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QProgressBar,
    QPushButton, QVBoxLayout,
)

from inference.dicom_out.sources import DicomOutError
from inference.dicom_out.write import write_dicom_results
from inference.output_paths import output_problem
from inference.pacs.connection import connect
from inference.pacs.servers import PacsError, PacsServer, load_servers
from viewer.dialogs import StatusLine
from viewer.report import report_pdf
from viewer.tasks import as_outcome, run_in_background

if TYPE_CHECKING:
    from viewer.main_window import MainWindow


def write_and_send(analysis, image, folder: Path, measurements, pdf: bytes, server: PacsServer | None) -> tuple[list[Path], int]:
    """Write the DICOM results into ``folder`` and send them to ``server`` (if any); (files, sent). Any thread."""
    files = write_dicom_results(analysis, image, folder, measurements, pdf)
    return files, (connect(server).send(files) if server is not None else 0)


class DicomExportDialog(QDialog):
    taskFinished = Signal()

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window = window
        self.setWindowTitle("Export DICOM results")
        self.resize(640, 220)
        start = window.opinions.default_export_folder() / f"lunglens-dicom-{datetime.now():%Y%m%d-%H%M}"
        self.folder = QLineEdit(str(start))
        browse = QPushButton("&Browse\u2026")
        self.send = QCheckBox("&Send to PACS")
        self.server_box = QComboBox()
        try:
            servers = load_servers()
        except PacsError as exc:
            servers = {}
            self.send.setToolTip(str(exc))
        for name, server in servers.items():
            self.server_box.addItem(f"{name} \u2014 {server.describe()}", server)
        self.send.setEnabled(bool(servers))
        self.server_box.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.hide()
        self.status = StatusLine("SEG (lung mask, Grad-CAMs), SR, the PDF report and key images, in the study's own "
                             "StudyInstanceUID, each in a new series marked research use."
                             + ("" if servers else " No PACS configured: File > PACS adds one."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = buttons.addButton("&Export", QDialogButtonBox.ButtonRole.ActionRole)
        self.export_button.setDefault(True)
        buttons.rejected.connect(self.reject)

        label = QLabel("&Folder")
        label.setBuddy(self.folder)
        row = QHBoxLayout()
        for widget in (label, self.folder, browse):
            row.addWidget(widget)
        send_row = QHBoxLayout()
        send_row.addWidget(self.send)
        send_row.addWidget(self.server_box, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(send_row)
        layout.addWidget(self.status)
        layout.addWidget(self.progress)
        layout.addWidget(buttons)
        browse.clicked.connect(self._browse)
        self.send.toggled.connect(self.server_box.setEnabled)
        self.export_button.clicked.connect(self.export)
        self.written: list[Path] = []

    @property
    def status_text(self) -> str:
        return self.status.text()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export DICOM results into", str(Path(self.folder.text()).parent))
        if folder:
            self.folder.setText(folder)

    def export(self) -> None:
        window, opinions = self.window, self.window.opinions
        image, analysis = window.image, opinions.analysis
        if analysis is None or image is None:
            self.status.say("Analyse the study (A) before exporting its results.", "error")
            return
        folder = Path(self.folder.text()).expanduser().resolve()
        if problem := output_problem(folder, window.study_path, "folder", image.source_files):
            self.status.say(problem, "error")
            return
        server = self.server_box.currentData() if self.send.isChecked() else None
        measurements = window.measurement_records()
        pdf = report_pdf(image, analysis, opinions.opinions, {m: r.cams for m, r in opinions.results.items()},
                         opinions.colours, measurements)
        self.export_button.setEnabled(False)
        self.progress.show()
        self.status.say(f"Writing{' and sending to ' + server.name if server else ''}\u2026")
        work = as_outcome(lambda: write_and_send(analysis, image, folder, measurements, pdf, server),
                          (PacsError, DicomOutError, OSError))
        run_in_background(work, lambda outcome: self._finished(outcome, folder, server), self,
                          lambda message: self._finished((False, f"unexpected error: {message}"), folder, server))

    def _finished(self, outcome: tuple[bool, Any], folder: Path, server: PacsServer | None) -> None:
        self.progress.hide()
        self.export_button.setEnabled(True)
        ok, value = outcome
        if not ok:
            written = sorted(folder.glob("*.dcm")) if folder.is_dir() else []
            self.status.say(value + (f" ({len(written)} file(s) were written to {folder})" if written else ""), "error")
        else:
            self.written, sent = value
            self.window.settings.export_folder = str(folder.parent)
            sent_text = f"; {server.name} stored {sent} of them" if server is not None else ""
            self.status.say(f"Wrote {len(self.written)} DICOM objects to {folder}{sent_text}.", "ok")
        self.taskFinished.emit()
