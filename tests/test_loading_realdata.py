"""Real files from ../shared/data (skipped when absent): a Philips chest CT, a CR radiograph, stripped CT slices."""

from __future__ import annotations

import numpy as np
import pytest

from inference.loading import load_path, read_first_image, scan_path
from inference.preprocessing import xray_to_uint8
from inference.study import CTVolume, XRayImage

pytestmark = pytest.mark.realdata
CR_NAME = "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"


@pytest.fixture(scope="module")
def lung_dx(shared_data) -> CTVolume:
    images, skipped = load_path(shared_data / "ct_series" / "Lung_Dx-A0001")
    assert skipped == []
    [volume] = images
    return volume


def test_real_ct_series_shape_geometry_and_no_warnings(lung_dx):
    assert lung_dx.shape == (64, 512, 512) and lung_dx.hu.dtype == np.int16
    assert lung_dx.spacing == pytest.approx((5.0, 0.841796875, 0.841796875))
    distances = lung_dx.slice_positions @ lung_dx.direction[:, 2]
    assert np.all(np.diff(distances) > 0) and np.allclose(np.diff(distances), 5.0)
    assert lung_dx.warnings == () and lung_dx.description == "5mm"


def test_real_ct_air_in_front_of_the_body_is_about_minus_1000_hu(lung_dx):
    air = lung_dx.hu[:, 5:25, 230:280]  # above the patient's chest (anterior), inside the field of view
    assert -1030 < air.mean() < -950
    body = lung_dx.hu[32, 200:300, 200:300]
    assert body.mean() > -900  # not all air: the middle of the chest holds tissue


def test_real_ct_first_image_is_the_loaded_middle_slice(shared_data, lung_dx):
    header = scan_path(shared_data / "ct_series" / "Lung_Dx-A0001").series[0]
    assert np.array_equal(read_first_image(header).hu[0], lung_dx.hu[32])


def _cr_images(shared_data) -> tuple[XRayImage, XRayImage]:
    images, skipped = load_path(shared_data / "xray_dicom")
    assert skipped == []
    by_file = {image.source_file.rsplit("/", 1)[-1]: image for image in images}
    return by_file[CR_NAME], by_file["Fake_MONOHR1.dcm"]


def test_real_cr_jpeg_baseline_shows_dark_lungs(shared_data):
    cr, _ = _cr_images(shared_data)
    assert cr.shape == (1024, 1024) and cr.spacing == (0.168, 0.168) and not cr.invert
    shown = xray_to_uint8(cr)
    lungs = np.concatenate([shown[300:700, 200:400].ravel(), shown[300:700, 650:850].ravel()])
    mediastinum = shown[300:700, 480:540]
    assert lungs.mean() < mediastinum.mean() - 40


def test_header_edited_monochrome1_copy_is_shown_exactly_inverted(shared_data):
    """The copy has the same stored pixels and only PhotometricInterpretation changed to MONOCHROME1.

    The standard says MONOCHROME1 displays low values bright, so a correct reader shows the copy as
    the exact negative of the original: same values, same window, inversion once, after the VOI.
    A reader that made both "look alike" would be ignoring the header, and would show every genuine
    MONOCHROME1 radiograph (e.g. pydicom-data's RG1, tested in test_loading_xray) inverted.
    """
    cr, copy = _cr_images(shared_data)
    assert copy.invert and copy.photometric == "MONOCHROME1"
    assert np.array_equal(copy.pixels, cr.pixels) and copy.default_window == cr.default_window
    negative = 255 - xray_to_uint8(cr).astype(int)
    assert np.abs(xray_to_uint8(copy).astype(int) - negative).max() <= 1  # rounding of the window only


def test_stripped_ct_slices_load_as_a_two_slice_volume_with_a_note(shared_data):
    [volume], skipped = load_path(shared_data / "ct_dicom_slices")
    assert skipped == [] and volume.shape == (2, 512, 512)
    assert volume.spacing == pytest.approx((1.0, 0.625, 0.625))
    assert volume.warnings == ("Modality is missing: treated as CT from its SOP Class (CT Image Storage).",)
    assert -100 < volume.hu[:, 256, 256].mean() < 300
