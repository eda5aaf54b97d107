"""The header scan: recognising files by content, grouping and splitting series, skipping with reasons."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000Lossless

from inference.loading import LoadCancelled, LoadError, load_path, load_series, scan_path
from inference.phantoms import (
    make_ct_phantom,
    make_xray_phantom,
    write_ct_series,
    write_mixed_folder,
    write_xray_dicom,
    write_xray_png,
)
from inference.study import CTVolume, XRayImage

SHAPE, SPACING = (10, 32, 32), (5.0, 10.0, 10.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


@pytest.fixture(scope="module")
def chest() -> np.ndarray:
    return make_ct_phantom(SHAPE, SPACING, seed=2)[0]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time in nanoseconds."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_dicom_is_recognised_by_content_whatever_the_name(tmp_path, chest):
    source = write_ct_series(tmp_path / "src", chest[:2], SPACING)
    study = tmp_path / "study"
    study.mkdir()
    shutil.copy(source[0], study / "notes.txt")
    shutil.copy(source[1], study / "IM0002")
    write_xray_png(study / "scan.dcm", make_xray_phantom((32, 32))[0])
    (study / "image.dcm").write_text("a text file with a DICOM name")
    scan = scan_path(study)
    kinds = sorted((s.modality, len(s.files)) for s in scan.series)
    assert kinds == [("CT", 2), ("XR", 1)]
    [skipped] = scan.skipped
    assert skipped.path.endswith("image.dcm") and "not a DICOM" in skipped.reason


def test_mixed_folder_gives_two_series_an_xray_and_reasons_for_the_rest(tmp_path):
    mixed = write_mixed_folder(tmp_path / "study", shape=(8, 32, 32))
    scan = scan_path(mixed.root)
    by_description = {s.description: s for s in scan.series}
    assert set(by_description) == {"Phantom lung", "Phantom thick", "Phantom chest PA MONOCHROME1"}
    assert len(by_description["Phantom lung"].files) == 8 and by_description["Phantom lung"].modality == "CT"
    reasons = {Path(s.path).name: s.reason for s in scan.skipped}
    assert reasons["report"] == "not an image: Basic Text SR Storage (Modality SR)"
    assert reasons["state"] == "not an image: Grayscale Softcopy Presentation State Storage (Modality PR)"
    assert "not a DICOM" in reasons["notes.txt"]
    assert reasons["broken.dcm"].startswith("truncated: pixel data has")
    assert any("broken.dcm left out: truncated" in w for w in by_description["Phantom lung"].warnings)
    images, skipped = load_path(mixed.root)
    assert sorted(type(i).__name__ for i in images) == ["CTVolume", "CTVolume", "XRayImage"]
    assert len(skipped) == 4


def test_one_uid_with_two_orientations_is_split_with_a_warning(tmp_path, chest):
    uid = pydicom.uid.generate_uid()
    write_ct_series(tmp_path, chest, SPACING, series_uid=uid, file_prefix="AX")
    write_ct_series(tmp_path, chest[:4], SPACING, series_uid=uid, orientation=SAGITTAL, file_prefix="SAG")
    series = scan_path(tmp_path).series
    assert sorted(s.uid for s in series) == [f"{uid}#1", f"{uid}#2"]
    for header in series:
        [warning] = header.warnings
        assert "differ in orientation" in warning and "2 separate series" in warning
    sizes = sorted(load_series(h).shape for h in series)
    assert sizes == [(4, 32, 32), (10, 32, 32)]
    sagittal = next(load_series(h) for h in series if len(h.files) == 4)
    assert any(w.startswith("SeriesInstanceUID") for w in sagittal.warnings)
    assert np.allclose(sagittal.direction[:, 2], [-1, 0, 0])  # (0,1,0) x (0,0,-1)


def test_one_uid_with_two_image_sizes_is_split(tmp_path, chest):
    uid = pydicom.uid.generate_uid()
    write_ct_series(tmp_path, chest, SPACING, series_uid=uid, file_prefix="A")
    write_ct_series(tmp_path, chest[:, ::2, ::2], (5.0, 20.0, 20.0), series_uid=uid, file_prefix="B")
    series = scan_path(tmp_path).series
    assert len(series) == 2 and all("differ in image size" in h.warnings[0] for h in series)


def test_repeated_acquisitions_over_the_same_positions_are_split(tmp_path, chest):
    uid = pydicom.uid.generate_uid()
    write_ct_series(tmp_path, chest, SPACING, series_uid=uid, acquisition_number=1, file_prefix="A")
    write_ct_series(tmp_path, chest, SPACING, series_uid=uid, acquisition_number=2, file_prefix="B")
    series = scan_path(tmp_path).series
    assert len(series) == 2 and all("differ in acquisition" in h.warnings[0] for h in series)
    assert all(any(w.startswith("SeriesInstanceUID") for w in load_series(h).warnings) for h in series)


def test_sequential_acquisitions_that_do_not_overlap_stay_one_series(tmp_path, chest):
    uid = pydicom.uid.generate_uid()
    z = np.arange(SHAPE[0]) * SPACING[0]
    write_ct_series(tmp_path, chest[:5], SPACING, series_uid=uid, acquisition_number=1, z_positions=z[:5], file_prefix="A")
    write_ct_series(tmp_path, chest[5:], SPACING, series_uid=uid, acquisition_number=2, z_positions=z[5:], file_prefix="B")
    [header] = scan_path(tmp_path).series
    volume = load_series(header)
    assert volume.shape == SHAPE and volume.warnings == ()


def test_radiographs_are_one_series_per_image(tmp_path):
    image, _ = make_xray_phantom((32, 32))
    uid = pydicom.uid.generate_uid()
    write_xray_dicom(tmp_path / "pa.dcm", image, series_uid=uid)
    write_xray_dicom(tmp_path / "lat.dcm", image, series_uid=uid)
    series = scan_path(tmp_path).series
    assert [s.modality for s in series] == ["XR", "XR"] and {s.uid for s in series} == {f"{uid}#1", f"{uid}#2"}


def test_scan_reads_no_pixels(tmp_path, chest):
    files = write_ct_series(tmp_path, chest[:3], SPACING, transfer_syntax=JPEG2000Lossless)
    for f in files:  # keep the header, replace the codestream by junk that is whole (start and end markers)
        ds = pydicom.dcmread(f)
        ds.PixelData = pydicom.encaps.encapsulate([b"\xff\x4f\xff\x51" + bytes(200) + b"\xff\xd9"])
        ds.save_as(f)
    [header] = scan_path(tmp_path).series
    assert len(header.files) == 3
    with pytest.raises(LoadError, match="JPEG 2000"):
        load_series(header)


def test_progress_reports_every_file_and_cancel_stops_the_scan(tmp_path, chest):
    write_ct_series(tmp_path, chest, SPACING)
    seen = []
    scan_path(tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, SHAPE[0]) for i in range(1, SHAPE[0] + 1)]
    with pytest.raises(LoadCancelled):
        scan_path(tmp_path, progress=lambda done, total: seen.append(done), cancel=lambda: len(seen) > SHAPE[0] + 2)


def test_loading_never_writes_into_the_study_folder(tmp_path, chest):
    mixed = write_mixed_folder(tmp_path / "study", shape=(6, 32, 32))
    write_ct_series(tmp_path / "study" / "C", chest, SPACING, transfer_syntax=JPEG2000Lossless)
    before = snapshot(mixed.root)
    load_path(mixed.root)
    assert snapshot(mixed.root) == before


def test_missing_path_and_missing_series_uid(tmp_path, chest):
    scan = scan_path(tmp_path / "nowhere")
    assert scan.series == () and scan.skipped[0].reason == "no such file or folder"
    files = write_ct_series(tmp_path / "nouid", chest[:3], SPACING)
    for f in files:
        ds = pydicom.dcmread(f)
        del ds.SeriesInstanceUID
        ds.save_as(f)
    [header] = scan_path(tmp_path / "nouid").series
    assert header.uid.startswith("file-") and "SeriesInstanceUID is missing" in header.warnings[0]
    assert isinstance(load_series(header), CTVolume)


def test_a_copy_of_the_same_ct_slice_is_skipped_not_stacked_twice(tmp_path, chest):
    files = write_ct_series(tmp_path, chest[:4], SPACING)
    shutil.copy(files[2], tmp_path / "copy-of-3.dcm")
    images, skipped = load_path(tmp_path)
    assert images[0].shape[0] == 4
    assert skipped[0].reason == f"another copy of {files[2].name} (same SOPInstanceUID)"


def test_a_ct_localizer_is_a_radiograph(tmp_path, chest):
    [path] = write_ct_series(tmp_path, chest[:1], SPACING)
    ds = pydicom.dcmread(path)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.save_as(path)
    [image], _ = load_path(tmp_path)
    assert isinstance(image, XRayImage) and image.shape == SHAPE[1:]


def test_a_single_file_path_scans_just_that_file(tmp_path, chest):
    files = write_ct_series(tmp_path, chest[:3], SPACING)
    scan = scan_path(files[1])
    assert [h.files for h in scan.series] == [(str(files[1]),)] and os.path.samefile(scan.root, files[1])


@pytest.mark.filterwarnings("ignore:Expected explicit VR")
@pytest.mark.parametrize(
    "name", ["CT_small.dcm", "MR_small_bigendian.dcm", "eCT_Supplemental.dcm", "RG1_UNCR.dcm", "SC_rgb_jpeg.dcm", "explicit_VR-UN.dcm"]
)
def test_fast_header_values_equal_pydicoms_conversion(monkeypatch, name):
    from pydicom.data import get_testdata_file

    from inference.loading import dicom_header

    path = get_testdata_file(name)
    fast = dicom_header.read_instance_header(path)
    monkeypatch.setattr(dicom_header, "fast_values", lambda element, tag: None)
    assert dicom_header.read_instance_header(path) == fast


def test_fast_header_values_on_a_phantom_with_odd_values(tmp_path, chest, monkeypatch):
    from inference.loading import dicom_header

    [path] = write_ct_series(tmp_path, chest[:1], SPACING, signed=True, vary_rescale=True)
    ds = pydicom.dcmread(path)
    ds.ImagePositionPatient = ["-1.5e2", " 3 ", "+0.25"]
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", ""]
    ds.InstanceNumber = " 7"
    ds.save_as(path)
    fast = dicom_header.read_instance_header(path)
    assert fast.placement.position == (-150.0, 3.0, 0.25) and fast.placement.instance_number == 7
    monkeypatch.setattr(dicom_header, "fast_values", lambda element, tag: None)
    assert dicom_header.read_instance_header(path) == fast


def test_a_ct_dose_screen_capture_is_a_2d_image_not_a_volume(tmp_path, chest):
    [path] = write_ct_series(tmp_path, chest[:1], SPACING)
    ds = pydicom.dcmread(path)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = pydicom.uid.SecondaryCaptureImageStorage
    ds.ImageType = ["DERIVED", "SECONDARY", "OTHER"]
    ds.save_as(path)
    [image], _ = load_path(tmp_path)
    assert isinstance(image, XRayImage)


def test_load_path_progress_only_moves_forward_to_its_total(tmp_path):
    mixed = write_mixed_folder(tmp_path / "study", shape=(6, 32, 32))
    seen = []
    load_path(mixed.root, progress=lambda done, total: seen.append((done, total)))
    done = [d for d, _ in seen]
    assert done == sorted(done) and seen[-1][0] == seen[-1][1]
