"""The ``orthanc`` fixture: a real Orthanc on loopback (inference/testing/orthanc.py), started per test with
a temporary configuration and storage, stopped after. Missing in CI (CI=true) fails, not skips."""

from __future__ import annotations

import pytest

from tests.dicom.tools import require_tool
from inference.testing.orthanc import Orthanc, new_orthanc


@pytest.fixture
def orthanc(tmp_path) -> Orthanc:
    instance = new_orthanc(tmp_path / "orthanc")
    instance.start(require_tool("Orthanc"))
    yield instance
    instance.stop()
