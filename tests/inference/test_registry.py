"""The registry reports every broken model with its reason and keeps the others usable."""

from __future__ import annotations

import importlib.resources
import os
import json
from pathlib import Path

import pytest

from inference import registry
from inference.testing.tiny_models import classifier_onnx, install


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
    assert not found["broken"].usable and "not valid JSON" in found["broken"].problem
    assert found["good"].usable


def test_manifest_missing_fields_is_skipped(model_dir):
    data = json.loads((model_dir / "good.json").read_text())
    del data["outputs"]
    data["id"] = "partial"
    (model_dir / "partial.json").write_text(json.dumps(data))
    assert "is missing" in statuses(model_dir)["partial"].problem


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


def _manifest(model_dir) -> dict:
    return json.loads((model_dir / "good.json").read_text())


@pytest.mark.parametrize(
    "damage",
    [
        lambda m: {**m, "inputs": ["image"]},
        lambda m: {**m, "outputs": "logits"},
        lambda m: {**m, "temperature": float("nan")},
        lambda m: {**m, "temperature": "warm"},
        lambda m: {**m, "threshold": {**m["threshold"], "value": "high"}},
        lambda m: {**m, "threshold": {**m["threshold"], "value": 7.0}},
        lambda m: {**m, "preprocessing": {**m["preprocessing"], "size": 10**7}},
        lambda m: {**m, "preprocessing": {**m["preprocessing"], "std": [0.0]}},
        lambda m: {**m, "classes": "COVID"},
        lambda m: {**m, "id": {"nested": 1}},
    ],
)
def test_a_malformed_manifest_is_skipped_with_a_reason_and_the_others_keep_working(model_dir, damage):
    bad = damage(_manifest(model_dir))
    bad["id"] = bad["id"] if isinstance(bad["id"], dict) else "bad"
    (model_dir / "bad.json").write_text(json.dumps(bad, allow_nan=True))
    found = statuses(model_dir)
    assert not found["bad"].usable and found["bad"].problem
    assert found["good"].usable


def test_non_utf8_deeply_nested_and_huge_manifests_are_reasons_not_crashes(model_dir):
    (model_dir / "latin.json").write_bytes(b'{"id": "latin", "version": "\xff"}')
    (model_dir / "deep.json").write_text("[" * 100000 + "]" * 100000)
    (model_dir / "huge.json").write_text(" " * (3 << 20) + "{}")
    found = statuses(model_dir)
    assert "not UTF-8" in found["latin"].problem
    assert "nested too deeply" in found["deep"].problem or "not valid JSON" in found["deep"].problem
    assert "larger than" in found["huge"].problem
    assert found["good"].usable


def test_a_named_pipe_in_the_model_folder_does_not_hang_discovery(model_dir):
    os.mkfifo(model_dir / "pipe.json")
    os.mkfifo(model_dir / "other.onnx")
    found = statuses(model_dir)
    assert "not a regular file" in found["pipe"].problem and found["good"].usable


def test_a_linked_model_file_or_external_data_outside_the_folder_is_refused(model_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    install(elsewhere, classifier_onnx(32, [-1.0, 1.0]), "linked")
    for suffix in (".json", ".md"):
        (model_dir / f"linked{suffix}").write_bytes((elsewhere / f"linked{suffix}").read_bytes())
    (model_dir / "linked.onnx").symlink_to(elsewhere / "linked.onnx")
    assert "symbolic link" in statuses(model_dir)["linked"].problem

    import onnx

    model = classifier_onnx(32, [-1.0, 1.0])
    onnx.save_model(model, model_dir / "ext.onnx", save_as_external_data=True, location="ext.bin", size_threshold=0)
    install_manifest_for(model_dir, "ext")
    assert statuses(model_dir)["ext"].usable  # external data beside it, covered by the hash
    (model_dir / "ext.bin").write_bytes((model_dir / "ext.bin").read_bytes()[:-4] + b"\0\0\0\0")
    assert "does not match" in statuses(model_dir)["ext"].problem  # the hash covers the external file

    proto = onnx.load(model_dir / "ext.onnx", load_external_data=False)
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../elsewhere/linked.onnx"
    (model_dir / "ext.onnx").write_bytes(proto.SerializeToString())
    install_manifest_for(model_dir, "ext")
    assert "outside its folder" in statuses(model_dir)["ext"].problem


def install_manifest_for(model_dir, model_id: str) -> None:
    """Rewrite ``good``'s manifest for ``model_id`` with the hash the registry expects of its files."""
    data = _manifest(model_dir)
    data["id"] = model_id
    try:
        data["sha256"] = registry.model_sha256(model_dir / f"{model_id}.onnx")
    except registry.UnsafeModelFile:
        data["sha256"] = "0" * 64
    (model_dir / f"{model_id}.json").write_text(json.dumps(data))
    (model_dir / f"{model_id}.md").write_text(f"# {model_id}\n")


def test_task_and_modality_are_enums_read_and_written_as_the_same_strings(model_dir):
    """The manifest's strings become Task and Modality members, and saving it again writes the same bytes."""
    from inference.manifest import ModelManifest, Task
    from inference.study import Modality

    path = model_dir / "good.json"
    manifest = ModelManifest.load(path)
    assert manifest.task is Task.CLASSIFICATION and manifest.modality is Modality.CT
    again = model_dir / "again.json"
    manifest.save(again)
    assert again.read_bytes() == path.read_bytes()
