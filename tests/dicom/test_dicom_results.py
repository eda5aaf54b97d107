"""LungLens results as DICOM: every object valid by dciodvfy, read back by highdicom and by LungLens,
in the source study, in new series that say research use."""

from __future__ import annotations

import json
import subprocess
import sys

import highdicom as hd
import numpy as np
import pydicom
import pytest

from inference.dicom_in.report import read_report
from inference.dicom_out.write import write_dicom_results

from .tools import analysed, dciodvfy_errors, install_models, phantom_ct_study, phantom_xray, reader_measurements


@pytest.fixture(autouse=True)
def _models(tmp_path, monkeypatch):
    install_models(tmp_path / "models")
    monkeypatch.setenv("LUNGLENS_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LUNGLENS_CACHE_DIR", str(tmp_path / "cache"))


def _check_common(files, source_study: str, source_series: str) -> None:
    for path in files:
        ds = pydicom.dcmread(path)
        assert ds.StudyInstanceUID == source_study, path.name
        assert ds.SeriesInstanceUID != source_series and "research use" in ds.SeriesDescription, path.name
        assert dciodvfy_errors(path) == [], path.name
    assert len({pydicom.dcmread(p).SeriesInstanceUID for p in files}) == len({pydicom.dcmread(p).SeriesNumber for p in files})


def test_ct_results_are_valid_dicom_read_back_by_highdicom(tmp_path):
    image, analysis = analysed(phantom_ct_study(tmp_path / "study"))
    files = write_dicom_results(analysis, image, tmp_path / "out", reader_measurements())
    names = {p.name for p in files}
    assert {"lung_mask_seg.dcm", "gradcam_ct_plain_seg.dcm", "gradcam_ct_masked_seg.dcm", "measurement_report_sr.dcm",
            "report_pdf.dcm", "key_image_ct_plain.dcm"} <= names
    _check_common(files, image.info.study_uid, image.uid)

    seg = hd.seg.segread(tmp_path / "out" / "lung_mask_seg.dcm")
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["Right lung", "Left lung"]
    assert [s.SegmentedPropertyTypeCodeSequence[0].CodeValue for s in seg.SegmentSequence] == ["3341006", "44029006"]
    referenced = {i.ReferencedSOPInstanceUID for i in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced <= set(image.sop_uids) and referenced
    labels = seg.get_volume(combine_segments=True).array  # the slices with lung, right = 1, left = 2
    for label in (1, 2):
        assert (labels == label).sum() == (analysis.lung_mask.labels == label).sum()

    cam = hd.seg.segread(tmp_path / "out" / "gradcam_ct_plain_seg.dcm")
    assert cam.SegmentationType == "FRACTIONAL" and [s.SegmentLabel for s in cam.SegmentSequence] == ["Grad-CAM NonCOVID", "Grad-CAM COVID"]

    findings = read_report(str(tmp_path / "out" / "measurement_report_sr.dcm")).lines()
    for opinion in analysis.opinions:
        line = next(f for f in findings if f.startswith(f"model {opinion.model_id}"))
        assert f"Model verdict {opinion.verdict.label}" in line and f"{opinion.verdict.probability:.3g}"[:4] in line
    assert any("Volume" in f and "Right lung" in f for f in findings)
    assert any("reader measurement 1" in f and "Length 300 millimeter" in f for f in findings)
    assert any("reader measurement 4 (angle)" in f and "Angle 90 degree" in f for f in findings)
    assert any("reader measurement 5 (freehand)" in f and "Area 28 square millimeter" in f for f in findings)
    assert any("reader measurement 6 (point)" in f and "Attenuation Coefficient -845" in f for f in findings)
    assert not any("reader measurement 7" in f for f in findings)  # a text measures nothing: report and JSON only
    sr = hd.sr.srread(tmp_path / "out" / "measurement_report_sr.dcm")
    assert sr.SOPClassUID.name == "Comprehensive 3D SR Storage"
    raw = (tmp_path / "out" / "measurement_report_sr.dcm").read_bytes()
    for opinion in analysis.opinions:  # id, version and the full sha256 in the algorithm identification
        assert f"sha256 {opinion.sha256}".encode() in raw and opinion.model_id.encode() in raw

    pdf = pydicom.dcmread(tmp_path / "out" / "report_pdf.dcm")
    assert pdf.MIMETypeOfEncapsulatedDocument == "application/pdf" and bytes(pdf.EncapsulatedDocument).startswith(b"%PDF")


def test_xray_results_are_valid_dicom(tmp_path):
    source = phantom_xray(tmp_path / "study" / "cxr.dcm")
    image, analysis = analysed(source)
    files = write_dicom_results(analysis, image, tmp_path / "out")
    assert "gradcam_xr_cls_seg.dcm" in {p.name for p in files} and "measurement_report_sr.dcm" in {p.name for p in files}
    _check_common(files, image.info.study_uid, image.uid)
    cam = hd.seg.segread(tmp_path / "out" / "gradcam_xr_cls_seg.dcm")
    assert len(cam.SegmentSequence) == 3


def test_analyze_dicom_out_on_the_command_line(tmp_path):
    study = phantom_ct_study(tmp_path / "study")
    out = tmp_path / "dicom"
    result = subprocess.run([sys.executable, "-m", "inference.cli", "analyze", str(study), "--dicom-out", str(out), "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert any(name.startswith("dicom ") for name in doc["outputs"])
    assert (out / "measurement_report_sr.dcm").is_file() and (out / "lung_mask_seg.dcm").is_file()
    assert [s["sop_instance_uid"] for s in doc["slices"]] and all(s["sop_instance_uid"] for s in doc["slices"])
    inside = subprocess.run([sys.executable, "-m", "inference.cli", "analyze", str(study), "--dicom-out", str(study / "x")],
                            capture_output=True, text=True, timeout=300)
    assert inside.returncode == 2 and "never writes into a study" in inside.stderr
