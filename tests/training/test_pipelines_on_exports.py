"""The inference pipeline on models exported by the real training export (not hand-built graphs):
what the CT pipeline reports for a slice equals the torch network's softmax and autograd Grad-CAM
on the same preprocessed slice, and the exported 3D U-Net runs on the cube the pipeline builds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from inference.lung_segmentation import prepare_ct_cube, resample_to_cube
from inference.phantoms import make_ct_phantom
from inference.pipelines.analysis import analyze_study, choose_models
from inference.preprocessing import InputSpec, crop_to_lungs, ct_to_uint8, prepare_ct_crops
from inference.registry import inspect_model
from inference.runtime import load_session
from inference.study import CTVolume
from inference.training.checkpoint import build_from_checkpoint, save_checkpoint
from inference.training.export import example_feeds, export_checkpoint
from inference.training.gradcam import autograd_gradcam
from inference.training.networks import MASK_LABELS, build_network, network_config
from inference.training.trained_like import trained_like

SPACING = (10.0, 6.0, 6.0)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _export(tmp_path: Path, method: str, spec: InputSpec, **config) -> tuple[Path, object]:
    segmentation = method == "unet3d"
    config = network_config(method, **config)
    torch.manual_seed(0)
    model = build_network(method, **config)
    feeds = example_feeds(spec, method, method == "M4", count=4, seed=5)
    trained_like(model, *(torch.from_numpy(v) for v in feeds.values()))
    checkpoint = save_checkpoint(
        tmp_path / f"{method}.pt", model=model, method=method, model_config=config,
        classes=tuple(MASK_LABELS.values()) if segmentation else ("COVID", "NonCOVID"),
        modality="CT", input_spec=spec, epoch=1,
    )
    report = export_checkpoint(checkpoint, tmp_path / "models")
    return checkpoint, inspect_model(Path(report.manifest_path), "user")


@pytest.fixture(scope="module")
def volume():
    hu, _ = make_ct_phantom((24, 64, 64), SPACING, seed=4)
    return CTVolume(hu=hu, spacing=SPACING, origin=(0.0, 0.0, 0.0), direction=np.eye(3),
                    slice_positions=np.array([[0.0, 0.0, z * SPACING[0]] for z in range(24)]), uid="2.25.4")


@pytest.mark.slow
def test_ct_pipeline_matches_torch_on_an_exported_m4(tmp_path, volume):
    spec = InputSpec(size=64, window=(1500.0, -600.0))
    checkpoint, status = _export(tmp_path, "M4", spec, backbone="resnet18")
    assert status.usable, status.problem
    analysis = analyze_study(volume, choose_models([status], "CT", lung_mask="classical"), device="cpu")
    opinion = analysis.opinion(status.id)
    index = int(np.flatnonzero(opinion.analysed)[len(np.flatnonzero(opinion.analysed)) // 2])

    box = opinion.crop_box(index)
    assert box is not None and box[2] < volume.shape[1]  # the phantom's air and table are cut away
    model = build_from_checkpoint(checkpoint)
    batch, regions = prepare_ct_crops([crop_to_lungs(ct_to_uint8(volume.hu[index]))], spec)
    assert crop_to_lungs(ct_to_uint8(volume.hu[index])).box == box
    image, mask = torch.from_numpy(batch), torch.from_numpy(regions)
    with torch.no_grad():
        expected = torch.softmax(model(image, mask) / status.manifest.temperature, dim=1).numpy()[0]
    np.testing.assert_allclose(opinion.probabilities[index], expected, atol=1e-4)

    reference = autograd_gradcam(model, image, mask)[0].numpy()
    reference = reference / np.maximum(reference.max(axis=(1, 2), keepdims=True), 1e-12)
    np.testing.assert_allclose(opinion.cams[index].astype(np.float32), reference, atol=2e-3)
    shown = int(np.argmax(opinion.cams[index].max(axis=(1, 2))))  # a class with evidence on this slice
    on_slice = opinion.cam_on_slice(index, shown)
    assert on_slice.shape == volume.shape[1:] and on_slice.max() > 0
    outside = np.ones(on_slice.shape, dtype=bool)
    outside[box[0] : box[0] + box[2], box[1] : box[1] + box[3]] = False
    assert not on_slice[outside].any()


def test_exported_unet3d_runs_on_the_pipeline_cube(tmp_path, volume):
    spec = InputSpec(size=32, channels=1, mean=(0.5,), std=(0.25,), window=(1500.0, -600.0))
    checkpoint, status = _export(tmp_path, "unet3d", spec)
    session = load_session(status.manifest, status.onnx_path, "cpu")
    cube = prepare_ct_cube(resample_to_cube(volume, spec.size), spec)
    logits = session.run(cube)["logits"]
    with torch.no_grad():
        expected = build_from_checkpoint(checkpoint)(torch.from_numpy(cube)).numpy()
    assert logits.shape == (1, 3, 32, 32, 32)
    np.testing.assert_allclose(logits, expected, atol=1e-3, rtol=1e-3)
    # whole pipeline: an untrained U-Net's mask is either used or refused as implausible, never a crash
    analysis = analyze_study(volume, choose_models([status], "CT"), device="cpu")
    assert analysis.lung_mask.labels.shape == volume.shape
    assert analysis.lung_mask.model_id == status.id or any("implausible lung mask" in w for w in analysis.warnings)
