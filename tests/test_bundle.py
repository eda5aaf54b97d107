"""The standalone desktop bundle builds and passes its smoke test (packaging/smoke_test.sh).

About 1.5 min on 2 cores (PyInstaller ~1 min, the frozen app's checks ~20 s); the bundle is built
into a temporary folder that is removed afterwards (it is ~0.5 GB, twice over with the smoke copy).
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the smoke test runs the Linux bundle"),
]


def test_bundle_builds_and_runs_the_demo_and_models_without_python():
    with tempfile.TemporaryDirectory(prefix="lunglens-bundle-") as scratch:
        done = subprocess.run(
            ["bash", str(ROOT / "packaging" / "smoke_test.sh"), f"{scratch}/dist", f"{scratch}/build"],
            env={**os.environ, "PYTHON": sys.executable},
            capture_output=True,
            text=True,
            timeout=540,
        )
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-6000:]}"
    assert "SMOKE TEST PASSED" in done.stdout
