"""Batch fixtures: tiny models for both modalities, a private index and cache, a 30-study phantom archive."""

from __future__ import annotations

import pytest

from inference.phantom_archive import write_phantom_archive
from inference.preprocessing import InputSpec
from tests.inference.tiny_models import classifier_onnx, install, install_ct_models, segmenter_onnx

ARCHIVE_STUDIES = 30


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch-models")
    install_ct_models(folder)
    install(folder, classifier_onnx(32, [-1.0, 1.0, 0.5]), "xr_cls", modality="XR", classes=("Normal", "Viral", "COVID"))
    install(folder, segmenter_onnx(32, 2, (0.1, 0.35), channels=3), "xr_unet", task="segmentation", modality="XR",
            method="unet2d", spec=InputSpec(size=32, mean=(0.0,) * 3, std=(1.0,) * 3))
    return folder


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
