"""Radiographs through the display pipeline: Modality LUT -> VOI -> MONOCHROME1 inversion; spacing rules."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from inference.loading import load_path
from inference.phantoms import make_xray_phantom, write_xray_dicom, write_xray_png
from inference.preprocessing import xray_to_uint8
from inference.study import XRayImage


@pytest.fixture(scope="module")
def radiograph():
    return make_xray_phantom((128, 128), seed=1)


def only_xray(path) -> XRayImage:
    images, skipped = load_path(path)
    assert not skipped, skipped
    [image] = images
    assert isinstance(image, XRayImage)
    return image


def lungs_darker_than_mediastinum(shown: np.ndarray, mask: np.ndarray) -> bool:
    h, w = shown.shape
    mediastinum = shown[int(0.35 * h) : int(0.6 * h), int(0.47 * w) : int(0.53 * w)]
    return shown[mask > 0].mean() < mediastinum.mean() - 40


@pytest.mark.parametrize("window", [True, False])
@pytest.mark.parametrize("photometric", ["MONOCHROME1", "MONOCHROME2"])
def test_lungs_display_dark_for_both_photometric_interpretations(tmp_path, radiograph, photometric, window):
    image, mask = radiograph
    xray = only_xray(write_xray_dicom(tmp_path / "xr.dcm", image, photometric=photometric, window=window))
    assert xray.invert == (photometric == "MONOCHROME1") and xray.photometric == photometric
    shown = xray_to_uint8(xray)
    assert lungs_darker_than_mediastinum(shown, mask)
    if window:  # the file's window spans the stored range, so the display is the phantom itself
        assert np.abs(shown.astype(float) - image * 255).max() <= 1.5


def test_file_window_is_the_default_window(tmp_path, radiograph):
    xray = only_xray(write_xray_dicom(tmp_path / "xr.dcm", radiograph[0], bits_stored=12))
    assert (xray.default_window.level, xray.default_window.width) == (4095 / 2, 4095)


def test_without_voi_the_window_spans_the_percentiles(tmp_path, radiograph):
    xray = only_xray(write_xray_dicom(tmp_path / "xr.dcm", radiograph[0], window=False))
    low, high = np.percentile(xray.pixels, (0.5, 99.5))
    assert xray.default_window.low == pytest.approx(low, rel=0.02)
    assert xray.default_window.high == pytest.approx(high, rel=0.02)


def test_voi_lut_sequence_is_applied_through_pydicom(tmp_path, radiograph):
    path = write_xray_dicom(tmp_path / "xr.dcm", radiograph[0], photometric="MONOCHROME2", window=False, bits_stored=12)
    ds = pydicom.dcmread(path)
    lut = pydicom.Dataset()
    lut.LUTDescriptor = [4096, 0, 8]
    lut.add_new("LUTData", "OW", np.sqrt(np.arange(4096) / 4095 * 65025).astype(np.uint16).tobytes())
    ds.VOILUTSequence = [lut]
    ds.save_as(path)
    xray = only_xray(path)
    expected = pydicom.pixels.apply_voi_lut(pydicom.dcmread(path).pixel_array, ds)
    assert np.array_equal(xray.pixels, expected.astype(np.float32))
    assert xray.default_window.low == pytest.approx(expected.min()) and xray.default_window.high == pytest.approx(expected.max())


@pytest.mark.parametrize(
    ("pixel_spacing", "imager_spacing", "expected", "warning"),
    [
        ((0.2, 0.3), None, (0.2, 0.3), None),
        (None, (0.15, 0.15), (0.15, 0.15), "ImagerPixelSpacing"),
        ((0.0, 0.0), None, None, "PixelSpacing is zero or invalid"),
        (None, None, None, "No PixelSpacing or ImagerPixelSpacing"),
    ],
)
def test_spacing_comes_from_pixel_or_imager_spacing_or_is_unknown(tmp_path, radiograph, pixel_spacing, imager_spacing, expected, warning):
    path = write_xray_dicom(
        tmp_path / "xr.dcm", radiograph[0], pixel_spacing=pixel_spacing, imager_pixel_spacing=imager_spacing
    )
    xray = only_xray(path)
    assert xray.spacing == (pytest.approx(expected) if expected else None)
    if warning is None:
        assert xray.warnings == ()
    else:
        assert any(warning in w for w in xray.warnings)


@pytest.mark.parametrize(("name", "bits", "top"), [("xr.png", 8, 255), ("xr16.png", 16, 65535), ("xr.jpg", 8, 255)])
def test_png_and_jpeg_keep_their_grey_levels(tmp_path, radiograph, name, bits, top):
    image, mask = radiograph
    xray = only_xray(write_xray_png(tmp_path / name, image, bits=bits))
    assert xray.spacing is None and not xray.invert
    assert xray.default_window.low == 0 and xray.default_window.high == top
    assert np.abs(xray.pixels / top - image).max() < (0.05 if name.endswith("jpg") else 0.5 / top + 1e-6)
    assert lungs_darker_than_mediastinum(xray_to_uint8(xray), mask)
    assert xray.uid.startswith("file-")


def test_twelve_bit_data_in_a_16_bit_png_is_windowed_over_12_bits(tmp_path):
    from PIL import Image as PILImage

    values = (np.linspace(0, 4000, 64 * 64).reshape(64, 64)).astype(np.uint16)
    PILImage.fromarray(values).save(tmp_path / "twelve.png")
    xray = only_xray(tmp_path / "twelve.png")
    assert xray.default_window.high == 4095 and xray.pixels.max() == 4000


def test_pydicom_data_monochrome1_chest_cr_shows_dark_lungs_and_no_spacing():
    path = get_testdata_file("RG1_UNCR.dcm")
    xray = only_xray(path)
    assert xray.invert and xray.shape == (1955, 1841)
    assert xray.spacing is None and any("PixelSpacing is zero" in w for w in xray.warnings)
    shown = xray_to_uint8(xray)
    right_lung, left_lung = shown[500:1100, 350:700], shown[500:1100, 1150:1500]
    mediastinum = shown[500:1100, 830:1000]
    assert right_lung.mean() < mediastinum.mean() - 20 and left_lung.mean() < mediastinum.mean() - 20


def test_jpeg_2000_copy_of_the_cr_decodes_to_the_same_pixels():
    lossless = only_xray(get_testdata_file("RG1_J2KR.dcm"))
    plain = only_xray(get_testdata_file("RG1_UNCR.dcm"))
    assert np.array_equal(lossless.pixels, plain.pixels)


def test_multiframe_radiograph_is_skipped_with_a_reason(tmp_path, radiograph):
    path = write_xray_dicom(tmp_path / "xr.dcm", radiograph[0])
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 2
    ds.PixelData = ds.PixelData * 2
    ds.save_as(path)
    images, skipped = load_path(path)
    assert images == [] and skipped[0].reason.startswith("multi-frame DX (2 frames")


@pytest.mark.parametrize(
    ("photometric", "shape", "inverted"),
    [("MONOCHROME1", "INVERSE", True), ("MONOCHROME1", None, True), ("MONOCHROME2", "INVERSE", True), ("MONOCHROME2", "IDENTITY", False)],
)
def test_presentation_lut_shape_inverse_is_one_inversion(tmp_path, radiograph, photometric, shape, inverted):
    path = write_xray_dicom(tmp_path / "xr.dcm", radiograph[0], photometric=photometric)
    ds = pydicom.dcmread(path)
    if shape:
        ds.PresentationLUTShape = shape
    ds.save_as(path)
    assert only_xray(path).invert is inverted


def test_for_processing_radiograph_is_flagged(tmp_path, radiograph):
    path = write_xray_dicom(tmp_path / "xr.dcm", radiograph[0])
    ds = pydicom.dcmread(path)
    ds.PresentationIntentType = "FOR PROCESSING"
    ds.save_as(path)
    assert any("'For Processing'" in w for w in only_xray(path).warnings)


def test_patient_orientation_is_read_with_the_image(tmp_path, radiograph):
    """The viewer labels a radiograph's edges from it without opening the file again."""
    dicom = only_xray(write_xray_dicom(tmp_path / "cr.dcm", radiograph[0]))
    assert dicom.patient_orientation == tuple(pydicom.dcmread(tmp_path / "cr.dcm").PatientOrientation) == ("L", "F")
    assert only_xray(write_xray_png(tmp_path / "cr.png", radiograph[0])).patient_orientation == ()
