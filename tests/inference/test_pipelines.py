"""CT and X-ray pipelines end to end on synthetic studies with tiny ONNX models."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from inference.cache import ResultCache
from inference.jobs import Cancelled
from inference.metrics import dice
from inference.pipelines.analysis import analyze_study, choose_models
from inference.preprocessing import InputSpec
from inference.runtime import ModelError
from tests.inference.synthetic import chest_phantom, ct_volume, xray_phantom
from inference.testing.tiny_models import CT_SPEC, classifier_onnx, install, install_ct_models, segmenter_onnx


@pytest.fixture(scope="module")
def ct_models(tmp_path_factory):
    return install_ct_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def phantom():
    hu, truth = chest_phantom(lesion=True)
    return ct_volume(hu), truth


def test_ct_with_classical_mask_skips_slices_without_lung(ct_models, phantom):
    volume, truth = phantom
    steps = []
    choice = choose_models(list(ct_models.values()), "CT", lung_mask="classical")
    analysis = analyze_study(volume, choice, progress=lambda f, s: steps.append((f, s)))
    assert analysis.lung_mask.source == "classical"
    assert min(dice(analysis.lung_mask.labels, truth, (1, 2)).values()) > 0.95
    lung_slices = np.flatnonzero(truth.any(axis=(1, 2)))
    for opinion in analysis.opinions:
        analysed = np.flatnonzero(opinion.analysed)
        assert set(analysed) <= set(lung_slices) and len(analysed) >= len(lung_slices) - 4
        assert np.isnan(opinion.probabilities[0]).all() and np.isnan(opinion.probabilities[-1]).all()
        assert np.allclose(opinion.probabilities[analysed].sum(axis=1), 1.0, atol=1e-5)
        assert opinion.cams.shape == (24, 2, 4, 4) and opinion.cams.max() <= 1.0
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("ct_masked" in s for _, s in steps)


def test_mask_weighted_model_sees_the_lesion_and_its_cam_points_at_it(ct_models, phantom):
    volume, truth = phantom
    analysis = analyze_study(volume, choose_models(list(ct_models.values()), "CT", ["ct_masked"], "classical"))
    opinion = analysis.opinion("ct_masked")
    hu, _ = chest_phantom(lesion=False)
    clean = analyze_study(ct_volume(hu), choose_models(list(ct_models.values()), "CT", ["ct_masked"], "classical"))
    # the ground-glass ball sits in the left lung of the middle slices: denser lung, more "COVID"
    middle = volume.shape[0] // 2
    assert opinion.probabilities[middle, 1] > clean.opinion("ct_masked").probabilities[middle, 1]
    cam = opinion.cam_on_slice(middle, "COVID")
    assert cam.shape == volume.shape[1:] and cam.dtype == np.float32
    lesion_side = cam[:, volume.shape[2] // 2 :].mean()
    assert lesion_side > cam[:, : volume.shape[2] // 2].mean()
    assert opinion.verdict.label in ("COVID", "NonCOVID") and opinion.verdict.slices_used == opinion.analysed.sum()


def test_ct_with_unet_mask_and_consensus(ct_models, phantom):
    volume, _ = phantom
    analysis = analyze_study(volume, choose_models(list(ct_models.values()), "CT"))
    mask = analysis.lung_mask
    assert mask.source == "model" and mask.model_id == "ct_unet" and mask.labels.shape == volume.shape
    right_x, left_x = (np.nonzero(mask.labels == k)[2].mean() for k in (1, 2))
    assert right_x < left_x  # the tiny U-Net puts the right lung at low x, and it survives the round trip
    assert analysis.consensus.voters == 2
    assert analysis.lung.volume_ml["total"] > 0
    assert {o.model_id for o in analysis.opinions} == {"ct_plain", "ct_masked"}


def test_ct_input_warnings(ct_models, tmp_path):
    hu, _ = chest_phantom()
    thick = install(tmp_path, classifier_onnx(32, [-1.0, 1.0]), "thin_only", max_slice_thickness_mm=3.0)
    choice = choose_models([thick, *ct_models.values()], "CT", ["thin_only"], "classical")
    analysis = analyze_study(ct_volume(hu), choice)
    note = "model thin_only: outside the training domain: slices are 5.0 mm thick, the training data at most 3 mm"
    assert note in analysis.warnings and analysis.opinion("thin_only").warnings == (note,)
    not_hu = ct_volume((hu.astype(np.int32) + 1024).clip(0).astype(np.int16))
    warnings = analyze_study(not_hu, choice).warnings
    assert any("does not look like CT in Hounsfield units" in w for w in warnings)
    assert any("no lung found" in w for w in warnings)


def test_no_lung_means_no_verdict_not_a_guess(ct_models):
    hu, truth = chest_phantom()
    hu[truth > 0] = 40
    analysis = analyze_study(ct_volume(hu), choose_models(list(ct_models.values()), "CT", ["ct_plain"], "classical"))
    verdict = analysis.opinion("ct_plain").verdict
    assert verdict.label is None and "no slice" in verdict.reason
    assert analysis.consensus.label is None
    doc = analysis.to_json()
    assert doc["results"]["ct_plain"]["per_slice"][0] == [None, None]


def test_cancel_stops_the_analysis(ct_models, phantom):
    volume, _ = phantom
    event = threading.Event()
    event.set()
    with pytest.raises(Cancelled):
        analyze_study(volume, choose_models(list(ct_models.values()), "CT"), cancel=event)
    calls = []

    def cancel_after_mask():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        analyze_study(volume, choose_models(list(ct_models.values()), "CT", lung_mask="classical"), cancel=cancel_after_mask)


def test_broken_model_is_reported_and_the_others_still_run(ct_models, phantom, tmp_path):
    volume, _ = phantom
    broken = install(tmp_path, classifier_onnx(32, [-1.0, 1.0]), "broken_ct")
    broken.onnx_path.write_bytes(b"garbage" * 50)  # corrupted after the registry checked it
    choice = choose_models([broken, *ct_models.values()], "CT", ["broken_ct", "ct_plain"], "classical")
    analysis = analyze_study(volume, choice)
    assert [o.model_id for o in analysis.opinions] == ["ct_plain"]
    assert any("model broken_ct" in w and "no opinion" in w for w in analysis.warnings)


def test_choose_models_rules(ct_models, tmp_path):
    xr = install(tmp_path, classifier_onnx(32, [-1.0, 1.0]), "xr_model", modality="XR")
    twin = install(tmp_path, classifier_onnx(32, [-1.0, 1.0]), "ct_plain-int8")
    statuses = [*ct_models.values(), xr, twin]
    assert [c.id for c in choose_models(statuses, "CT").classifiers] == ["ct_masked", "ct_plain-int8"]
    choice = choose_models(statuses, "CT", ["ct_plain", "xr_model"])
    assert [c.id for c in choice.classifiers] == ["ct_plain"] and choice.segmenter.id == "ct_unet"
    assert "model xr_model is for XR images, this study is CT: skipped" in choice.warnings
    with pytest.raises(LookupError, match="not installed"):
        choose_models(statuses, "CT", ["nope"])
    with pytest.raises(LookupError, match="not a usable CT segmentation model"):
        choose_models(statuses, "CT", lung_mask="ct_plain")


@pytest.fixture(scope="module")
def xray_models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("xr")
    grey = InputSpec(size=64, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    return [
        install(directory, segmenter_onnx(64, 2, (0.15, 0.42), channels=3), "xr_unet", task="segmentation",
                modality="XR", method="unet2d", spec=grey),
        install(directory, classifier_onnx(32, [-1.0, 1.0, 0.5]), "xr_three", modality="XR",
                classes=("Normal", "Viral", "COVID")),
        install(directory, classifier_onnx(32, [-1.0, 1.0], with_mask=True), "xr_masked", modality="XR", method="M4"),
    ]


def test_xray_pipeline_with_lung_mask(xray_models):
    image, truth = xray_phantom((128, 112))
    analysis = analyze_study(image, choose_models(xray_models, "XR"))
    assert analysis.lung_mask.model_id == "xr_unet" and analysis.lung_mask.labels.shape == image.shape
    # a thresholding "U-Net" misses the lung behind the heart, but right and left land where they belong
    assert min(dice(analysis.lung_mask.labels, truth, (1, 2)).values()) > 0.7
    assert {o.model_id for o in analysis.opinions} == {"xr_three", "xr_masked"}
    three = analysis.opinion("xr_three")
    assert three.probabilities.shape == (1, 3) and math.isclose(float(three.probabilities.sum()), 1.0, rel_tol=1e-5)
    assert three.cam_on_slice(0, 2).shape == image.shape
    doc = analysis.to_json()
    assert len(doc["results"]["xr_three"]["per_slice"]) == 1 and doc["lung"]["volume_ml"]["right"] is None


def test_xray_without_unet_skips_mask_weighted_models(xray_models):
    image, _ = xray_phantom()
    analysis = analyze_study(image, choose_models(xray_models, "XR", ["xr_three", "xr_masked"], lung_mask="classical"))
    assert analysis.lung_mask is None
    assert [o.model_id for o in analysis.opinions] == ["xr_three"]
    assert "no X-ray lung segmentation model in use: no lung mask" in analysis.warnings
    assert any("xr_masked" in w and "lung mask" in w for w in analysis.warnings)


def test_implausible_unet_mask_falls_back_to_classical(ct_models, phantom, tmp_path):
    volume, truth = phantom
    everything = install(tmp_path, segmenter_onnx(32, 3, (-10.0, 10.0)), "all_lung", task="segmentation",
                         method="unet3d", spec=ct_models["ct_unet"].manifest.preprocessing)
    choice = choose_models([everything, ct_models["ct_plain"]], "CT", lung_mask="all_lung")
    cache = ResultCache(tmp_path / "cache")
    analysis = analyze_study(volume, choice, cache=cache)
    assert analysis.lung_mask.source == "classical"
    assert any("all_lung: implausible lung mask" in w and "classical lung segmentation instead" in w for w in analysis.warnings)
    assert "implausible" in analysis.lung_mask.note
    # the refusal is cached with the mask: the next analysis neither reruns the U-Net nor forgets why
    again = analyze_study(volume, choice, cache=cache)
    assert again.lung_mask.note == analysis.lung_mask.note and analysis.lung_mask.note in again.warnings
    assert again.opinion("ct_plain").from_cache
    assert min(dice(analysis.lung_mask.labels, truth, (1, 2)).values()) > 0.95


@pytest.mark.parametrize("slices", [1, 2])
def test_one_or_two_slice_ct_is_analysed(ct_models, slices):
    hu, truth = chest_phantom(shape=(24, 64, 64), spacing=(1.25, 6.0, 6.0))
    volume = ct_volume(hu[12 : 12 + slices], spacing=(1.25, 6.0, 6.0))
    for lung_mask in ("ct_unet", "classical"):
        analysis = analyze_study(volume, choose_models(list(ct_models.values()), "CT", ["ct_plain"], lung_mask))
        assert analysis.lung_mask.labels.shape == volume.shape
        assert analysis.opinion("ct_plain").probabilities.shape == (slices, 2)
    assert min(dice(analysis.lung_mask.labels, truth[12 : 12 + slices], (1, 2)).values()) > 0.9


def test_a_failing_site_unet_gives_way_to_the_next_installed_one(xray_models, tmp_path):
    image, truth = xray_phantom((128, 112))
    grey = xray_models[0].manifest.preprocessing
    broken = install(tmp_path, segmenter_onnx(64, 2, (0.15, 0.42), channels=3), "site_unet", task="segmentation",
                     modality="XR", method="unet2d", spec=grey)
    broken.onnx_path.write_bytes(b"not a model" * 20)  # damaged after the registry looked
    choice = choose_models([broken, *xray_models], "XR")
    assert choice.segmenter.id == "site_unet" and [s.id for s in choice.fallback_segmenters] == ["xr_unet"]
    analysis = analyze_study(image, choice)
    assert analysis.lung_mask.model_id == "xr_unet"
    assert any("site_unet" in w and "using xr_unet instead" in w for w in analysis.warnings)


def test_a_renamed_copy_of_a_model_votes_once_and_skipped_models_are_named(ct_models, tmp_path):
    plain = ct_models["ct_plain"]
    copy = install(tmp_path, classifier_onnx(32, [-2.0, 2.0]), "ct_plain_copy", spec=plain.manifest.preprocessing)
    assert copy.manifest.sha256 == plain.manifest.sha256
    broken = install(tmp_path, classifier_onnx(32, [-1.0, 1.0]), "broken")
    broken = type(broken)(broken.id, broken.manifest_path, "user", None, "manifest broken.json is not valid JSON")
    choice = choose_models([plain, copy, broken], "CT")
    assert [c.id for c in choice.classifiers] == ["ct_plain"]
    assert "model ct_plain_copy is the same file as ct_plain: run and counted once" in choice.warnings
    assert any(w.startswith("model broken not used: ") for w in choice.warnings)


def test_a_series_unlike_the_training_data_gets_a_note_beside_each_model_verdict(ct_models, tmp_path):
    from dataclasses import replace

    from inference.study import Acquisition

    hu, _ = chest_phantom()
    model = install(tmp_path, classifier_onnx(32, [-1.0, 1.0]), "chest_only", spec=CT_SPEC)
    manifest = replace(model.manifest, domain={"max_slice_thickness_mm": 5.0, "contrast": False})
    model = replace(model, manifest=manifest)
    choice = choose_models([model], "CT", ["chest_only"], "classical")
    plain = analyze_study(ct_volume(hu), choice)
    assert plain.opinion("chest_only").warnings == ()  # 5 mm is inside the domain
    contrast = replace(ct_volume(hu), acquisition=Acquisition(contrast_agent="IOHEXOL", body_part="ABDOMEN"))
    notes = analyze_study(contrast, choice).opinion("chest_only").warnings
    assert any("contrast-enhanced series (IOHEXOL)" in n for n in notes)
    assert any("of the abdomen, not the chest" in n for n in notes)
    assert all(n.startswith("model chest_only: outside the training domain: ") for n in notes)
    long = np.concatenate([np.full((60, *hu.shape[1:]), 40, np.int16), hu, np.full((60, *hu.shape[1:]), 40, np.int16)])
    notes = analyze_study(ct_volume(long), choice).opinion("chest_only").warnings
    assert any("not a chest CT as trained on" in n for n in notes)


def test_a_lung_cropped_xray_model_sees_only_the_lungs_and_says_nothing_on_an_implausible_mask(tmp_path):
    from inference.jobs import Job
    from inference.pipelines.results import LungMask
    from inference.pipelines.xray import classify, mask_problem
    from inference.runtime import open_session

    image, truth = xray_phantom((128, 112))
    cropped = install(tmp_path, classifier_onnx(32, [-1.0, 1.0, 0.5]), "xr_lungs", modality="XR",
                      classes=("Normal", "Viral", "COVID"), spec=InputSpec(size=32, mean=(0.0,), std=(1.0,), crop="lungs"))
    mask = LungMask(truth.astype(np.uint8), "model", "truth", "1")
    assert mask_problem(mask.labels) == ""
    opinion = classify(image, mask, open_session(cropped), Job())
    top, left, height, width = opinion.crop_box(0)
    rows, cols = np.nonzero(truth)
    assert height < image.shape[0] and top <= rows.min() and left <= cols.min()  # cropped to the lungs
    cam = opinion.cam_on_slice(0, "COVID")
    outside = np.ones(cam.shape, bool)
    outside[top : top + height, left : left + width] = False
    assert cam.max() > 0 and not cam[outside].any()
    one_lung = LungMask(np.where(truth == 2, 0, truth).astype(np.uint8), "model", "truth", "1")
    assert "no left lung" in mask_problem(one_lung.labels)
    with pytest.raises(ModelError, match="implausible"):
        classify(image, one_lung, open_session(cropped), Job())
