"""The viewer's PACS dialog and DICOM export against a real Orthanc on loopback: echo, find, retrieve
with progress into the local store and open, by keyboard; clear messages when the server is gone;
cancel; the analysis exported as DICOM (with the viewer's PDF) and sent back."""

from __future__ import annotations

import time

import pydicom
import pytest
from PySide6.QtCore import Qt

from inference.pacs.servers import RetrieveCancelled, save_server
from inference.pacs.store import stored_study
from tests.dicom.tools import install_models, phantom_ct_study
from tests.pacs.conftest import orthanc, orthanc_tls  # noqa: F401 - the fixtures

STUDY_UID = "1.2.826.0.1.3680043.8.498.1919"


@pytest.fixture
def pacs_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LUNGLENS_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LUNGLENS_STORE_DIR", str(tmp_path / "store"))
    return tmp_path


@pytest.fixture
def loaded(orthanc, pacs_env):  # noqa: F811 - the fixture
    orthanc.upload(sorted(phantom_ct_study(pacs_env / "source", study_uid=STUDY_UID).glob("*")))
    save_server(orthanc.server)
    return orthanc


def _wait(qtbot, dialog) -> None:
    with qtbot.waitSignal(dialog.taskFinished, timeout=60000):
        pass


def test_find_retrieve_and_open_by_keyboard(window, qtbot, loaded):
    dialog = window.show_pacs()
    assert dialog.server.name == "test-orthanc"
    dialog.echo()
    _wait(qtbot, dialog)
    assert "test-orthanc answers" in dialog.status_text

    dialog.use_dates.setChecked(True)
    dialog.date_from.setDate(dialog.date_from.date().addYears(-2000))
    dialog.date_to.setDate(dialog.date_to.date().addYears(1000))
    qtbot.keyClicks(dialog.patient_id, "LUNGLENS-PHANTOM")
    with qtbot.waitSignal(dialog.taskFinished, timeout=60000):
        qtbot.keyClick(dialog.patient_id, Qt.Key.Key_Return)
    assert [r.study_uid for r in dialog.rows] == [STUDY_UID] and "1 study found" in dialog.status_text
    assert dialog.table.item(0, 6).text() == "\u2014"  # not in the local store yet

    progress = []
    dialog.progress.valueChanged.connect(progress.append)
    with qtbot.waitSignal(dialog.taskFinished, timeout=60000):
        qtbot.keyClick(dialog.table, Qt.Key.Key_Return)  # Return on a study retrieves it
    assert stored_study(STUDY_UID).complete and "complete (12 instances)" in dialog.status_text
    assert progress[-1] == 12 and dialog.table.item(0, 6).text() == "complete"
    assert dialog.open_button.isEnabled() and dialog.open_button.hasFocus()

    qtbot.keyClick(dialog.open_button, Qt.Key.Key_Space)
    assert window.wait_until_loaded(60) and not dialog.isVisible()
    assert window.image.shape == (12, 64, 64) and window.study_path == stored_study(STUDY_UID).folder


def test_clear_messages_when_the_server_is_gone_or_refuses(window, qtbot, loaded):
    dialog = window.show_pacs()
    loaded.stop()
    dialog.echo()
    _wait(qtbot, dialog)
    assert "nothing accepts DICOM connections" in dialog.status_text and dialog.echo_button.isEnabled()
    dialog.find()
    _wait(qtbot, dialog)
    assert "is the PACS running, and the port right?" in dialog.status_text and dialog.rows == []


def test_cancel_stops_a_retrieve_and_says_how_far_it_got(window, qtbot, pacs_env, monkeypatch):
    class SlowPacs:
        def retrieve(self, study_uid, store, progress, cancel):
            progress(3, 300)
            while not cancel():
                time.sleep(0.01)
            raise RetrieveCancelled("orthanc: the retrieve stopped after 3 of 300 instances (cancelled); "
                                    "the study is kept as partial, retrieve again to resume")

    from inference.pacs.query import StudyRow
    from inference.pacs.servers import PacsServer

    save_server(PacsServer("slow"))
    monkeypatch.setattr("viewer.pacs_dialog.connect", lambda server: SlowPacs())
    dialog = window.show_pacs()
    dialog._show_rows([StudyRow("1.2.3", "DOE^JANE", "P1", "20240102", "CT chest", "", "CT", 300)])
    dialog.retrieve()
    qtbot.waitUntil(lambda: dialog.progress.value() == 3, timeout=10000)
    assert dialog.progress.maximum() == 300 and dialog.cancel_button.isVisible() and not dialog.retrieve_button.isEnabled()
    with qtbot.waitSignal(dialog.taskFinished, timeout=10000):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert "stopped after 3 of 300 instances (cancelled)" in dialog.status_text
    assert not dialog.cancel_button.isVisible() and dialog.retrieve_button.isEnabled() and not dialog.open_button.isEnabled()


