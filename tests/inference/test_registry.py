"""The registry reports every broken model with its reason and keeps the others usable."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

import pytest

from inference import registry
from tests.inference.tiny_models import classifier_onnx, install


@pytest.fixture
def model_dir(tmp_path):
    directory = tmp_path / "models"
    install(directory, classifier_onnx(32, [-1.0, 1.0]), "good")
    return directory


def statuses(directory):
    return {s.id: s for s in registry.discover_models([("user", directory)])}


def test_good_model_is_usable(model_dir):
    good = statuses(model_dir)["good"]
    assert good.usable and good.status == "ok" and good.notes == ()
    assert good.to_json()["classes"] == ["NonCOVID", "COVID"] and good.to_json()["reason"] is None


def test_corrupt_manifest_is_skipped_with_reason(model_dir):
    (model_dir / "broken.json").write_text("{ not json")
    found = statuses(model_dir)
    assert not found["broken"].usable and "cannot read manifest" in found["broken"].problem
    assert found["good"].usable


def test_manifest_missing_fields_is_skipped(model_dir):
    data = json.loads((model_dir / "good.json").read_text())
    del data["outputs"]
    data["id"] = "partial"
    (model_dir / "partial.json").write_text(json.dumps(data))
    assert "missing or malformed" in statuses(model_dir)["partial"].problem


def test_model_file_that_does_not_match_its_sha256_is_skipped(model_dir):
    install(model_dir, classifier_onnx(32, [-1.0, 1.0]), "swapped")
    (model_dir / "swapped.onnx").write_bytes((model_dir / "swapped.onnx").read_bytes()[:-10])
    swapped = statuses(model_dir)["swapped"]
    assert not swapped.usable and "does not match its manifest" in swapped.problem
    assert statuses(model_dir)["good"].usable


def test_unreadable_and_missing_model_files(model_dir, monkeypatch):
    install(model_dir, classifier_onnx(32, [-1.0, 1.0]), "locked")
    install(model_dir, classifier_onnx(32, [-1.0, 1.0]), "gone")
    (model_dir / "gone.onnx").unlink()
    real = registry.file_sha256

    def refuse(path, *args):
        if path.name == "locked.onnx":
            raise PermissionError(13, "Permission denied")
        return real(path, *args)

    monkeypatch.setattr(registry, "file_sha256", refuse)
    monkeypatch.setattr(registry, "_SHA_CACHE", {})
    found = statuses(model_dir)
    assert "cannot read locked.onnx: Permission denied" in found["locked"].problem
    assert "gone.onnx is missing" in found["gone"].problem
    assert found["good"].usable


def test_onnx_without_manifest_and_id_mismatch(model_dir):
    (model_dir / "orphan.onnx").write_bytes(b"\x08\x09")
    data = json.loads((model_dir / "good.json").read_text())
    (model_dir / "renamed.json").write_text(json.dumps(data))
    (model_dir / "renamed.onnx").write_bytes((model_dir / "good.onnx").read_bytes())
    found = {s.manifest_path.stem: s for s in registry.discover_models([("user", model_dir)])}
    assert "no manifest orphan.json" in found["orphan"].problem
    assert "does not match its file name" in found["renamed"].problem


def test_missing_model_card_is_a_note_not_a_failure(tmp_path):
    status = install(tmp_path, classifier_onnx(32, [-1.0, 1.0]), "nocard", card=False)
    assert status.usable and status.notes == ("model card nocard.md is missing",)


def test_user_model_shadows_bundled_model_of_same_id(tmp_path, model_dir):
    bundled = tmp_path / "bundled"
    install(bundled, classifier_onnx(32, [1.0, -1.0]), "good")
    found = registry.discover_models([("user", model_dir), ("bundled", bundled)])
    assert [s.source for s in found if s.usable] == ["user"]
    assert "shadowed by the user model" in [s for s in found if s.source == "bundled"][0].problem
    assert registry.find_model("good", found).source == "user"


def test_find_model_by_id_or_path(model_dir):
    found = list(statuses(model_dir).values())
    assert registry.find_model(str(model_dir / "good.onnx")).id == "good"
    with pytest.raises(registry.ModelNotFound, match="usable models: good"):
        registry.find_model("nope", found)


def test_user_dir_from_environment_and_bundled_dir_from_package(tmp_path, monkeypatch):
    monkeypatch.setenv(registry.MODEL_DIR_ENV, str(tmp_path))
    assert registry.user_model_dir() == tmp_path
    monkeypatch.delenv(registry.BUNDLED_DIR_ENV)
    assert registry.bundled_model_dir().parts[-2:] == ("resources", "models")
    monkeypatch.setenv(registry.BUNDLED_DIR_ENV, str(tmp_path / "pack"))
    assert registry.bundled_model_dir() == tmp_path / "pack"


def test_the_shipped_pack_is_valid_and_found_where_the_package_is(monkeypatch):
    """Every model committed to resources/models passes the registry's checks (manifest, sha256, card)."""
    monkeypatch.delenv(registry.BUNDLED_DIR_ENV)
    pack = Path(str(importlib.resources.files("resources"))) / "models"
    assert registry.bundled_model_dir() == pack
    shipped = registry.discover_models([("bundled", pack)])
    assert {p.stem for p in pack.glob("*.onnx")} == {s.manifest.id for s in shipped if s.usable}
    assert all(s.usable and s.card_path.exists() for s in shipped), [s.problem for s in shipped]
    # the pack's budget (issue 7): what a fresh clone downloads and the desktop bundle carries
    assert sum(f.stat().st_size for f in pack.iterdir() if f.is_file()) <= 200_000_000
