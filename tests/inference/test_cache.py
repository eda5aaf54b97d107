"""The result cache: hits, misses, invalidation, private and atomic files."""

from __future__ import annotations

import dataclasses
import stat

import numpy as np
import pytest

from inference import cache as cache_module
from inference.cache import ResultCache, cache_key, study_digest
from inference.pipelines.analysis import analyze_study, choose_models
from tests.inference.synthetic import chest_phantom, ct_volume
from inference.testing.tiny_models import classifier_onnx, install, install_ct_models


@pytest.fixture
def store(tmp_path):
    return ResultCache(tmp_path / "cache")


def test_put_get_roundtrip_with_private_atomic_files(store):
    key = cache_key("x", 1)
    assert store.get(key) is None
    store.put(key, {"a": np.arange(5, dtype=np.int16)}, {"note": "ok", "n": [1, 2]})
    arrays, meta = store.get(key)
    assert arrays["a"].tolist() == [0, 1, 2, 3, 4] and meta == {"note": "ok", "n": [1, 2]}
    files = [p for p in store.root.rglob("*") if p.is_file()]
    assert len(files) == 1 and not files[0].name.startswith(".tmp")
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    for directory in (store.root, store.results_dir, files[0].parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert files[0].stem == key  # a hash: the name says nothing about the patient


def test_corrupt_entry_is_a_miss_and_is_removed(store):
    key = cache_key("y")
    store.put(key, {"a": np.zeros(3)}, {})
    path = next(store.results_dir.rglob("*.npz"))
    path.write_bytes(b"half a file")
    assert store.get(key) is None and not path.exists()


def test_info_clear_and_size_cap(tmp_path):
    small = ResultCache(tmp_path / "c", max_bytes=3000)
    for i in range(5):
        small.put(cache_key("entry", i), {"noise": np.random.default_rng(i).random(200)}, {})
    info = small.info()
    assert 0 < info.entries < 5 and info.bytes <= 3000  # oldest entries aged out
    (tmp_path / "c" / "keep.txt").write_text("not ours")
    removed = small.clear()
    assert removed.entries == info.entries and small.info().entries == 0
    assert (tmp_path / "c" / "keep.txt").exists()


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(cache_module.CACHE_DIR_ENV, str(tmp_path / "elsewhere"))
    assert ResultCache().root == tmp_path / "elsewhere"


def test_study_digest_follows_content_not_just_the_uid():
    hu, _ = chest_phantom()
    volume = ct_volume(hu)
    edited = hu.copy()
    edited[0, 0, 0] += 1
    assert study_digest(volume) == study_digest(ct_volume(hu.copy()))
    assert study_digest(volume) != study_digest(ct_volume(edited))
    assert study_digest(volume) != study_digest(dataclasses.replace(volume, spacing=(2.5, 6.0, 6.0)))


def test_a_study_from_files_is_keyed_by_its_files_and_header_and_its_pixels_checked_later(tmp_path, monkeypatch):
    import os
    import time

    from inference import cache as cache_module
    from inference.loading import load_path
    from inference.phantoms import make_ct_phantom, write_ct_series

    hu, _ = make_ct_phantom((6, 32, 32), (5.0, 5.0, 5.0))
    write_ct_series(tmp_path / "study", hu, (5.0, 5.0, 5.0))
    volume = load_path(tmp_path / "study")[0][0]
    monkeypatch.setattr(cache_module, "pixel_digest", lambda image: pytest.fail("pixels hashed on the critical path"))
    key = study_digest(volume)
    assert study_digest(load_path(tmp_path / "study")[0][0]) == key  # reopened: the same study, no pixel read
    monkeypatch.undo()
    first = sorted((tmp_path / "study").iterdir())[0]
    time.sleep(0.01)
    os.utime(first)  # touched (or rewritten): a new study
    assert study_digest(volume) != key
    store = ResultCache(tmp_path / "cache")
    assert store.pixels_match(volume) and store.pixels_match(volume)  # recorded, then confirmed
    changed = dataclasses.replace(volume, hu=volume.hu + 1)  # same files and times, other pixels
    assert not store.pixels_match(changed)
    assert store.pixels_match(changed)  # the new pixels are the record from now on
    fresh = ResultCache(tmp_path / "cache", fresh=True)
    fresh.put(cache_key("x"), {"a": np.zeros(2)}, {})
    assert fresh.get(cache_key("x")) is None and store.get(cache_key("x")) is not None


def test_second_analysis_comes_from_the_cache_and_changes_invalidate_it(tmp_path, store, monkeypatch):
    models = install_ct_models(tmp_path / "models")
    volume = ct_volume(chest_phantom()[0])
    choice = choose_models(list(models.values()), "CT", ["ct_plain"], "classical")
    first = analyze_study(volume, choice, cache=store)
    assert not first.opinion("ct_plain").from_cache
    second = analyze_study(volume, choice, cache=store)
    assert second.opinion("ct_plain").from_cache
    np.testing.assert_array_equal(second.lung_mask.labels, first.lung_mask.labels)
    np.testing.assert_array_equal(second.opinion("ct_plain").probabilities, first.opinion("ct_plain").probabilities)
    assert second.opinion("ct_plain").verdict == first.opinion("ct_plain").verdict

    # a new model file under the same id (new sha256) is a miss
    retrained = install(tmp_path / "models", classifier_onnx(32, [-3.0, 3.0]), "ct_plain")
    again = analyze_study(volume, choose_models([retrained], "CT", ["ct_plain"], "classical"), cache=store)
    assert not again.opinion("ct_plain").from_cache

    # a new preprocessing contract is a miss for everything
    monkeypatch.setattr(cache_module, "PREPROCESSING_VERSION", 999)
    after = analyze_study(volume, choose_models([retrained], "CT", ["ct_plain"], "classical"), cache=store)
    assert not after.opinion("ct_plain").from_cache


def test_a_big_mask_is_stored_as_runs_and_comes_back_the_same(store):
    labels = np.zeros((40, 160, 200), np.uint8)  # 1.3 MB, mostly background
    labels[5:35, 20:140, 10:90], labels[5:35, 20:140, 110:190] = 1, 2
    noise = np.random.default_rng(0).integers(0, 255, (1200, 1000), dtype=np.uint8)  # no runs: kept as it is
    store.put(cache_key("mask"), {"labels": labels, "noise": noise, "cams": np.ones((2, 3), np.float32)}, {})
    arrays, _ = store.get(cache_key("mask"))
    assert sorted(arrays) == ["cams", "labels", "noise"]
    np.testing.assert_array_equal(arrays["labels"], labels)
    np.testing.assert_array_equal(arrays["noise"], noise)
    assert arrays["labels"].dtype == np.uint8 and arrays["labels"].shape == labels.shape
    with np.load(next(store.results_dir.rglob("*.npz"))) as data:
        assert "labels" not in data.files and "noise" in data.files  # the mask as runs, the noise as is
