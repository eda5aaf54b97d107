"""TLS against a real Orthanc on loopback that speaks only TLS (DICOM TLS wanting a client certificate,
HTTPS for DICOMweb), with certificates of a CA the test makes: echo, find and retrieve succeed with the
CA and LungLens's certificate in the server's settings; without them, or to the wrong kind of port,
each failure is one PacsError in words, never a traceback."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from inference.loading import load_path
from inference.pacs import tls
from inference.pacs.connection import connect
from inference.pacs.query import StudyQuery
from inference.pacs.servers import PacsError, RetrieveMethod, Transport
from inference.pacs.store import stored_study
from tests.dicom.tools import phantom_ct_study

STUDY_UID = "1.2.826.0.1.3680043.8.498.4343"


@pytest.fixture
def loaded(orthanc_tls, tmp_path, monkeypatch):
    monkeypatch.setenv("LUNGLENS_STORE_DIR", str(tmp_path / "store"))
    orthanc_tls.upload(sorted(phantom_ct_study(tmp_path / "source", study_uid=STUDY_UID).glob("*")))
    return orthanc_tls


@pytest.mark.parametrize("transport, method", [(Transport.DIMSE, RetrieveMethod.GET), (Transport.DIMSE, RetrieveMethod.MOVE),
                                               (Transport.DICOMWEB, RetrieveMethod.GET)], ids=["C-GET", "C-MOVE", "DICOMweb"])
def test_echo_find_and_retrieve_over_tls(loaded, transport, method):
    server = dataclasses.replace(loaded.server, transport=transport, retrieve=method)
    assert server.uses_tls and "TLS" in server.describe() or server.dicomweb_url.startswith("https://")
    pacs = connect(server)
    pacs.echo()
    assert [s.study_uid for s in pacs.find_studies(StudyQuery(patient_id="LUNGLENS-PHANTOM"))] == [STUDY_UID]
    store = stored_study(STUDY_UID)
    assert pacs.retrieve(STUDY_UID, store) == 12 and store.complete
    assert load_path(store.folder)[0][0].shape == (12, 64, 64)


@pytest.mark.parametrize("transport", [Transport.DIMSE, Transport.DICOMWEB])
def test_a_client_without_the_ca_is_told_the_certificate_is_not_trusted(loaded, transport):
    server = dataclasses.replace(loaded.server, transport=transport, ca_certificate="")
    with pytest.raises(PacsError, match="the certificate of .* is not trusted \\(.*checked against the system's certificates\\); "
                                        "give the CA certificate that signed it"):
        connect(server).echo()


def test_tls_failures_in_words(loaded, tmp_path):
    server = loaded.server
    with pytest.raises(PacsError, match="TLS handshake with 127.0.0.1:\\d+ failed: the server wants a client certificate"):
        connect(dataclasses.replace(server, client_certificate="", client_key="")).echo()
    with pytest.raises(PacsError, match="the certificate of 127.0.0.2:\\d+ is not for that name"):
        connect(dataclasses.replace(server, host="127.0.0.2")).echo()  # loopback too, not in the certificate
    with pytest.raises(PacsError, match="cannot read the CA certificate \\(.*nowhere.pem\\)"):
        connect(dataclasses.replace(server, ca_certificate=str(tmp_path / "nowhere.pem"))).echo()
    with pytest.raises(PacsError, match="cannot read the CA certificate"):
        connect(dataclasses.replace(server, transport=Transport.DICOMWEB, ca_certificate=str(tmp_path / "nowhere.pem"))).echo()
    with pytest.raises(PacsError, match="turn TLS on in the server's settings"):
        connect(dataclasses.replace(server, tls=False)).echo()  # plain DICOM to a TLS port
    with pytest.raises(PacsError, match="C-MOVE over TLS has the PACS connect to LungLens, which then needs its own certificate"):
        tls.storage_context(dataclasses.replace(server, retrieve=RetrieveMethod.MOVE, client_certificate=""))
    unverified = dataclasses.replace(server, ca_certificate="", verify=False)
    connect(unverified).echo()  # verification off: it connects, and says so wherever the server is shown
    assert "certificate NOT verified" in unverified.describe()


def test_a_plain_dicom_port_asked_for_tls(orthanc):
    server = dataclasses.replace(orthanc.server, tls=True)
    with pytest.raises(PacsError, match="TLS handshake with 127.0.0.1:\\d+ failed: the server (closed the connection during the "
                                        "handshake: does that port speak TLS\\?|does not answer in TLS there)"):
        connect(server).echo()


def test_the_command_line_over_tls(loaded, tmp_path, monkeypatch):
    monkeypatch.setenv("LUNGLENS_CONFIG_DIR", str(tmp_path / "config"))
    server = loaded.server
    run = lambda *a: subprocess.run([sys.executable, "-m", "inference.cli", "pacs", *a],  # noqa: E731
                                    capture_output=True, text=True, timeout=120)
    added = run("add", "secure", "--port", str(server.port), "--timeout", "10", "--tls", "--ca-certificate", server.ca_certificate,
                "--client-certificate", server.client_certificate, "--client-key", server.client_key)
    assert added.returncode == 0, added.stderr
    echo = run("echo", "secure")
    assert echo.returncode == 0 and "echo ok" in echo.stdout and "TLS" in echo.stdout, echo.stderr
    assert run("add", "untrusting", "--port", str(server.port), "--timeout", "10", "--tls").returncode == 0
    refused = run("echo", "untrusting")
    assert refused.returncode == 1 and "is not trusted" in refused.stderr and "Traceback" not in refused.stderr
    web = run("add", "secure-web", "--transport", "dicomweb", "--dicomweb-url", server.dicomweb_url,
              "--ca-certificate", server.ca_certificate)
    assert web.returncode == 0 and "echo ok" in run("echo", "secure-web").stdout
