"""``lunglens evaluate`` on toy data sets whose metrics were worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inference.cli import main
from inference.evaluation import load_samples, read_8bit
from inference.jobs import Job
from inference.phantoms import make_ct_phantom, write_ct_series
from inference.preprocessing import InputSpec, crop_to_lungs, lung_view, ct_to_uint8
from inference.testing.tiny_models import classifier_onnx, install, segmenter_onnx


def grey(path, value, size=(40, 40)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size, value, np.uint8)).save(path)


@pytest.fixture
def brightness_model(tmp_path):
    # P(COVID) grows with brightness; it crosses 0.5 near grey 115 for ImageNet normalisation
    return install(tmp_path / "models", classifier_onnx(32, [-2.0, 2.0]), "bright")


@pytest.fixture
def toy_set(tmp_path):
    data = tmp_path / "data"
    for i, v in enumerate((20, 40, 200)):
        grey(data / "non-covid" / f"n{i}.png", v)
    for i, v in enumerate((220, 180, 30)):
        grey(data / "Covid" / f"c{i}.png", v)
    grey(data / "Lung_Opacity" / "x.png", 100)
    (data / "Covid" / "notes.txt").write_text("not an image")
    return data


def run_json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_classification_metrics_on_a_toy_set(capsys, brightness_model, toy_set):
    report = run_json(capsys, "evaluate", "--model", str(brightness_model.onnx_path), "--data", str(toy_set), "--json")
    m = report["metrics"]
    # predicted COVID for grey > ~115: normal 20 40 200 -> N N C; covid 220 180 30 -> C C N
    assert m["confusion_matrix"] == [[2, 1], [1, 2]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_class"]["COVID"]["sensitivity"] == pytest.approx(2 / 3)
    assert m["per_class"]["COVID"]["specificity"] == pytest.approx(2 / 3)
    # COVID brightness 220 180 30 vs normal 20 40 200: 3 + 2 + 1 of 9 pairs ranked right
    assert m["per_class"]["COVID"]["auc"] == pytest.approx(6 / 9)
    assert report["at_threshold"]["tp"] == 2 and report["at_threshold"]["fp"] == 1
    assert report["class_folders"] == {"Covid": "COVID", "non-covid": "NonCOVID"}
    assert any("Lung_Opacity matches no class" in w for w in report["warnings"])
    assert [s["path"].endswith("notes.txt") for s in report["skipped"]] == [True]
    assert 0 <= m["ece"] <= 1 and len(m["reliability"]) == 15


def test_map_renames_a_folder_and_human_output(capsys, brightness_model, toy_set):
    (toy_set / "non-covid").rename(toy_set / "healthy")
    assert main(["evaluate", "--model", str(brightness_model.onnx_path), "--data", str(toy_set),
                 "--map", "healthy=noncovid", "--map", "lung_opacity=COVID"]) == 0
    out = capsys.readouterr().out
    assert "on 7 images" in out and "confusion matrix" in out and "sens" in out
    assert "accuracy 0.571 (95% CI 0.250-0.842)" in out  # 4 of 7, with its Wilson interval
    assert main(["evaluate", "--model", str(brightness_model.onnx_path), "--data", str(toy_set), "--map", "x=Pneumonia"]) == 2
    assert "LABEL one of NonCOVID, COVID" in capsys.readouterr().err


def test_unknown_model_and_missing_data_are_clear_errors(capsys, tmp_path, brightness_model):
    assert main(["evaluate", "--model", "no_such_model", "--data", str(tmp_path)]) == 2
    assert "no model 'no_such_model'" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(brightness_model.onnx_path), "--data", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_segmentation_dice_on_a_toy_set(capsys, tmp_path):
    spec = InputSpec(size=32, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    model = install(tmp_path / "models", segmenter_onnx(32, 2, (70 / 255, 120 / 255), channels=3), "seg2d",
                    task="segmentation", modality="XR", method="unet2d", spec=spec)
    data = tmp_path / "seg"
    image = np.full((32, 32), 230, np.uint8)
    image[:, :8] = image[:, 24:] = 85  # lung-dark: the model calls low x right lung, high x left lung
    for name in ("a", "b"):
        (data / "images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(data / "images" / f"{name}.png")
    labelled = np.zeros((32, 32), np.uint8)
    labelled[:, :8], labelled[:, 24:] = 1, 2
    binary = np.zeros((32, 32), np.uint8)
    binary[:, :8] = 255
    (data / "masks").mkdir()
    Image.fromarray(labelled).save(data / "masks" / "a.png")
    Image.fromarray(binary).save(data / "masks" / "b.tif")
    report = run_json(capsys, "evaluate", "--model", str(model.onnx_path), "--data", str(data), "--json")
    # a: exact; b: 8 of the 16 predicted lung columns are lung in the truth -> Dice 2*8/(16+8)
    assert report["per_image"][0]["dice"] == pytest.approx({"lung": 1.0, "right": 1.0, "left": 1.0})
    assert report["per_image"][1]["dice"] == pytest.approx({"lung": 2 / 3})
    assert report["mean_dice"] == pytest.approx({"lung": (1 + 2 / 3) / 2, "right": 1.0, "left": 1.0})


def test_a_dicom_ct_slice_goes_through_the_ct_slice_contract_like_the_pipeline_does(tmp_path, brightness_model):
    hu, _ = make_ct_phantom((3, 96, 96), (2.0, 4.0, 4.0), seed=1)
    files = write_ct_series(tmp_path / "slice", hu[1:2], (2.0, 4.0, 4.0))
    pixels = read_8bit(Path(files[0]), brightness_model.manifest)
    assert np.array_equal(pixels, ct_to_uint8(hu[1]))  # the model's window, the whole slice
    (sample,), skipped = load_samples([(Path(files[0]), 1)], brightness_model.manifest, Job())
    expected, region = lung_view(crop_to_lungs(pixels), 32)
    assert not skipped and np.array_equal(sample.square, expected) and np.array_equal(sample.lung, region)
    # the lungs fill the view: the phantom's room air and table are gone
    assert (sample.lung > 0).mean() > 0.25
