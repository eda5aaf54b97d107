"""ONNX Runtime sessions: the provider really used is reported, GPU requests fail or fall back clearly."""

from __future__ import annotations

import numpy as np
import pytest

from inference import runtime
from inference.testing.tiny_models import classifier_onnx, install


@pytest.fixture
def model(tmp_path):
    return install(tmp_path, classifier_onnx(32, [-1.0, 1.0]), "tiny")


def test_cpu_session_reports_its_provider_and_runs(model):
    session = runtime.load_session(model.manifest, model.onnx_path, "cpu")
    assert session.provider == "CPUExecutionProvider" and session.device == "cpu" and session.note == ""
    assert session.batch_size == runtime.DEFAULT_BATCH_SIZE["cpu"]
    out = session.run(np.zeros((3, 3, 32, 32), np.float32))
    assert out["logits"].shape == (3, 2) and out["cam"].shape == (3, 2, 4, 4)


def test_auto_falls_back_to_cpu_with_a_note_when_cuda_is_not_usable(model, monkeypatch):
    # onnxruntime-gpu on a machine without a GPU lists CUDA but runs on the CPU.
    monkeypatch.setattr(runtime.ort, "get_available_providers", lambda: [runtime.CUDA, runtime.CPU])
    session = runtime.load_session(model.manifest, model.onnx_path, "auto")
    assert session.device == "cpu" and "no usable GPU" in session.note


def test_gpu_is_strict(model, monkeypatch):
    with pytest.raises(runtime.DeviceUnavailable, match="no CUDA provider"):
        runtime.load_session(model.manifest, model.onnx_path, "gpu")
    monkeypatch.setattr(runtime.ort, "get_available_providers", lambda: [runtime.CUDA, runtime.CPU])
    with pytest.raises(runtime.DeviceUnavailable, match="fell back"):
        runtime.load_session(model.manifest, model.onnx_path, "gpu")
    with pytest.raises(ValueError):
        runtime.requested_providers("tpu")


def test_sessions_are_reused_per_model_and_device(model):
    pool = runtime.SessionPool()
    first = pool.open(model, "cpu")
    assert pool.open(model, "cpu") is first
    assert pool.open(model, "auto") is not first


def test_corrupt_model_file_gives_an_error_naming_the_model(model):
    model.onnx_path.write_bytes(b"definitely not protobuf" * 20)
    with pytest.raises(runtime.ModelError, match="model tiny: onnxruntime cannot load tiny.onnx"):
        runtime.load_session(model.manifest, model.onnx_path, "cpu")


def test_graph_that_disagrees_with_its_manifest_is_refused(tmp_path):
    wrong_size = install(tmp_path, classifier_onnx(32, [-1.0, 1.0]), "wrong")
    manifest = wrong_size.manifest
    from dataclasses import replace

    bigger = replace(manifest, preprocessing=replace(manifest.preprocessing, size=64))
    with pytest.raises(runtime.ModelError, match="does not match the manifest size 64"):
        runtime.load_session(bigger, wrong_size.onnx_path, "cpu")
    renamed = replace(manifest, outputs={"logits": "scores", "cam": "cam"})
    with pytest.raises(runtime.ModelError, match="no output 'scores'"):
        runtime.load_session(renamed, wrong_size.onnx_path, "cpu")


def test_thread_count_fits_the_machine(monkeypatch):
    monkeypatch.delenv(runtime.THREADS_ENV, raising=False)
    assert 1 <= runtime.thread_count() <= (__import__("os").cpu_count() or 1)
    monkeypatch.setenv(runtime.THREADS_ENV, "3")
    assert runtime.thread_count() == 3
