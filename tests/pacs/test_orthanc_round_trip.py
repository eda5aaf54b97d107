"""A round trip against a real Orthanc on loopback: echo, find, get, analyse, send the results back;
C-MOVE and DICOMweb as the other ways in and out."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from inference.dicom_out.write import write_dicom_results
from inference.loading import load_path
from inference.pacs.connection import connect
from inference.pacs.query import StudyQuery
from inference.pacs.servers import PacsError, RetrieveCancelled, RetrieveMethod, Transport
from inference.pacs.store import stored_study
from tests.dicom.tools import analysed, install_models, phantom_ct_study

STUDY_UID = "1.2.826.0.1.3680043.8.498.1818"


@pytest.fixture(autouse=True)
def _models(tmp_path, monkeypatch):
    install_models(tmp_path / "models")
    monkeypatch.setenv("LUNGLENS_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LUNGLENS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LUNGLENS_STORE_DIR", str(tmp_path / "store"))


@pytest.fixture
def loaded(orthanc, tmp_path):
    study = phantom_ct_study(tmp_path / "source", study_uid=STUDY_UID)
    orthanc.upload(sorted(study.glob("*")))
    return orthanc


def require_dicomweb(orthanc) -> None:
    if not (orthanc.rest("/plugins") and "dicom-web" in orthanc.rest("/plugins")):
        pytest.fail("Orthanc runs without its DICOMweb plugin (apt-get install -y orthanc-dicomweb)")


@pytest.mark.parametrize("transport", [Transport.DIMSE, Transport.DICOMWEB])
def test_echo_find_get_analyse_and_send_back(loaded, tmp_path, transport):
    if transport == Transport.DICOMWEB:
        require_dicomweb(loaded)
    pacs = connect(dataclasses.replace(loaded.server, transport=transport))
    pacs.echo()
    studies = pacs.find_studies(StudyQuery(study_date="19000101-29991231", modality="CT"))
    assert [s.study_uid for s in studies] == [STUDY_UID] and studies[0].instances == 12
    assert pacs.find_studies(StudyQuery(patient_id="nobody-has-this")) == []
    assert [s.modality for s in pacs.find_series(STUDY_UID)] == ["CT"]

    store = stored_study(STUDY_UID)
    seen = []
    assert pacs.retrieve(STUDY_UID, store, lambda done, total: seen.append((done, total))) == 12 and store.complete
    assert seen[-1] == (12, 12)
    images, _ = load_path(store.folder)
    assert images[0].shape == (12, 64, 64)

    image, analysis = analysed(store.folder)
    files = write_dicom_results(analysis, image, tmp_path / "results")
    assert pacs.send(files) == len(files)
    modalities = {s.modality for s in pacs.find_series(STUDY_UID)}
    assert {"CT", "SEG", "SR", "DOC"} <= modalities
    assert len(loaded.rest("/studies")) == 1  # the results joined the study, not a new one


def test_c_move_to_our_storage_port(loaded, tmp_path):
    pacs = connect(dataclasses.replace(loaded.server, retrieve=RetrieveMethod.MOVE))
    store = stored_study(STUDY_UID)
    assert pacs.retrieve(STUDY_UID, store) == 12 and store.complete
    assert len(load_path(store.folder)[0][0].hu) == 12
    stranger = connect(dataclasses.replace(loaded.server, retrieve=RetrieveMethod.MOVE, calling_ae="STRANGER"))
    with pytest.raises(PacsError, match="must know LungLens as a move destination \\(AE title STRANGER.*or retrieve with C-GET"):
        stranger.retrieve(STUDY_UID, stored_study(STUDY_UID, tmp_path / "other-store"))


@pytest.mark.parametrize("transport, method", [(Transport.DIMSE, RetrieveMethod.GET), (Transport.DIMSE, RetrieveMethod.MOVE),
                                               (Transport.DICOMWEB, RetrieveMethod.GET)], ids=["C-GET", "C-MOVE", "DICOMweb"])
def test_cancel_stops_the_retrieve_and_keeps_a_partial_study(loaded, transport, method):
    pacs = connect(dataclasses.replace(loaded.server, transport=transport, retrieve=method))
    store = stored_study(STUDY_UID)
    arrived = []
    with pytest.raises(RetrieveCancelled, match="stopped after 3 of 12 instances \\(cancelled\\)"):
        pacs.retrieve(STUDY_UID, store, lambda done, total: arrived.append(done), lambda: len(arrived) >= 3)
    assert not store.complete and len(store.instance_uids()) == 3
    assert pacs.retrieve(STUDY_UID, store) == 9 and store.complete


def test_clear_messages_for_unknown_ae_closed_port_and_timeouts(loaded):
    server = loaded.server
    with pytest.raises(PacsError, match="refused the association.*AE title is NOT-ORTHANC"):
        connect(dataclasses.replace(server, called_ae="NOT-ORTHANC")).echo()
    with pytest.raises(PacsError, match="answered HTTP 404 to the study search \\(wrong DICOMweb URL"):
        connect(dataclasses.replace(server, transport=Transport.DICOMWEB, dicomweb_url=server.dicomweb_url + "-typo")).echo()
    loaded.stop()
    with pytest.raises(PacsError, match="nothing accepts DICOM connections"):
        connect(server).echo()
    with pytest.raises(PacsError, match="nothing answers at http://127.0.0.1"):
        connect(dataclasses.replace(server, transport=Transport.DICOMWEB)).echo()


def test_server_stopping_mid_retrieve_leaves_a_partial_study_and_a_retry_resumes(loaded):
    pacs = connect(loaded.server)
    store = stored_study(STUDY_UID)

    def stop_after_four(done: int, total: int) -> None:
        if done == 4:
            loaded.process.kill()

    with pytest.raises(PacsError, match="stopped after|connection"):
        pacs.retrieve(STUDY_UID, store, stop_after_four)
    assert not store.complete and "partial" in store.status()
    before = len(store.instance_uids())
    assert 0 < before < 12
    loaded.start()
    received = pacs.retrieve(STUDY_UID, store)
    assert store.complete and len(store.instance_uids()) == 12
    assert received <= 12


def test_the_readme_command_sequence_round_trip(loaded, tmp_path, monkeypatch):
    """The README's PACS commands, as a user types them: add, echo, find, get, analyze --dicom-out, send,
    find --study (the results beside the CT), info (the SEG/SR read back with their findings)."""
    import subprocess
    import sys

    monkeypatch.setenv("LUNGLENS_CONFIG_DIR", str(tmp_path / "config"))
    server = loaded.server
    run = lambda *a: subprocess.run([sys.executable, "-m", "inference.cli", *a], capture_output=True, text=True, timeout=300)  # noqa: E731
    assert run("pacs", "add", "o", "--host", "127.0.0.1", "--port", str(server.port), "--timeout", "10").returncode == 0
    assert "echo ok" in run("pacs", "echo", "o").stdout
    assert STUDY_UID in run("pacs", "find", "o", "--date", "19000101-29991231", "--modality", "CT").stdout
    got = run("pacs", "get", "o", STUDY_UID)
    assert got.returncode == 0 and "complete (12 instances)" in got.stdout
    folder = got.stdout.split()[0]
    analysed = run("analyze", folder, "--dicom-out", str(tmp_path / "results"))
    assert analysed.returncode == 0, analysed.stderr
    sent = run("pacs", "send", "o", str(tmp_path / "results"))
    assert sent.returncode == 0 and "stored" in sent.stdout
    series = run("pacs", "find", "o", "--study", STUDY_UID).stdout
    assert all(f"  {modality}  " in series for modality in ("CT", "SEG", "SR", "DOC")), series
    shutil.copytree(tmp_path / "results", tmp_path / "with-results" / "results")
    shutil.copytree(folder, tmp_path / "with-results" / "images")
    info = run("info", str(tmp_path / "with-results")).stdout
    assert "lung_mask_seg.dcm: SEG 'LungLens lung mask (research use)' on series" in info and "Model verdict" in info
    wrong = run("pacs", "echo", "nobody")
    assert wrong.returncode == 1 and "no PACS named 'nobody'" in wrong.stderr


@pytest.mark.parametrize("transport", [Transport.DIMSE, Transport.DICOMWEB])
def test_a_store_that_cannot_be_written_is_a_clear_error(loaded, transport):
    pacs = connect(dataclasses.replace(loaded.server, transport=transport))
    store = stored_study(STUDY_UID)
    store.folder.mkdir(parents=True)
    (series,) = pacs.find_series(STUDY_UID)
    (store.folder / series.series_uid).write_text("a file where the series folder should be")
    with pytest.raises(PacsError, match="stopped after 0 of 12 instances \\(cannot write into the local study store"):
        pacs.retrieve(STUDY_UID, store)
    assert not store.complete
