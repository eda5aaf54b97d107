"""A round trip against a real Orthanc on loopback: echo, find, get, analyse, send the results back."""

from __future__ import annotations

import dataclasses

import pytest

from inference.dicom_out.write import write_dicom_results
from inference.loading import load_path
from inference.pacs.dimse import StudyQuery, echo, find_series, find_studies, get_study, send
from inference.pacs.servers import PacsError
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


def test_echo_find_get_analyse_and_send_back(loaded, tmp_path):
    server = loaded.server
    echo(server)
    studies = find_studies(server, StudyQuery(study_date="19000101-29991231", modality="CT"))
    assert [str(s.StudyInstanceUID) for s in studies] == [STUDY_UID]
    assert find_studies(server, StudyQuery(patient_id="nobody-has-this")) == []
    assert [s.Modality for s in find_series(server, STUDY_UID)] == ["CT"]

    store = stored_study(STUDY_UID)
    assert get_study(server, STUDY_UID, store) == 12 and store.complete
    images, _ = load_path(store.folder)
    assert images[0].shape == (12, 64, 64)

    image, analysis = analysed(store.folder)
    files = write_dicom_results(analysis, image, tmp_path / "results")
    assert send(server, files) == len(files)
    modalities = {s.Modality for s in find_series(server, STUDY_UID)}
    assert {"CT", "SEG", "SR", "DOC"} <= modalities
    assert len(loaded.rest("/studies")) == 1  # the results joined the study, not a new one


def test_clear_messages_for_unknown_ae_closed_port_and_timeouts(loaded):
    server = loaded.server
    with pytest.raises(PacsError, match="refused the association.*AE title is NOT-ORTHANC"):
        echo(dataclasses.replace(server, called_ae="NOT-ORTHANC"))
    loaded.stop()
    with pytest.raises(PacsError, match="nothing accepts DICOM connections"):
        echo(server)


def test_server_stopping_mid_retrieve_leaves_a_partial_study_and_a_retry_resumes(loaded):
    server = loaded.server
    store = stored_study(STUDY_UID)

    def stop_after_four(done: int, total: int) -> None:
        if done == 4:
            loaded.process.kill()

    with pytest.raises(PacsError, match="stopped after|connection"):
        get_study(server, STUDY_UID, store, stop_after_four)
    assert not store.complete and "partial" in store.status()
    before = len(store.instance_uids())
    assert 0 < before < 12
    loaded.start()
    received = get_study(server, STUDY_UID, store)
    assert store.complete and len(store.instance_uids()) == 12
    assert received <= 12


def test_pacs_commands_echo_find_get_send(loaded, tmp_path, monkeypatch):
    import subprocess
    import sys

    monkeypatch.setenv("LUNGLENS_CONFIG_DIR", str(tmp_path / "config"))
    server = loaded.server
    cli = [sys.executable, "-m", "inference.cli", "pacs"]
    run = lambda *a: subprocess.run([*cli, *a], capture_output=True, text=True, timeout=120)  # noqa: E731
    assert run("add", "o", "--host", "127.0.0.1", "--port", str(server.port), "--timeout", "10").returncode == 0
    assert "C-ECHO ok" in run("echo", "o").stdout
    assert STUDY_UID in run("find", "o", "--modality", "CT").stdout
    got = run("get", "o", STUDY_UID)
    assert got.returncode == 0 and "complete (12 instances)" in got.stdout
    wrong = run("echo", "nobody")
    assert wrong.returncode == 1 and "no PACS named 'nobody'" in wrong.stderr
