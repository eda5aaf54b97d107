"""Shared fixtures: headless Qt, the real data folder beside the project, small thread counts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "2")
# Tests build their own tiny models: the shipped pack must not change what they find.
os.environ.setdefault("LUNGLENS_BUNDLED_MODEL_DIR", tempfile.mkdtemp(prefix="lunglens-no-bundled-models-"))
# Analyses in the viewer and batches join the study index: never the user's.
os.environ.setdefault("LUNGLENS_INDEX", str(Path(tempfile.mkdtemp(prefix="lunglens-test-index-")) / "worklist.sqlite"))

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LUNGLENS_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, the real images; tests that need it skip with a reason on a fresh clone without it.

    In CI (CI=true) the folder must be there, so its absence fails instead of skipping silently.
    """
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI expects the real data at {SHARED_DATA}")
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA
