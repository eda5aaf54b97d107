"""Batch fixtures: tiny models for both modalities, a private index and cache, a 30-study phantom archive."""

from __future__ import annotations

import pytest

from inference.phantom_archive import write_phantom_archive
from tests.batch.models import install_batch_models

ARCHIVE_STUDIES = 30


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    return install_batch_models(tmp_path_factory.mktemp("batch-models"))


@pytest.fixture(scope="session")
def archive(tmp_path_factory):
    return write_phantom_archive(tmp_path_factory.mktemp("archive") / "studies", ARCHIVE_STUDIES)


@pytest.fixture
def private(tmp_path, monkeypatch, tiny_models):
    """This test's own index and cache; the tiny models only. Child processes inherit the environment."""
    monkeypatch.setenv("LUNGLENS_MODEL_DIR", str(tiny_models))
    monkeypatch.setenv("LUNGLENS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LUNGLENS_INDEX", str(tmp_path / "index.sqlite"))
    return tmp_path