def test_dicom_export_writes_the_results_with_the_viewer_pdf_and_sends_them(window, qtbot, loaded, pacs_env, monkeypatch):
    install_models(pacs_env / "models")
    monkeypatch.setenv("LUNGLENS_MODEL_DIR", str(pacs_env / "models"))
    window.open_path(pacs_env / "source")
    assert window.wait_until_loaded(60)
    assert window.opinions.analyze() and window.opinions.wait_until_done(120)
    dialog = window.show_dicom_export()

    dialog.folder.setText(str(pacs_env / "source" / "results"))
    dialog.export()
    assert "never writes into a study" in dialog.status_text

    dialog.folder.setText(str(pacs_env / "out"))
    dialog.send.setChecked(True)
    with qtbot.waitSignal(dialog.taskFinished, timeout=120000):
        dialog.export()
    names = {p.name for p in dialog.written}
    assert {"lung_mask_seg.dcm", "measurement_report_sr.dcm", "report_pdf.dcm"} <= names, dialog.status_text
    assert f"test-orthanc stored {len(names)} of them" in dialog.status_text
    pdf = bytes(pydicom.dcmread(pacs_env / "out" / "report_pdf.dcm").EncapsulatedDocument)
    assert pdf.startswith(b"%PDF") and b"Qt" in pdf  # the viewer's own report, printed by Qt
    series = loaded.rest(f"/studies/{loaded.rest('/studies')[0]}/series")
    modalities = {s["MainDicomTags"]["Modality"] for s in series}
    assert {"CT", "SEG", "SR", "DOC"} <= modalities


def test_a_server_is_added_from_the_dialog_and_a_missing_url_is_said(window, pacs_env):
    from PySide6.QtWidgets import QDialogButtonBox

    from inference.pacs.servers import Transport, load_servers
    from viewer.pacs_dialog import ServerEditor

    dialog = window.show_pacs()
    assert "No PACS configured yet" in dialog.status_text and not dialog.find_button.isEnabled()
    editor = ServerEditor(None, dialog)
    save = editor.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save)
    editor.name.setText("web")
    editor.transport.setCurrentIndex(editor.transport.findData(Transport.DICOMWEB))
    assert not editor.host.isEnabled() and editor.url.isEnabled()
    save.click()
    assert "DICOMweb needs the server's DICOMweb URL" in editor.error.text() and load_servers() == {}
    editor.url.setText("http://127.0.0.1:8042/dicom-web")
    save.click()
    assert load_servers()["web"].transport == Transport.DICOMWEB
    dialog.reload_servers(select="web")
    assert dialog.server.name == "web" and dialog.find_button.isEnabled()


def test_tls_from_the_server_settings_and_an_untrusted_certificate_said(window, qtbot, orthanc_tls, pacs_env):  # noqa: F811
    from PySide6.QtWidgets import QDialogButtonBox

    from viewer.pacs_dialog import ServerEditor

    dialog = window.show_pacs()
    editor = ServerEditor(None, dialog)
    editor.name.setText("secure")
    editor.port.setValue(orthanc_tls.dicom_port)
    assert not editor.ca_certificate.isEnabled()  # only with TLS
    editor.tls.setChecked(True)
    assert editor.ca_certificate.isEnabled() and editor.verify.isChecked()  # verification on by default
    editor.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save).click()
    dialog.reload_servers(select="secure")
    assert "TLS" in dialog.server_box.currentText()
    dialog.echo()
    _wait(qtbot, dialog)
    assert "is not trusted" in dialog.status_text and "CA certificate" in dialog.status_text

    trusted = orthanc_tls.server
    editor = ServerEditor(dialog.server, dialog)
    assert editor.tls.isChecked()
    editor.ca_certificate.setText(trusted.ca_certificate)
    editor.client_certificate.setText(trusted.client_certificate)
    editor.client_key.setText(trusted.client_key)
    editor.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save).click()
    dialog.reload_servers(select="secure")
    dialog.echo()
    _wait(qtbot, dialog)
    assert "secure answers" in dialog.status_text
