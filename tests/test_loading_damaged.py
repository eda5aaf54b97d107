"""Damaged and hostile files: no image is made from a broken file, one bad file never costs a series,
and every file that is not used is listed once with a short, printable reason that quotes no header text."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import JPEGBaseline8Bit, RLELossless

from inference.loading import load_path, scan_path
from inference.loading.limits import MAX_FRAMES, MAX_IMAGE_PIXELS
from inference.phantoms import (
    PHANTOM_PATIENT_NAME,
    make_ct_phantom,
    make_xray_phantom,
    write_ct_series,
    write_xray_dicom,
)
from inference.safe_text import MAX_REASON_CHARS

SHAPE, SPACING = (8, 32, 32), (5.0, 10.0, 10.0)


@pytest.fixture(scope="module")
def chest() -> np.ndarray:
    return make_ct_phantom(SHAPE, SPACING, seed=5)[0]


@pytest.fixture(scope="module")
def radiograph() -> np.ndarray:
    return make_xray_phantom((128, 128), seed=2)[0]


def _quiet_load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about what it tolerates; reasons are what we check
        return load_path(path)


def _reasons(skipped) -> dict[str, str]:
    return {Path(s.path).name: s.reason for s in skipped}


def jpeg_radiograph(path: Path, image: np.ndarray) -> Path:
    """A JPEG Baseline CR as scanners write them: an 8-bit JPEG stream in encapsulated Pixel Data."""
    stream = io.BytesIO()
    PILImage.fromarray(np.uint8(image * 255)).save(stream, "JPEG", quality=90)
    write_xray_dicom(path, image, photometric="MONOCHROME2", bits_stored=8)
    ds = pydicom.dcmread(path)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.WindowCenter, ds.WindowWidth = 128, 256
    ds.PixelData = encapsulate([stream.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.save_as(path)
    return path


def test_a_cut_compressed_radiograph_is_skipped_instead_of_decoded_with_grey_fill(tmp_path, radiograph):
    source = jpeg_radiograph(tmp_path / "src" / "cr.dcm", radiograph)
    data = source.read_bytes()
    study = tmp_path / "study"
    study.mkdir()
    for cut in (2000, len(data) // 2, len(data) - 8):  # in the stream, and just before the closing delimiter
        (study / f"cut-{cut}.dcm").write_bytes(data[:cut])
    # Re-saved by a tool after the cut: the item structure is whole again, the JPEG stream is not.
    ds = pydicom.dcmread(source)
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([frame[: len(frame) // 2]])
    ds.save_as(study / "resaved.dcm")
    images, skipped = _quiet_load(study)
    assert images == []
    reasons = _reasons(skipped)
    assert sorted(reasons) == sorted(p.name for p in study.iterdir())
    assert all(r.startswith("truncated:") for r in reasons.values()), reasons
    [intact], _ = _quiet_load(source)
    assert intact.shape == radiograph.shape


def _rle_multiframe(source: Path, target: Path, frames: str) -> Path:
    ds = pydicom.dcmread(source)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT
    ds.compress(RLELossless)
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([frame, frame])
    ds["PixelData"].VR = "OB"
    ds.NumberOfFrames = frames
    ds.save_as(target, implicit_vr=False, little_endian=True, enforce_file_format=False)
    return target


def test_a_lying_frame_count_costs_one_file_quickly_and_the_series_beside_it_loads(tmp_path, chest):
    files = write_ct_series(tmp_path / "series", chest, SPACING)
    _rle_multiframe(files[0], tmp_path / "huge.dcm", "2147483647")
    _rle_multiframe(files[0], tmp_path / "three-thousand.dcm", str(MAX_FRAMES - 1))
    started = time.perf_counter()
    images, skipped = _quiet_load(tmp_path)
    assert time.perf_counter() - started < 10
    [volume] = images
    assert np.array_equal(volume.hu, chest)
    reasons = _reasons(skipped)
    assert set(reasons) == {"huge.dcm", "three-thousand.dcm"}
    assert "2147483647 frames, more than LungLens opens" in reasons["huge.dcm"]
    assert reasons["three-thousand.dcm"] == f"NumberOfFrames is {MAX_FRAMES - 1} but the compressed pixel data holds 2 fragment(s)"


def _edit(path: Path, change) -> None:
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path)


def _short_modality_lut(ds: Dataset) -> None:
    item = Dataset()
    item.LUTDescriptor, item.ModalityLUTType, item.LUTData = [4096, 0, 16], "HU", b"\x01\x02"
    ds.ModalityLUTSequence = [item]


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda ds: setattr(ds, "ImagePositionPatient", ["0", "0", "inf"]), "cannot be placed"),
        (lambda ds: setattr(ds, "ImagePositionPatient", ["nan", "nan", "nan"]), "cannot be placed"),
        (lambda ds: setattr(ds, "RescaleSlope", "NaN"), "RescaleSlope is not a finite number"),
        (lambda ds: setattr(ds, "RescaleIntercept", "-inf"), "RescaleIntercept is not a finite number"),
        (_short_modality_lut, "the Modality LUT or rescale could not be applied"),
    ],
    ids=["position-inf", "position-nan", "slope-nan", "intercept-inf", "short-modality-lut"],
)
def test_one_bad_slice_is_left_out_and_listed_and_the_rest_stays_in_place(tmp_path, chest, damage, reason):
    files = write_ct_series(tmp_path, chest, SPACING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _edit(files[4], damage)
    [volume], skipped = _quiet_load(tmp_path)
    assert [(Path(s.path).name, reason in s.reason) for s in skipped] == [(files[4].name, True)]
    assert np.array_equal(volume.hu, np.delete(chest, 4, axis=0))
    assert any("1 slice(s) missing" in w for w in volume.warnings)
    assert not any("nan" in w.lower() and "tilt" in w.lower() for w in volume.warnings)


def test_radiograph_header_values_that_are_zero_or_not_finite(tmp_path, radiograph):
    def dicom(name, change):
        path = write_xray_dicom(tmp_path / name, radiograph, photometric="MONOCHROME2")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _edit(path, change)
        return path

    [intact], _ = _quiet_load(write_xray_dicom(tmp_path / "intact.dcm", radiograph, photometric="MONOCHROME2"))
    [slope0], _ = _quiet_load(dicom("slope0.dcm", lambda ds: (setattr(ds, "RescaleSlope", "0"), setattr(ds, "RescaleIntercept", "0"))))
    assert np.array_equal(slope0.pixels, intact.pixels)  # "taken as 1", as the warning says
    assert any("RescaleSlope is 0" in w for w in slope0.warnings)
    [window], _ = _quiet_load(dicom("ww-inf.dcm", lambda ds: setattr(ds, "WindowWidth", "inf")))
    assert np.isfinite(window.default_window.width) and any("WindowWidth 'inf' is not a finite number" in w for w in window.warnings)
    [spacing], _ = _quiet_load(dicom("spacing-inf.dcm", lambda ds: setattr(ds, "PixelSpacing", ["inf", "0.5"])))
    assert spacing.spacing is None and any("PixelSpacing" in w for w in spacing.warnings)
    images, skipped = _quiet_load(dicom("slope-nan.dcm", lambda ds: setattr(ds, "RescaleSlope", "NaN")))
    assert images == [] and "RescaleSlope is not a finite number" in skipped[0].reason


def _swallowing_modality(source: Path, target: Path) -> Path:
    """An explicit-VR file whose Modality element claims 60 kB: it swallows the rest of the header, patient name included."""
    data = bytearray(source.read_bytes())
    at = data.index(b"\x08\x00\x60\x00CS")
    data[at + 6 : at + 8] = struct.pack("<H", 0xEA60)
    target.write_bytes(bytes(data) + b"\x00" * 0xEA60)
    return target


def test_skip_reasons_are_short_printable_and_quote_no_header_text(tmp_path, chest):
    files = write_ct_series(tmp_path / "src", chest[:1], SPACING)
    study = tmp_path / "study"
    study.mkdir()
    _swallowing_modality(files[0], study / "swallowed.dcm")
    data = files[0].read_bytes()
    for k in range(40):  # header bytes flipped one at a time: malformed values of every kind
        damaged = bytearray(data)
        damaged[200 + 13 * k] ^= 0xFF
        (study / f"flip-{k}.dcm").write_bytes(bytes(damaged))
    _, skipped = _quiet_load(study)
    assert "swallowed.dcm" in _reasons(skipped)
    for entry in skipped:
        assert len(entry.reason) <= MAX_REASON_CHARS and entry.reason.isprintable(), entry
        assert "phantom" not in entry.reason.lower(), entry
    assert PHANTOM_PATIENT_NAME.startswith("Phantom")


def test_unlistable_folders_too_long_paths_and_pipes_are_listed_not_hung_on(tmp_path, chest):
    study = tmp_path / "study"
    write_ct_series(study / "good", chest, SPACING)
    folder = os.open(study, os.O_RDONLY)
    for k in range(18):  # about 4,600 characters, over PATH_MAX: made relative to each parent
        name = f"{k:02d}_" + "d" * 250
        os.mkdir(name, dir_fd=folder)
        folder, parent = os.open(name, os.O_RDONLY, dir_fd=folder), folder
        os.close(parent)
    os.close(folder)
    fifo = study / "pipe.dcm"
    os.mkfifo(fifo)
    script = (
        "import json, sys; from inference.loading import load_path; i, s = load_path(sys.argv[1]); "
        "print(json.dumps([[x.shape for x in i], [[t.path, t.reason] for t in s]]))"
    )
    done = subprocess.run([sys.executable, "-c", script, str(study)], capture_output=True, text=True, timeout=60, check=True)
    shapes, skipped = json.loads(done.stdout)
    assert shapes == [list(SHAPE)]
    reasons = {Path(p).name: r for p, r in skipped}
    assert reasons["pipe.dcm"].startswith("not a regular file")
    assert any(r.startswith("cannot read the folder: File name too long") for r in reasons.values()), reasons


def test_copies_of_one_slice_the_decodable_nonblank_one_is_used_and_the_others_listed(tmp_path, chest):
    files = write_ct_series(tmp_path, chest, SPACING)
    ds = pydicom.dcmread(files[3])
    ds.PixelData = np.zeros_like(ds.pixel_array).tobytes()
    ds.save_as(tmp_path / "0-zeroed-copy.dcm")  # first in folder order
    data = files[3].read_bytes()
    (tmp_path / "1-cut-copy.dcm").write_bytes(data[: len(data) - 100])
    [volume], skipped = _quiet_load(tmp_path)
    assert np.array_equal(volume.hu, chest)
    assert files[3].name in volume.source_files[3]
    reasons = _reasons(skipped)
    assert set(reasons) == {"0-zeroed-copy.dcm", "1-cut-copy.dcm"}
    assert "different pixels" in reasons["0-zeroed-copy.dcm"] and "blank" in reasons["0-zeroed-copy.dcm"]
    assert reasons["1-cut-copy.dcm"].startswith("truncated")  # the scan already refuses a cut copy


def test_images_declaring_huge_sizes_are_refused_before_decoding(tmp_path, radiograph):
    stream = io.BytesIO()
    PILImage.fromarray(np.uint8(radiograph * 255)).save(stream, "JPEG")
    jpeg = bytearray(stream.getvalue())
    at = jpeg.index(b"\xff\xc0")
    jpeg[at + 5 : at + 9] = struct.pack(">HH", 9000, 9000)
    (tmp_path / "big.jpg").write_bytes(bytes(jpeg))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0))
    (tmp_path / "bomb.png").write_bytes(png + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    path = write_xray_dicom(tmp_path / "wide.dcm", radiograph)
    _edit(path, lambda ds: (setattr(ds, "Rows", 65535), setattr(ds, "Columns", 65535)))
    images, skipped = _quiet_load(tmp_path)
    assert images == []
    reasons = _reasons(skipped)
    assert set(reasons) == {"big.jpg", "bomb.png", "wide.dcm"}
    assert all(f"({MAX_IMAGE_PIXELS / 1e6:.0f} megapixels per image)" in r for r in reasons.values()), reasons


def test_dicomdir_and_a_damaged_transfer_syntax_get_plain_reasons_and_no_traceback(tmp_path, chest, capfd):
    shutil.copy(get_testdata_file("DICOMDIR"), tmp_path / "DICOMDIR")
    [source] = write_ct_series(tmp_path / "src", chest[:1], SPACING)
    data = source.read_bytes().replace(b"1.2.840.10008.1.2.1\x00", b"1.2.840.10008.1.2.9\x00", 1)
    (tmp_path / "syntax.dcm").write_bytes(data)
    shutil.rmtree(tmp_path / "src")
    _, skipped = _quiet_load(tmp_path)
    reasons = _reasons(skipped)
    assert reasons["DICOMDIR"].startswith("DICOMDIR: an index of the files")
    assert reasons["syntax.dcm"].startswith("the file names an unknown transfer syntax '1.2.840.10008.1.2.9'")
    assert "Traceback" not in capfd.readouterr().err


def test_a_slice_that_fails_to_decode_after_the_scan_is_listed_as_skipped(tmp_path, chest):
    from inference.loading import load_series

    files = write_ct_series(tmp_path, chest, SPACING)
    header = scan_path(tmp_path).series[0]
    files[2].write_bytes(files[2].read_bytes()[:700])
    volume = load_series(header)
    assert [Path(s.path).name for s in volume.left_out] == [files[2].name]
    assert volume.shape[0] == SHAPE[0] - 1
