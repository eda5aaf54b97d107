"""Export: ONNX parity with torch, Grad-CAM in the graph equal to autograd Grad-CAM, the manifest and
model card, refusal of a wrong graph, the `lunglens export` command and the INT8 variant."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from PIL import Image

from inference.cli import main
from inference.manifest import ModelManifest, file_sha256
from inference.preprocessing import InputSpec
from inference.training.checkpoint import build_from_checkpoint, save_checkpoint
from inference.training.export import (
    CAM_TOLERANCE,
    PROBABILITY_TOLERANCE,
    ExportError,
    example_feeds,
    export_checkpoint,
)
from inference.training.gradcam import CamExportModule, autograd_gradcam
from inference.training.networks import MASK_LABELS, build_network, is_segmentation, network_config
from inference.training.networks.common import LinearHead
from inference.training.trained_like import trained_like

SIZE = 64
XR_CLASSES = ("COVID", "Normal", "Viral_Pneumonia")
CT_CLASSES = ("COVID", "NonCOVID")


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _checkpoint(directory: Path, method: str, modality: str, extra: dict | None = None, **config) -> Path:
    """A checkpoint of a network that behaves like a trained one, as `lunglens train` would save it."""
    spec = InputSpec(size=32, channels=1, mean=(0.5,), std=(0.25,)) if method == "unet3d" else InputSpec(size=SIZE)
    classes = XR_CLASSES if modality == "XR" else CT_CLASSES
    if not is_segmentation(method):
        config.setdefault("num_classes", len(classes))
    config = network_config(method, **config)
    torch.manual_seed(0)  # random initial weights decide how many class maps are blank: fix them
    model = build_network(method, **config)
    feeds = example_feeds(spec, method, method == "M4", count=4, seed=5)
    trained_like(model, *(torch.from_numpy(value) for value in feeds.values()))
    return save_checkpoint(
        directory / f"{method}.pt", model=model, method=method, model_config=config,
        classes=tuple(MASK_LABELS.values()) if is_segmentation(method) else classes[: config["num_classes"]],
        modality=modality, input_spec=spec, epoch=12, extra=extra or {},
    )


METHODS = [
    ("baseline", "XR"),
    ("M1", "CT"),
    ("M2", "XR"),
    ("M3", "CT"),
    ("M4", "CT"),
    pytest.param("M5", "XR", marks=pytest.mark.slow),  # ~30 s: tracing ResNet-v2-152 dominates
    ("unet2d", "XR"),
    ("unet3d", "CT"),
]


@pytest.mark.parametrize(("method", "modality"), METHODS)
def test_exported_model_matches_torch_and_its_gradcam_matches_autograd(tmp_path, method, modality):
    path = _checkpoint(tmp_path, method, modality, **({"num_classes": 2} if method == "M5" else {}))
    report = export_checkpoint(path, tmp_path / "models")

    assert report.probability_tolerance == PROBABILITY_TOLERANCE  # not widened: float32 noise is below it
    assert report.probability_max_abs_diff <= PROBABILITY_TOLERANCE
    manifest = ModelManifest.load(Path(report.manifest_path))
    assert manifest.sha256 == file_sha256(Path(report.onnx_path))
    assert Path(report.card_path).read_text().startswith(f"# {manifest.id}")

    # independently of the export's own check: other inputs, another batch size
    model = build_from_checkpoint(path)
    feeds = example_feeds(manifest.preprocessing, method, manifest.uses_lung_mask, count=3, seed=42)
    session = onnxruntime.InferenceSession(report.onnx_path, providers=["CPUExecutionProvider"])
    onnx_outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
    tensors = [torch.from_numpy(feeds[name]) for name in manifest.inputs]
    with torch.no_grad():
        logits = model(*tensors)
    probabilities = torch.softmax(torch.from_numpy(onnx_outputs[manifest.outputs["logits"]]), dim=1)
    torch.testing.assert_close(probabilities, torch.softmax(logits, dim=1), atol=PROBABILITY_TOLERANCE, rtol=0)
    if manifest.task == "segmentation":
        assert set(onnx_outputs) == {"logits"} and manifest.mask_labels == MASK_LABELS
        return
    # CAM_TOLERANCE, or 4x torch's own float32-vs-float64 Grad-CAM difference where the class maps
    # cancel strongly (M5's signed 1x1-conv maps): still far below any formula or graph error
    assert report.cam_max_abs_diff <= report.cam_tolerance <= 10 * CAM_TOLERANCE
    cam = torch.from_numpy(onnx_outputs[manifest.outputs["cam"]])
    reference = autograd_gradcam(model, *tensors)
    assert cam.shape == reference.shape and cam.shape[:2] == (3, len(manifest.classes))
    scale = reference.amax(dim=(2, 3), keepdim=True).clamp_min(1e-3 * reference.amax())
    assert ((cam - reference).abs() / scale).max() <= report.cam_tolerance
    # the comparison means something: every image has a non-blank map (a class with evidence)
    assert (reference.amax(dim=(2, 3)) > 0).any(dim=1).all()


@pytest.mark.parametrize("method", ["baseline", "M1", "M2", "M3", "M4", "M5"])
def test_closed_form_gradcam_is_exactly_autograd_gradcam_in_float64(method):
    """The formula itself, free of float32 noise: the exported arithmetic is Grad-CAM."""
    spec = InputSpec(size=SIZE)
    feeds = example_feeds(spec, method, method == "M4", count=2, seed=3)
    tensors = [torch.from_numpy(value) for value in feeds.values()]
    model = trained_like(build_network(method), *tensors).double()
    tensors = [t.double() for t in tensors]
    with torch.no_grad():
        logits, cam = CamExportModule(model)(*tensors)
    torch.testing.assert_close(logits, model(*tensors))
    reference = autograd_gradcam(model, *tensors)
    assert reference.amax() > 0
    torch.testing.assert_close(cam, reference, rtol=1e-9, atol=1e-12 * reference.amax().item())


def test_manifest_and_model_card_carry_calibration_provenance_and_caveats(tmp_path):
    extra = {
        "temperature": 1.7,
        "threshold": {"value": 0.42, "positive_class": "COVID", "chosen_on": "validation", "rule": "youden"},
        "metrics": {
                "test": {"accuracy": 0.81, "accuracy_ci95": [0.72, 0.88], "per_class": {"COVID": {"sensitivity": 0.9}},
                     "confusion_matrix": [[1]]}
        },
        "git_commit": "abc123",
        "training": {"data": "xray", "split_rule": "perceptual-hash groups", "split_file": "split.json",
                     "pretrained": "backbone of a LungLens baseline XR model (xr-baseline.pt, epoch 12)",
                     "schedule": "cosine", "precision": "fp32", "learning_rate": 1e-4},
        "history": [{"epoch": 1, "val_loss": 0.7}],
    }
    path = _checkpoint(tmp_path, "baseline", "XR", extra=extra, backbone="resnet18")
    report = export_checkpoint(path, tmp_path / "models", model_id="xr-baseline")
    manifest = ModelManifest.load(Path(report.manifest_path))
    assert (manifest.id, manifest.task, manifest.modality) == ("xr-baseline", "classification", "XR")
    assert manifest.temperature == 1.7 and manifest.positive_index == 0 and manifest.threshold.value == 0.42
    assert manifest.inputs == {"image": "image"} and manifest.outputs == {"logits": "logits", "cam": "cam"}
    assert manifest.max_slice_thickness_mm is None
    assert manifest.training["code_commit"] == "abc123" and manifest.training["history"][0]["epoch"] == 1
    assert manifest.training["split_rule"] == "perceptual-hash groups"
    assert manifest.metrics["test"]["accuracy"] == 0.81
    assert "COVID-19 Radiography Database" in manifest.licence and manifest.licence.startswith("research use")
    card = Path(report.card_path).read_text()
    assert "paediatric" in card and "77.2 %" in card and "not comparable" in card
    assert "| ours | accuracy 0.810 (95% CI 0.720-0.880) (held-out test split) |" in card
    assert "Started from: backbone of a LungLens baseline XR model" in card and "(cosine schedule), fp32" in card
    assert "X-ray features, not natural-image features" in card
    assert "| test accuracy | 0.81 |" in card and "| test per_class COVID sensitivity | 0.9 |" in card

    ct = export_checkpoint(_checkpoint(tmp_path, "M4", "CT", backbone="resnet18"), tmp_path / "models")
    ct_manifest = ModelManifest.load(Path(ct.manifest_path))
    assert ct_manifest.uses_lung_mask and ct_manifest.max_slice_thickness_mm == 5.0
    assert ct_manifest.domain["max_slice_thickness_mm"] == 5.0 and ct_manifest.domain["contrast"] is False
    assert "slices up to 5 mm" in Path(ct.card_path).read_text()


def test_a_volume_model_card_names_its_validation_volumes_and_headline_dice(tmp_path):
    extra = {
        "metrics": {"val": {"dice_right": 0.98, "dice_left": 0.97, "dice_mean": 0.975}},
        "training": {"data": "ct_series", "split_rule": "", "volumes": {"train": ["phantom-1", "real-7"], "val": ["phantom-0"]}},
    }
    report = export_checkpoint(_checkpoint(tmp_path, "unet3d", "CT", extra=extra), tmp_path / "models")
    card = Path(report.card_path).read_text()
    assert "Input: 1 x 32 x 32 x 32 " in card
    assert "validation phantom-0; training phantom-1, real-7" in card
    assert "| ours | dice mean 0.975 (held-out validation split, no test split) |" in card


def test_a_graph_whose_gradcam_is_wrong_is_refused_and_nothing_is_written(tmp_path, monkeypatch):
    path = _checkpoint(tmp_path, "baseline", "XR", backbone="resnet18")
    # a channel mix-up in the closed-form Grad-CAM weights: logits stay right, the maps do not
    monkeypatch.setattr(LinearHead, "jacobian", lambda self, pooled: self.fc.weight.flip(1).expand(len(pooled), -1, -1))
    out = tmp_path / "models"
    with pytest.raises(ExportError, match="Grad-CAM differs from autograd"):
        export_checkpoint(path, out)
    assert list(out.iterdir()) == []


def test_lunglens_export_command(tmp_path, capsys):
    path = _checkpoint(tmp_path, "M2", "XR", backbone="resnet18")
    out = tmp_path / "models"
    assert main(["export", str(path), "--out", str(out), "--id", "m2-test", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model_id"] == "m2-test" and report["probability_max_abs_diff"] <= PROBABILITY_TOLERANCE
    assert sorted(p.name for p in out.iterdir()) == ["m2-test.json", "m2-test.md", "m2-test.onnx"]

    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"\x00" * 64)
    assert main(["export", str(broken), "--out", str(out)]) == 1
    assert "broken.pt is not a readable weights-only checkpoint" in capsys.readouterr().err
    assert main(["export", str(path), "--out", str(out), "--id", "../escape"]) == 1
    assert "model id" in capsys.readouterr().err
    assert main(["export", str(path), "--out", str(out), "--int8"]) == 1
    assert "--calibration" in capsys.readouterr().err


def test_int8_export_is_calibrated_on_class_folders_and_reports_its_change(tmp_path, capsys):
    path = _checkpoint(tmp_path, "baseline", "XR", backbone="resnet18")
    rng = np.random.default_rng(0)
    calibration = tmp_path / "calibration"
    for index, name in enumerate(XR_CLASSES):
        (calibration / name).mkdir(parents=True)
        for i in range(4):
            pixels = np.clip(rng.normal(60 + 60 * index, 30, size=(80, 70)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(calibration / name / f"{i}.png")
    (calibration / "COVID" / "notes.png").write_text("not an image")  # skipped, not fatal
    out = tmp_path / "models"
    assert main(["export", str(path), "--out", str(out), "--int8", "--calibration", str(calibration)]) == 0
    assert "INT8" in capsys.readouterr().out

    report = export_checkpoint(path, tmp_path / "again", int8=True, calibration_dir=calibration)
    int8 = report.int8
    assert int8.calibration_images == 12 and int8.evaluation_images == 12  # fewer than the cap: reused
    assert 0.0 <= int8.int8_accuracy <= 1.0 and 0.0 <= int8.fp32_accuracy <= 1.0
    assert int8.top1_agreement >= 0.5 and int8.probability_max_abs_diff < 0.5 and int8.cam_mean_abs_diff < 0.25
    # 7-bit weights: this CPU's integer kernels stay within rounding of the exact arithmetic, as on any CPU
    # (measured: 0.007 with 7-bit weights; 0.064 with full-range weights on an AVX2 CPU without VNNI)
    assert int8.kernel_vs_exact_probability_max_abs_diff < 0.025
    manifest = ModelManifest.load(Path(int8.manifest_path))
    assert manifest.id == "baseline-xr-int8" and manifest.sha256 == file_sha256(Path(int8.onnx_path))
    assert manifest.metrics["int8_vs_fp32"]["top1_agreement"] == int8.top1_agreement
    session = onnxruntime.InferenceSession(int8.onnx_path, providers=["CPUExecutionProvider"])
    graph = onnx.load(int8.onnx_path).graph
    assert any(node.op_type == "QuantizeLinear" for node in graph.node)
    # 7-bit weights: the u8 x s8 kernels of CPUs without VNNI cannot saturate, so every CPU gives the same answer
    weights = [onnx.numpy_helper.to_array(t) for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert len(weights) > 10 and all(w.min() >= -64 and w.max() <= 64 for w in weights)
    logits, cam = session.run(None, example_feeds(manifest.preprocessing, "baseline", False, count=2))
    assert logits.shape == (2, 3) and cam.shape == (2, 3, 2, 2)
