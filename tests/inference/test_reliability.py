"""``lunglens analyze`` when the image or the cache is not what it should be: no verdict on an image
that holds nothing to judge, and a damaged or unwritable cache never costs an analysis."""

from __future__ import annotations

import json
import stat

import numpy as np
import pytest
from PIL import Image

from inference.cache import ResultCache
from inference.cli import main
from inference.phantoms import make_xray_phantom, write_xray_png
from inference.testing.tiny_models import classifier_onnx, install


@pytest.fixture
def env(tmp_path, monkeypatch):
    models = tmp_path / "models"
    install(models, classifier_onnx(32, [-1.0, 1.0]), "xr_cls", modality="XR", classes=("Normal", "COVID"))
    monkeypatch.setenv("LUNGLENS_MODEL_DIR", str(models))
    monkeypatch.setenv("LUNGLENS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def xray(env):
    return write_xray_png(env / "study" / "chest.png", make_xray_phantom((96, 96), seed=3)[0])


def analyze(capsys, *argv) -> tuple[int, dict | None, str]:
    code = main(["analyze", *map(str, argv), "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


@pytest.mark.parametrize("size, value", [((2000, 2000), 0), ((1, 1), 128), ((40, 300), 90)], ids=["black", "1x1", "thin"])
def test_no_verdict_on_an_image_with_nothing_to_judge(capsys, env, size, value):
    path = env / "study" / "blank.png"
    path.parent.mkdir()
    Image.new("L", size[::-1], value).save(path)
    code, doc, err = analyze(capsys, path)
    assert code == 0, err
    assert doc["results"] == {} and doc["consensus"] is None
    assert any(w.startswith("no verdict: ") for w in doc["warnings"]), doc["warnings"]


def test_a_real_image_still_gets_its_verdict(capsys, env, xray):
    code, doc, err = analyze(capsys, xray)
    assert code == 0, err
    assert doc["results"]["xr_cls"]["verdict"]["label"] in ("Normal", "COVID")
    assert not any(w.startswith("no verdict") for w in doc["warnings"])


def test_an_empty_or_damaged_cache_entry_is_a_miss_not_a_failure(capsys, env, xray):
    assert analyze(capsys, xray)[0] == 0
    entries = sorted((env / "cache").rglob("*.npz"))
    assert entries
    entries[0].write_bytes(b"")
    for entry in entries[1:]:
        entry.write_bytes(entry.read_bytes()[:40])
    for _ in range(2):
        code, doc, err = analyze(capsys, xray)
        assert code == 0, err
        assert doc["results"]["xr_cls"]["verdict"]["label"] is not None


def test_an_unwritable_cache_is_switched_off_with_a_note_and_the_analysis_goes_on(capsys, env, xray, monkeypatch):
    (env / "afile").write_text("not a folder")
    monkeypatch.setenv("LUNGLENS_CACHE_DIR", str(env / "afile" / "cache"))
    code, doc, err = analyze(capsys, xray)
    assert code == 0, err
    assert doc["results"]["xr_cls"]["verdict"]["label"] is not None
    assert any(w.startswith("results are not cached") for w in doc["warnings"]), doc["warnings"]


def test_an_existing_shared_folder_keeps_its_mode_and_entries_stay_private(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    store = ResultCache(shared)
    store.put("ab" * 32, {"a": np.zeros(2)}, {})
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE(store.results_dir.stat().st_mode) == 0o700
    assert store.get("ab" * 32) is not None
