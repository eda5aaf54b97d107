"""Broken input: every bad file gets a reason, nothing raises, and the good series beside it still loads."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from inference.loading import load_path, load_study
from inference.phantoms import make_ct_phantom, write_ct_series

SHAPE, SPACING = (8, 32, 32), (5.0, 10.0, 10.0)
# pydicom's own malformed or odd files: no meta, missing transfer syntax, truncated, bad VR, bad sequences,
# a deflated dataset, implicit VR declared as explicit, non-image objects.
PYDICOM_FILES = (
    "no_meta.dcm", "no_meta_group_length.dcm", "meta_missing_tsyntax.dcm", "ExplVR_LitEndNoMeta.dcm",
    "ExplVR_BigEndNoMeta.dcm", "MR_truncated.dcm", "rtplan_truncated.dcm", "badVR.dcm", "UN_sequence.dcm",
    "emri_small_jpeg_2k_lossless_too_short.dcm", "JPEG2000-embedded-sequence-delimiter.dcm", "image_dfl.dcm",
    "SC_rgb_jpeg.dcm", "test-SR.dcm", "reportsi.dcm", "bad_sequence.dcm", "CT_small.dcm",
)
EXPECTED_REASONS = {
    "MR_truncated.dcm": "truncated: pixel data has 8130 of 8192 bytes",
    "meta_missing_tsyntax.dcm": "lacks the Transfer Syntax UID",
    "rtplan_truncated.dcm": "not an image: RT Plan Storage",
    # Its VR errors hide NumberOfFrames: 6000 bytes for a 10x10 image is a header that does not describe the data.
    "badVR.dcm": "pixel data has 6000 bytes but 10x10x1 pixels need 400",
}


@pytest.fixture(scope="module")
def chest() -> np.ndarray:
    return make_ct_phantom(SHAPE, SPACING, seed=4)[0]


def test_pydicoms_malformed_files_give_reasons_and_the_good_series_loads(tmp_path, chest):
    write_ct_series(tmp_path / "good", chest, SPACING)
    for name in PYDICOM_FILES:
        shutil.copy(get_testdata_file(name), tmp_path / name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about what it tolerates; the reasons are what we check
        images, skipped = load_path(tmp_path)
    phantom = [i for i in images if getattr(i, "description", "") == "Phantom chest CT"]
    assert len(phantom) == 1 and np.array_equal(phantom[0].hu, chest)
    reasons = {Path(s.path).name: s.reason for s in skipped}
    for name, fragment in EXPECTED_REASONS.items():
        assert fragment in reasons[name], (name, reasons[name])
    loaded = {Path(i.source_files[0]).name for i in images}
    results = {Path(r.path).name for r in load_study(tmp_path).results}
    assert "test-SR.dcm" in results  # a structured report is listed as a result, not skipped
    for name in PYDICOM_FILES:
        assert name in loaded or reasons.get(name) or name in results, f"{name} neither loaded, nor a result, nor given a reason"
    assert {"CT_small.dcm", "SC_rgb_jpeg.dcm", "image_dfl.dcm"} <= loaded


def _phantom_file(tmp_path: Path, chest: np.ndarray) -> Path:
    return write_ct_series(tmp_path / "src", chest[:1], SPACING)[0]


def test_truncated_halves_and_header_only_files(tmp_path, chest):
    source = _phantom_file(tmp_path, chest)
    data = source.read_bytes()
    study = tmp_path / "study"
    study.mkdir()
    (study / "half.dcm").write_bytes(data[: len(data) // 2])
    (study / "header-cut.dcm").write_bytes(data[:300])
    (study / "empty.dcm").write_bytes(b"")
    ds = pydicom.dcmread(source)
    del ds.PixelData
    ds.save_as(study / "no-pixels.dcm")
    images, skipped = load_path(study)
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert images == []
    assert reasons["half.dcm"].startswith("truncated: pixel data has")
    assert reasons["no-pixels.dcm"] == "the file has image attributes but no pixel data (it may be truncated)"
    assert reasons["empty.dcm"] == "not a DICOM, PNG/JPEG or NIfTI/MetaImage/NRRD file"
    assert reasons["header-cut.dcm"]


def test_bad_values_in_geometry_tags_are_noted_and_the_series_still_loads(tmp_path, chest):
    files = write_ct_series(tmp_path, chest, SPACING)
    ds = pydicom.dcmread(files[3])
    # Written with the wrong VR (LO instead of DS/IS), as some exporters do, so pydicom cannot refuse them.
    ds["ImagePositionPatient"] = pydicom.DataElement(0x00200032, "LO", "12.5\\abc\\-3")
    ds["InstanceNumber"] = pydicom.DataElement(0x00200013, "LO", "4A")
    ds.save_as(files[3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        [volume], skipped = load_path(tmp_path)
    # The slice that cannot be placed is left out and listed; the others keep their real positions.
    assert [Path(s.path).name for s in skipped] == [files[3].name]
    assert volume.shape == (SHAPE[0] - 1, *SHAPE[1:])
    assert np.array_equal(volume.hu, np.delete(chest, 3, axis=0))
    assert any("ImagePositionPatient" in w and "is not 3 finite numbers" in w for w in volume.warnings)
    assert any("1 slice(s) missing" in w for w in volume.warnings)


def test_an_unreadable_file_is_reported_not_raised(tmp_path, chest, monkeypatch):
    write_ct_series(tmp_path, chest, SPACING)
    from inference.loading import scan as scan_module

    real_sniff = scan_module.sniff

    def sniff(path):
        if Path(path).name == "CT00002.dcm":
            raise PermissionError(13, "Permission denied")
        return real_sniff(path)

    monkeypatch.setattr(scan_module, "sniff", sniff)
    images, skipped = load_path(tmp_path)
    assert [s.reason for s in skipped] == ["cannot read the file: Permission denied"]
    assert images[0].shape[0] == SHAPE[0] - 1 and any("1 slice(s) missing" in w for w in images[0].warnings)
