"""``lunglens analyze`` through the real command line entry point, on phantom studies written to disk."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from inference.cli import main
from inference.phantoms import make_ct_phantom, make_xray_phantom, write_ct_series, write_xray_png
from inference.preprocessing import InputSpec
from inference.testing.tiny_models import classifier_onnx, install, install_ct_models, segmenter_onnx

SPACING = (10.0, 6.0, 6.0)


@pytest.fixture(scope="module")
def ct_series(tmp_path_factory):
    hu, truth = make_ct_phantom((26, 64, 64), SPACING, seed=2)
    folder = tmp_path_factory.mktemp("study") / "series"
    write_ct_series(folder, hu, SPACING)
    return folder, truth


@pytest.fixture
def env(tmp_path, monkeypatch):
    models = tmp_path / "models"
    install_ct_models(models)
    install(models, classifier_onnx(32, [-1.0, 1.0, 0.5]), "xr_cls", modality="XR", classes=("Normal", "Viral", "COVID"))
    install(models, segmenter_onnx(32, 2, (0.1, 0.35), channels=3), "xr_unet", task="segmentation", modality="XR",
            method="unet2d", spec=InputSpec(size=32, mean=(0.0,) * 3, std=(1.0,) * 3))
    monkeypatch.setenv("LUNGLENS_MODEL_DIR", str(models))
    monkeypatch.setenv("LUNGLENS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def analyze(capsys, *argv):
    code = main(["analyze", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_ct_json_document_and_output_files(capsys, env, ct_series):
    folder, truth = ct_series
    out = env / "out"
    code, stdout, stderr = analyze(capsys, folder, "--model", "ct_plain", "--model", "ct_masked",
                                   "--lung-mask", "classical", "--json", "--out", out)
    assert code == 0, stderr
    doc = json.loads(stdout)
    assert isinstance(doc["device"], str) and doc["device"] == "cpu"
    assert [(m["id"], m["task"], m["classes"]) for m in doc["models"]] == [
        ("ct_plain", "classification", ["NonCOVID", "COVID"]),
        ("ct_masked", "classification", ["NonCOVID", "COVID"]),
    ]
    lung_slices = truth.any(axis=(1, 2))
    for model_id in ("ct_plain", "ct_masked"):
        result = doc["results"][model_id]
        rows = result["per_slice"]
        assert len(rows) == truth.shape[0] and all(len(r) == 2 for r in rows)
        analysed = [r[0] is not None for r in rows]
        assert not analysed[0] and any(analysed) and all(lung_slices[i] for i, a in enumerate(analysed) if a)
        assert all(abs(sum(r) - 1) < 1e-5 for r in rows if r[0] is not None)
        assert result["verdict"]["label"] in ("NonCOVID", "COVID") and 0 <= result["verdict"]["probability"] <= 1
    volume = doc["lung"]["volume_ml"]
    expected = {side: float(np.sum(truth == k)) * np.prod(SPACING) / 1000 for side, k in (("right", 1), ("left", 2))}
    assert volume["right"] == pytest.approx(expected["right"], rel=0.15)
    assert volume["left"] == pytest.approx(expected["left"], rel=0.15)
    assert isinstance(doc["warnings"], list) and "research use" in doc["intended_use"].lower()
    assert doc["consensus"]["voters"] == 2

    on_disk = json.loads((out / "analysis.json").read_text())
    assert on_disk["results"].keys() == doc["results"].keys()
    mask = sitk.ReadImage(str(out / "lung_mask.nii.gz"))
    assert sitk.GetArrayFromImage(mask).shape == truth.shape
    assert mask.GetSpacing() == pytest.approx(SPACING[::-1])
    cams = np.load(out / "cam_ct_masked.npz")
    assert cams["cams"].shape[:2] == (truth.shape[0], 2) and list(cams["classes"]) == ["NonCOVID", "COVID"]
    cam_volume = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "cam_ct_masked.nii.gz")))
    assert cam_volume.shape == truth.shape and cam_volume.max() > 0
    assert "lung mask" in stderr  # progress went to stderr


def test_second_analysis_is_served_from_the_cache(capsys, env, ct_series):
    folder, _ = ct_series
    args = (folder, "--model", "ct_plain", "--lung-mask", "ct_unet", "--json")
    assert json.loads(analyze(capsys, *args)[1])["results"]["ct_plain"]["from_cache"] is False
    again = json.loads(analyze(capsys, *args)[1])
    assert again["results"]["ct_plain"]["from_cache"] is True and again["lung_mask"]["model"] == "ct_unet"
    assert main(["cache", "info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 2
    assert main(["cache", "clear", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 2
    assert json.loads(analyze(capsys, *args)[1])["results"]["ct_plain"]["from_cache"] is False


def test_out_inside_the_study_is_refused_and_nothing_written(capsys, env, ct_series):
    folder, _ = ct_series
    before = sorted(p.name for p in folder.parent.rglob("*"))
    code, _, err = analyze(capsys, folder, "--out", folder / "results")
    assert code == 2 and "inside the study folder" in err
    assert sorted(p.name for p in folder.parent.rglob("*")) == before


def test_clear_errors(capsys, env, ct_series, tmp_path):
    folder, _ = ct_series
    code, _, err = analyze(capsys, tmp_path / "missing")
    assert code == 2 and "does not exist" in err
    code, _, err = analyze(capsys, folder, "--model", "nope")
    assert code == 2 and "model nope" in err
    code, _, err = analyze(capsys, folder, "--device", "gpu", "--model", "ct_plain")
    assert code == 2 and "--device gpu" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    code, _, err = analyze(capsys, empty)
    assert code == 1 and "nothing to analyse" in err


def test_xray_png_with_mask_and_human_summary(capsys, env):
    image, truth = make_xray_phantom((128, 112))
    png = write_xray_png(env / "xr" / "chest.png", image)
    out = env / "xr_out"
    code, stdout, stderr = analyze(capsys, png, "--out", out)
    assert code == 0, stderr
    assert "xr_cls" in stdout and "lung mask: xr_unet" in stdout and "Research use" in stdout
    doc = json.loads((out / "analysis.json").read_text())
    assert doc["modality"] == "XR" and len(doc["results"]["xr_cls"]["per_slice"]) == 1
    assert doc["lung"]["volume_ml"] == {"right": None, "left": None, "total": None}
    labels = np.asarray(Image.open(out / "lung_mask.png"))
    assert labels.shape == truth.shape and set(np.unique(labels)) <= {0, 1, 2}
    assert np.asarray(Image.open(out / "cam_xr_cls.png")).shape == truth.shape


def test_printed_summary_and_analysis_json_tell_the_same(capsys, env):
    """The loader's and the series choice's notes reach the file as well as the screen, and the file
    lists itself among the outputs the summary names."""
    folder = env / "two"
    for name, seed in (("a.png", 1), ("b.png", 2)):
        write_xray_png(folder / name, make_xray_phantom((96, 80), seed=seed)[0])
    (folder / "broken.png").write_bytes(b"not a png")
    out = env / "two_out"
    code, stdout, stderr = analyze(capsys, folder, "--out", out)
    assert code == 0, stderr
    doc = json.loads((out / "analysis.json").read_text())
    printed = [line.removeprefix("warning: ") for line in stdout.splitlines() if line.startswith("warning: ")]
    assert printed == doc["warnings"]
    assert any("2 series found" in w for w in printed) and any("skipped while loading" in w for w in printed)
    assert doc["outputs"]["analysis"] == "analysis.json"
    assert stdout.splitlines()[-2] == "written: " + ", ".join(doc["outputs"].values())


@pytest.mark.realdata
def test_real_series(capsys, env, shared_data):
    code, stdout, stderr = analyze(capsys, shared_data / "ct_series" / "Lung_Dx-A0001", "--model", "ct_plain",
                                   "--lung-mask", "classical", "--json")
    assert code == 0, stderr
    doc = json.loads(stdout)
    rows = doc["results"]["ct_plain"]["per_slice"]
    assert len(rows) == 64 and 40 <= sum(r[0] is not None for r in rows) < 64
    assert 1000 < doc["lung"]["volume_ml"]["right"] < 4500 and 1000 < doc["lung"]["volume_ml"]["left"] < 4500
    assert not any("no lung" in w for w in doc["warnings"])
