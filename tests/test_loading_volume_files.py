"""NIfTI, MetaImage and NRRD through SimpleITK: same HU and the same patient geometry as the DICOM series."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from inference.loading import load_path
from inference.phantoms import make_ct_phantom, make_xray_phantom, write_ct_series
from inference.study import CTVolume, XRayImage

SHAPE, SPACING = (12, 40, 40), (5.0, 9.0, 9.0)


@pytest.fixture(scope="module")
def chest() -> np.ndarray:
    return make_ct_phantom(SHAPE, SPACING, seed=8)[0]


@pytest.mark.parametrize("name", ["ct.nii.gz", "ct.nii", "ct.mha", "ct.nrrd", "ct.mhd"])
def test_volume_file_matches_the_dicom_series(tmp_path, chest, name):
    write_ct_series(tmp_path / "dicom", chest, SPACING)
    [series], _ = load_path(tmp_path / "dicom")
    image = sitk.GetImageFromArray(series.hu)
    image.SetSpacing(tuple(reversed(series.spacing)))
    image.SetOrigin(series.origin)
    image.SetDirection(tuple(series.direction.ravel()))
    (tmp_path / "files").mkdir()
    sitk.WriteImage(image, str(tmp_path / "files" / name))
    [volume], skipped = load_path(tmp_path / "files")
    assert skipped == []  # the .raw beside an .mhd belongs to it
    assert isinstance(volume, CTVolume) and np.array_equal(volume.hu, chest)
    assert volume.spacing == pytest.approx(series.spacing)
    assert np.allclose(volume.slice_positions, series.slice_positions, atol=1e-4)
    assert np.allclose(volume.direction, series.direction) and volume.warnings == ()


def test_nifti_orientation_comes_back_in_lps(tmp_path, chest):
    flipped = sitk.GetImageFromArray(chest)
    flipped.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))  # RAS-like axes, stored by NIfTI's qform
    flipped.SetOrigin((100.0, 80.0, -30.0))
    sitk.WriteImage(flipped, str(tmp_path / "ras.nii.gz"))
    [volume], _ = load_path(tmp_path / "ras.nii.gz")
    assert np.allclose(volume.direction, np.diag([-1, -1, 1])) and volume.origin == pytest.approx((100, 80, -30))


def test_a_float_mask_is_loaded_with_a_warning(tmp_path):
    mask = np.zeros((4, 16, 16), dtype=np.float32)
    mask[1:3, 4:12, 4:12] = 1.0
    sitk.WriteImage(sitk.GetImageFromArray(mask), str(tmp_path / "mask.nrrd"))
    [volume], _ = load_path(tmp_path / "mask.nrrd")
    assert volume.hu.dtype == np.int16 and any("do not look like CT Hounsfield units" in w for w in volume.warnings)


def test_a_2d_file_is_a_radiograph_and_4d_is_refused(tmp_path):
    image, _ = make_xray_phantom((32, 48))
    sitk.WriteImage(sitk.GetImageFromArray(image), str(tmp_path / "xr.mha"))
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 3, 4, 5), dtype=np.int16), isVector=False), str(tmp_path / "t.nii"))
    images, skipped = load_path(tmp_path)
    assert [type(i) for i in images] == [XRayImage] and images[0].shape == (32, 48)
    assert skipped[0].path.endswith("t.nii") and "4-D volumes" in skipped[0].reason


@pytest.mark.parametrize("name", ["ct.nii", "ct.nii.gz", "ct.mha", "ct.nrrd"])
def test_a_truncated_volume_is_skipped_with_a_reason(tmp_path, chest, name):
    path = tmp_path / name
    sitk.WriteImage(sitk.GetImageFromArray(chest), str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    images, skipped = load_path(tmp_path)
    assert images == [] and len(skipped) == 1
    assert skipped[0].path.endswith(name) and "could not be read" in skipped[0].reason
