"""CT series on phantoms: exact HU, geometry from positions, every trap reported, compressed syntaxes."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_modality_lut
from pydicom.uid import (
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from inference.loading import LoadCancelled, LoadError, load_path, load_series, read_first_image, scan_path
from inference.loading.dicom_header import read_instance_header
from inference.loading.pixels import decode_stored, rescale_into
from inference.phantoms import make_ct_phantom, write_ct_series, write_enhanced_ct
from inference.study import CTVolume

SHAPE, SPACING = (20, 48, 48), (5.0, 8.0, 8.0)


@pytest.fixture(scope="module")
def chest() -> np.ndarray:
    return make_ct_phantom(SHAPE, SPACING, seed=5)[0]


def only_volume(folder) -> CTVolume:
    images, skipped = load_path(folder)
    assert not skipped, skipped
    assert len(images) == 1 and isinstance(images[0], CTVolume)
    return images[0]


def test_round_trip_gives_the_written_hu_and_geometry(tmp_path, chest):
    files = write_ct_series(tmp_path, chest, SPACING)
    volume = only_volume(tmp_path)
    assert volume.hu.dtype == np.int16 and np.array_equal(volume.hu, chest)
    assert volume.spacing == pytest.approx(SPACING)
    assert np.allclose(volume.direction, np.eye(3))
    first = pydicom.dcmread(files[0])
    assert volume.origin == pytest.approx([float(v) for v in first.ImagePositionPatient])
    assert np.all(np.diff(volume.slice_positions[:, 2]) > 0)
    assert volume.warnings == ()
    assert len(set(volume.sop_uids)) == SHAPE[0] and volume.slice_thickness_mm == SPACING[0]
    assert volume.voxel_to_patient(3, 0, 0) == pytest.approx(volume.slice_positions[3])


def test_shuffled_files_come_back_in_patient_order(tmp_path, chest):
    write_ct_series(tmp_path, chest, SPACING, shuffle=True, seed=9)
    assert np.array_equal(only_volume(tmp_path).hu, chest)


def test_signed_storage_and_per_slice_rescale_give_exact_hu(tmp_path, chest):
    write_ct_series(tmp_path / "signed", chest, SPACING, signed=True, vary_rescale=True)
    write_ct_series(tmp_path / "unsigned", chest, SPACING, vary_rescale=True)
    for folder in ("signed", "unsigned"):
        assert np.array_equal(only_volume(tmp_path / folder).hu, chest)


@pytest.mark.parametrize(
    ("slope", "intercept", "dtype"),
    [(1.0, -1024.0, np.uint16), (1.0, 0.0, np.int16), (0.5, -1024.0, np.uint16), (2.5, -3000.0, np.int16), (1.0, 40000.0, np.uint16)],
)
def test_rescale_matches_pydicoms_modality_lut(slope, intercept, dtype):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype)
    stored = rng.integers(max(info.min, -2000), min(info.max, 5000), size=(32, 32)).astype(dtype)
    header = pydicom.Dataset()
    header.RescaleSlope, header.RescaleIntercept = slope, intercept
    expected = np.clip(np.rint(apply_modality_lut(stored, header)), -32768, 32767)
    out = np.empty(stored.shape, dtype=np.int16)
    clipped = rescale_into(stored, slope, intercept, out)
    assert np.array_equal(out, expected)
    assert clipped == np.count_nonzero(np.rint(apply_modality_lut(stored, header)) > 32767)


def test_modality_lut_sequence_goes_through_pydicom(tmp_path, chest):
    path = write_ct_series(tmp_path, chest[:1], SPACING)[0]
    ds = pydicom.dcmread(path)
    lut = pydicom.Dataset()
    lut.LUTDescriptor = [4096, 0, 16]
    lut.ModalityLUTType = "HU"
    lut.add_new("LUTData", "OW", (np.arange(4096, dtype=np.uint16) * 4).tobytes())
    ds.ModalityLUTSequence = [lut]
    del ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType
    ds.save_as(path)
    volume = only_volume(tmp_path)
    expected = apply_modality_lut(pydicom.dcmread(path).pixel_array, ds)
    assert np.array_equal(volume.hu[0], np.clip(expected, -32768, 32767))


def test_gantry_tilt_is_reported_and_the_volume_kept(tmp_path, chest):
    write_ct_series(tmp_path, chest, SPACING, tilt_deg=15.0)
    volume = only_volume(tmp_path)
    assert volume.shape == SHAPE
    assert any("Gantry tilt of 15.0 deg" in w and "GantryDetectorTilt 15" in w for w in volume.warnings)
    # Spacing is the distance between slice planes, measured along the tilted normal.
    assert volume.spacing[0] == pytest.approx(SPACING[0] * np.cos(np.deg2rad(15.0)), rel=1e-3)


def test_missing_slices_are_reported_with_where_they_are(tmp_path, chest):
    write_ct_series(tmp_path, chest, SPACING, missing_slices=(7, 8))
    volume = only_volume(tmp_path)
    assert volume.shape[0] == SHAPE[0] - 2 and volume.spacing[0] == pytest.approx(SPACING[0])
    [warning] = [w for w in volume.warnings if "missing" in w]
    assert warning.startswith("2 slice(s) missing") and "5 mm" in warning
    assert not any("Non-uniform" in w for w in volume.warnings)


def test_duplicate_position_is_reported_and_both_slices_kept(tmp_path, chest):
    write_ct_series(tmp_path, chest, SPACING, duplicate_slice=True)
    volume = only_volume(tmp_path)
    assert volume.shape[0] == SHAPE[0] + 1
    assert any("occur twice" in w for w in volume.warnings)
    assert volume.spacing[0] == pytest.approx(SPACING[0])


def test_negative_spacing_between_slices_is_reported_and_ignored(tmp_path, chest):
    write_ct_series(tmp_path, chest, SPACING, negative_spacing_between_slices=True)
    volume = only_volume(tmp_path)
    assert any("SpacingBetweenSlices is negative (-5)" in w for w in volume.warnings)
    assert volume.spacing[0] == pytest.approx(SPACING[0]) and np.array_equal(volume.hu, chest)


def test_non_uniform_spacing_is_reported_not_averaged_away(tmp_path, chest):
    gaps = [5.0] * 10 + [7.5] * 9
    z = np.concatenate([[0.0], np.cumsum(gaps)])
    write_ct_series(tmp_path, chest, SPACING, z_positions=z)
    volume = only_volume(tmp_path)
    [warning] = [w for w in volume.warnings if "Non-uniform" in w]
    assert "5 mm to 7.5 mm" in warning
    assert np.allclose(volume.slice_positions[:, 2] - volume.slice_positions[0, 2], z)


@pytest.mark.parametrize("syntax", [RLELossless, JPEGLSLossless, JPEG2000Lossless, JPEGLosslessSV1])
def test_compressed_syntaxes_round_trip_to_identical_hu(tmp_path, chest, syntax):
    files = write_ct_series(tmp_path, chest[:6], SPACING, transfer_syntax=syntax)
    assert pydicom.dcmread(files[0], stop_before_pixels=True).file_meta.TransferSyntaxUID == syntax
    assert np.array_equal(only_volume(tmp_path).hu, chest[:6])


def test_enhanced_multiframe_ct_loads_like_its_single_frame_series(tmp_path, chest):
    files = write_ct_series(tmp_path / "single", chest, SPACING, shuffle=True, vary_rescale=True)
    write_enhanced_ct(tmp_path / "enhanced" / "ct.dcm", files)
    single = only_volume(tmp_path / "single")
    enhanced = only_volume(tmp_path / "enhanced")
    assert np.array_equal(enhanced.hu, single.hu)
    assert enhanced.spacing == pytest.approx(single.spacing)
    assert np.allclose(enhanced.slice_positions, single.slice_positions)


def test_pydicoms_enhanced_ct_frames_are_ordered_along_the_normal():
    path = get_testdata_file("eCT_Supplemental.dcm")
    volume = only_volume(path)
    frames = pydicom.dcmread(path).pixel_array.astype(np.int32) - 1024
    # Row cosine (-1, 0, 0) and column (0, 1, 0) make the normal point to the feet (-z): the frame at
    # z = -149 comes first along it, and it is the file's second frame.
    assert volume.shape == (2, 512, 512) and volume.spacing[0] == pytest.approx(10.0)
    assert np.array_equal(volume.hu[0], frames[1]) and np.array_equal(volume.hu[1], frames[0])
    assert volume.direction[:, 2] == pytest.approx([0, 0, -1])


def test_first_image_is_the_middle_slice_decoded_alone(tmp_path, chest):
    write_ct_series(tmp_path, chest, SPACING, shuffle=True)
    header = scan_path(tmp_path).series[0]
    preview = read_first_image(header)
    volume = load_series(header)
    middle = SHAPE[0] // 2
    assert preview.shape == (1, *SHAPE[1:]) and np.array_equal(preview.hu[0], chest[middle])
    assert preview.origin == pytest.approx(volume.slice_positions[middle])
    assert np.array_equal(read_first_image(header, index=0).hu[0], chest[0])


def test_a_slice_that_cannot_be_decoded_is_left_out_with_a_reason(tmp_path, chest):
    files = write_ct_series(tmp_path, chest, SPACING)
    header = scan_path(tmp_path).series[0]
    files[5].write_bytes(files[5].read_bytes()[:600])  # damaged after the scan listed it
    volume = load_series(header)
    assert volume.shape[0] == SHAPE[0] - 1
    assert any(w.startswith(f"{files[5].name} left out: truncated") for w in volume.warnings)
    assert any("1 slice(s) missing" in w for w in volume.warnings)


def test_progress_counts_every_slice_and_cancel_stops(tmp_path, chest):
    write_ct_series(tmp_path, chest, SPACING)
    header = scan_path(tmp_path).series[0]
    seen = []
    load_series(header, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (SHAPE[0], SHAPE[0]) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    reported = []
    with pytest.raises(LoadCancelled):
        load_series(header, progress=lambda done, total: reported.append(done), cancel=lambda: len(reported) >= 3)
    assert len(reported) == 3


def _with_transfer_syntax(path, syntax: str) -> None:
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = syntax
    ds.PixelData = encapsulate([b"\x00\x01" * 64])
    ds["PixelData"].VR = "OB"
    ds.save_as(path)


def test_a_syntax_without_decoder_is_named_in_the_reason(tmp_path, chest):
    files = write_ct_series(tmp_path, chest[:2], SPACING)
    for f in files:
        _with_transfer_syntax(f, "1.2.840.10008.1.2.4.102")
    images, skipped = load_path(tmp_path)
    assert images == []
    [entry] = skipped
    assert "MPEG-4 AVC/H.264 High Profile / Level 4.1 (1.2.840.10008.1.2.4.102)" in entry.reason


def test_a_missing_decoder_plugin_is_named_with_the_syntax(tmp_path, chest, monkeypatch):
    files = write_ct_series(tmp_path, chest[:1], SPACING, transfer_syntax=JPEG2000Lossless)

    class Unavailable:
        is_available = False
        missing_dependencies = ["pylibjpeg-openjpeg", "python-gdcm"]

    monkeypatch.setattr("inference.loading.pixels.get_decoder", lambda uid: Unavailable())
    instance = read_instance_header(files[0])
    with pytest.raises(LoadError, match=r"JPEG 2000 Image Compression \(Lossless Only\) \(1\.2\.840\.10008\.1\.2\.4\.90\).*pylibjpeg-openjpeg"):
        decode_stored(files[0], instance.pixels)


@pytest.mark.parametrize(
    "name", ["CT_small.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm", "OBXXXX1A.dcm", "liver_1frame.dcm", "rtdose_1frame.dcm"]
)
def test_direct_native_read_equals_pydicoms_decoder(name):
    path = get_testdata_file(name)
    instance = read_instance_header(path)
    assert np.array_equal(decode_stored(path, instance.pixels), pydicom.dcmread(path).pixel_array)


def test_unused_high_bits_are_masked_like_pydicom(tmp_path, chest):
    path = write_ct_series(tmp_path, chest[:1], SPACING, signed=True)[0]
    ds = pydicom.dcmread(path)
    stored = ds.pixel_array.astype(np.int16)
    junk = (stored.view(np.uint16) & 0x0FFF) | 0xA000  # 12 bits stored, garbage above
    ds.BitsStored, ds.HighBit = 12, 11
    ds.PixelData = junk.astype(np.uint16).tobytes()
    ds.save_as(path)
    instance = read_instance_header(path)
    assert np.array_equal(decode_stored(path, instance.pixels), pydicom.dcmread(path).pixel_array)
    assert np.array_equal(decode_stored(path, instance.pixels), stored)


def test_single_ct_slice_is_a_one_slice_volume(tmp_path, chest):
    write_ct_series(tmp_path, chest[:1], SPACING)
    volume = only_volume(tmp_path)
    assert volume.shape == (1, *SHAPE[1:]) and volume.spacing[0] == pytest.approx(SPACING[0])



def test_missing_rescale_is_said_once_and_stored_values_taken_as_hu(tmp_path, chest):
    files = write_ct_series(tmp_path, chest[:3], SPACING, signed=True)
    for path in files:
        ds = pydicom.dcmread(path)
        del ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType
        ds.save_as(path)
    volume = only_volume(tmp_path)
    assert np.array_equal(volume.hu, chest[:3])
    assert volume.warnings == ("RescaleSlope and RescaleIntercept are missing: stored values are taken as HU.",)
