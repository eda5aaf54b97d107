"""The ``orthanc`` fixture: a real Orthanc on loopback (inference/testing/orthanc.py), started per test with
a temporary configuration and storage, stopped after; ``orthanc_tls``: the same speaking only TLS (DICOM TLS
wanting a client certificate, and HTTPS) with certificates of a CA the test makes. Missing in CI (CI=true)
fails, not skips."""

from __future__ import annotations

import subprocess

import pytest

from tests.dicom.tools import require_tool
from inference.testing.certificates import make_test_certificates
from inference.testing.orthanc import Orthanc, new_orthanc


@pytest.fixture
def orthanc(tmp_path) -> Orthanc:
    instance = new_orthanc(tmp_path / "orthanc")
    instance.start(require_tool("Orthanc"))
    yield instance
    instance.stop()


def _orthanc_version(executable: str) -> tuple[int, ...]:
    first = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30).stdout.split()
    return tuple(int(part) for part in first[1].split(".")[:2]) if len(first) > 1 else (0,)


@pytest.fixture
def orthanc_tls(tmp_path) -> Orthanc:
    executable = require_tool("Orthanc")
    require_tool("openssl")
    if _orthanc_version(executable) < (1, 9):
        pytest.fail("this Orthanc has no DICOM TLS (1.9 or later has)")
    instance = new_orthanc(tmp_path / "orthanc-tls", make_test_certificates(tmp_path / "pki"))
    instance.start(executable)
    yield instance
    instance.stop()
    if instance.front is not None:
        instance.front.close()
