"""Reading DICOM results back: a SEG in a study folder lands on the series it segments, exactly where
it was drawn; an SR from LungLens gives its findings; other non-image objects are still listed, and
a damaged or foreign result is listed with why, never crashed on. Objects come from LungLens's writer."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest

from inference.cli import main
from inference.dicom_in.objects import DicomInError
from inference.dicom_in.reading import read_result
from inference.dicom_in.segmentation import PlacedSegmentation
from inference.loading import load_study

from .tools import studies_with_results


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("dicom-in")
    return root, *studies_with_results(root)


def _result(study, name: str):
    return next(r for r in study.results if r.path.endswith(name))


def test_seg_and_sr_are_results_not_skipped_and_other_objects_stay_listed(written):
    root, _, _ = written
    study = load_study(root / "ct")
    kinds = sorted((r.kind.value, r.path.rsplit("/", 1)[-1]) for r in study.results)
    assert kinds == [("SEG", "gradcam_ct_masked_seg.dcm"), ("SEG", "gradcam_ct_plain_seg.dcm"), ("SEG", "lung_mask_seg.dcm"),
                     ("SR", "measurement_report_sr.dcm")]
    assert [(s.path.rsplit("/", 1)[-1], s.reason) for s in study.skipped] == [
        ("report_pdf.dcm", "not an image: Encapsulated PDF Storage (Modality DOC)")]
    assert study.images[0].shape == (12, 64, 64)


def test_lung_mask_seg_lands_on_its_series_slice_by_slice_with_the_lung_labels(written):
    root, analysis, _ = written
    study = load_study(root / "ct")
    ct = next(i for i in study.images if i.modality.value == "CT")
    placed = PlacedSegmentation(_result(study, "lung_mask_seg.dcm"), ct)
    labels, names = placed.labels()
    assert names == {1: "Right lung", 2: "Left lung"}
    assert labels.shape == ct.shape and np.array_equal(labels, analysis.lung_mask.labels)
    per_slice = (labels > 0).sum(axis=(1, 2))
    assert len(set(per_slice.tolist())) > 2  # the slices differ, so a reversed order would not pass


def test_gradcam_seg_gives_each_class_map_back(written):
    root, analysis, _ = written
    study = load_study(root / "ct")
    ct = next(i for i in study.images if i.modality.value == "CT")
    placed = PlacedSegmentation(_result(study, "gradcam_ct_plain_seg.dcm"), ct)
    opinion = next(o for o in analysis.opinions if o.model_id == "ct_plain")
    assert placed.fractional and [s.label for s in placed.segments] == [f"Grad-CAM {c}" for c in opinion.classes]
    for k, segment in enumerate(placed.segments):
        expected = opinion.cam_volume(k).astype(int)
        assert np.abs(placed.fraction(segment.number).astype(int) - expected).max() <= 1


def test_lunglens_sr_reads_back_its_findings(written):
    root, analysis, _ = written
    study = load_study(root / "ct")
    reading = read_result(_result(study, "measurement_report_sr.dcm"), study.images)
    assert reading.by_lunglens and reading.image is study.images[0] and not reading.problem
    for opinion in analysis.opinions:
        line = next(line for line in reading.lines if line.startswith(f"model {opinion.model_id}:"))
        assert f"Model verdict {opinion.verdict.label}" in line
    assert any(line.startswith("reader measurement 1 (length): Length 300 millimeter") for line in reading.lines)


def test_xray_results_land_on_the_radiograph(written):
    root, _, analysis = written
    study = load_study(root / "xr")
    xr = next(i for i in study.images if any("cxr" in f for f in i.source_files))
    placed = PlacedSegmentation(_result(study, "gradcam_xr_cls_seg.dcm"), xr)
    expected = analysis.opinions[0].cam_volume(0).astype(int)
    assert np.abs(placed.fraction(1).astype(int) - expected).max() <= 1
    assert read_result(_result(study, "measurement_report_sr.dcm"), study.images).image is xr


def test_results_without_their_images_and_damaged_ones_are_listed_with_why(written, tmp_path):
    root, _, _ = written
    alone = load_study(root / "ct" / "results")  # the results without the images they refer to
    readings = {r.path.rsplit("/", 1)[-1]: read_result(r, alone.images) for r in alone.results}
    assert readings["gradcam_ct_plain_seg.dcm"].problem == "segments no open image"
    assert readings["measurement_report_sr.dcm"].problem == "refers to no open image"
    assert readings["measurement_report_sr.dcm"].lines  # its findings are still read

    shutil.copytree(root / "ct", tmp_path / "ct")
    seg = tmp_path / "ct" / "results" / "lung_mask_seg.dcm"
    seg.write_bytes(seg.read_bytes()[:-300])  # cut short inside its frames
    study = load_study(tmp_path / "ct")
    assert study.images[0].shape == (12, 64, 64)
    reading = read_result(_result(study, "lung_mask_seg.dcm"), study.images)  # the header still reads
    assert reading.lines == ("segment 1: Right lung (binary)", "segment 2: Left lung (binary)")
    with pytest.raises(DicomInError, match="frames cannot be placed"):
        PlacedSegmentation(_result(study, "lung_mask_seg.dcm"), study.images[0]).labels()


def test_info_lists_results_with_their_findings(written, capsys):
    root, analysis, _ = written
    assert main(["info", str(root / "ct")]) == 0
    out = capsys.readouterr().out
    assert "results:" in out and "lung_mask_seg.dcm: SEG 'LungLens lung mask (research use)' on series" in out
    assert "segment 1: Right lung (binary)" in out
    assert f"model ct_plain: Model verdict {next(o for o in analysis.opinions if o.model_id == 'ct_plain').verdict.label}" in out
    assert "report_pdf.dcm: not an image" in out
    assert main(["info", str(root / "ct"), "--json"]) == 0
    import json

    document = json.loads(capsys.readouterr().out)
    sr = next(r for r in document["results"] if r["kind"] == "SR")
    assert sr["by_lunglens"] and sr["series"] == document["series"][0]["uid"]
    assert pydicom.dcmread(sr["path"]).Modality == "SR"
