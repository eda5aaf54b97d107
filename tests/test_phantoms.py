"""The synthetic studies are only useful if their ground truth is right: anatomy, sides, HU, DICOM tags."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage
from pydicom.pixels import apply_modality_lut

from inference.phantoms import (
    LEFT_LUNG,
    PHANTOM_PATIENT_NAME,
    RIGHT_LUNG,
    make_ct_phantom,
    make_xray_phantom,
    write_ct_series,
    write_mixed_folder,
    write_xray_dicom,
    write_xray_png,
)

SHAPE, SPACING = (32, 96, 96), (8.0, 4.0, 4.0)


@pytest.fixture(scope="module")
def chest():
    return make_ct_phantom(SHAPE, SPACING, seed=3)


def test_lungs_are_about_minus_850_hu_and_labelled_in_the_mask(chest):
    hu, mask = chest
    assert hu.dtype == np.int16 and mask.dtype == np.uint8 and hu.shape == mask.shape == SHAPE
    assert set(np.unique(mask)) == {0, RIGHT_LUNG, LEFT_LUNG}
    for label in (RIGHT_LUNG, LEFT_LUNG):
        assert -880 <= np.median(hu[mask == label]) <= -820


def test_right_lung_is_on_the_patients_right_which_is_the_low_x_side(chest):
    _, mask = chest
    right_x = np.nonzero(mask == RIGHT_LUNG)[2].mean()
    left_x = np.nonzero(mask == LEFT_LUNG)[2].mean()
    # DICOM LPS: +x points to the patient's left, so the patient's right lung has the lower x index.
    assert right_x < SHAPE[2] / 2 < left_x


def test_air_soft_tissue_and_spine_have_their_hu(chest):
    hu, mask = chest
    corners = hu[:, :4, :4]
    assert abs(corners.mean() + 1000) < 5
    middle = hu[SHAPE[0] // 2]
    centre_x = SHAPE[2] // 2
    spine_y = SHAPE[1] // 2 + int(80 / SPACING[1])
    assert middle[spine_y, centre_x] > 600
    soft = middle[SHAPE[1] // 2 + int(40 / SPACING[1]), centre_x]
    assert -60 < soft < 110


def test_lesions_are_ground_glass_and_consolidation_inside_the_lungs(chest):
    hu, mask = chest
    lung = hu[mask > 0]
    assert np.count_nonzero(np.abs(lung + 500) < 40) > 20
    assert np.count_nonzero(np.abs(lung - 20) < 40) > 5
    clean, clean_mask = make_ct_phantom(SHAPE, SPACING, lesions=False, seed=3)
    assert np.count_nonzero(np.abs(clean[clean_mask > 0] + 500) < 40) == 0


def test_same_seed_same_phantom_and_grid_only_changes_sampling():
    a, mask_a = make_ct_phantom((16, 48, 48), (16.0, 8.0, 8.0), seed=1)
    b, _ = make_ct_phantom((16, 48, 48), (16.0, 8.0, 8.0), seed=1)
    c, _ = make_ct_phantom((16, 48, 48), (16.0, 8.0, 8.0), seed=2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    _, fine_mask = make_ct_phantom((32, 96, 96), (8.0, 4.0, 4.0), seed=1)
    # The same chest in millimetres: the lung fraction of the field of view does not depend on the grid.
    assert abs(np.mean(mask_a > 0) - np.mean(fine_mask > 0)) < 0.02


def test_written_series_is_valid_ct_with_exact_hu(tmp_path, chest):
    hu, _ = chest
    files = write_ct_series(tmp_path, hu, SPACING, vary_rescale=True)
    assert len(files) == SHAPE[0]
    datasets = [pydicom.dcmread(f) for f in files]
    first = datasets[0]
    assert first.SOPClassUID == pydicom.uid.CTImageStorage and first.Modality == "CT"
    assert first.file_meta.MediaStorageSOPInstanceUID == first.SOPInstanceUID
    assert len({d.SOPInstanceUID for d in datasets}) == len(files)
    assert len({d.SeriesInstanceUID for d in datasets}) == 1
    assert str(first.PatientName) == PHANTOM_PATIENT_NAME
    assert [float(v) for v in first.PixelSpacing] == [SPACING[1], SPACING[2]]
    assert [float(v) for v in first.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    z = [float(d.ImagePositionPatient[2]) for d in datasets]
    assert np.allclose(np.diff(z), SPACING[0])
    assert {float(d.RescaleSlope) for d in datasets} == {0.5, 1.0}
    for k, ds in enumerate(datasets):
        assert np.array_equal(apply_modality_lut(ds.pixel_array, ds), hu[k])


def test_shuffled_series_hides_the_order_in_names_and_instance_numbers(tmp_path, chest):
    hu, _ = chest
    files = write_ct_series(tmp_path, hu[:10], SPACING, shuffle=True, seed=4)
    by_name = [pydicom.dcmread(f) for f in sorted(files)]
    z = [float(d.ImagePositionPatient[2]) for d in by_name]
    numbers = [int(d.InstanceNumber) for d in by_name]
    assert z != sorted(z)
    assert numbers == sorted(numbers)  # names follow InstanceNumber, and neither follows position


def test_xray_phantom_has_dark_lungs_and_the_right_lung_on_the_image_left():
    image, mask = make_xray_phantom((256, 256))
    mediastinum = image[100:160, 120:136]
    assert image[mask > 0].mean() < mediastinum.mean() - 0.2
    assert np.nonzero(mask == RIGHT_LUNG)[1].mean() < 128 < np.nonzero(mask == LEFT_LUNG)[1].mean()


@pytest.mark.parametrize("photometric", ["MONOCHROME1", "MONOCHROME2"])
def test_xray_dicom_stores_monochrome1_as_the_complement(tmp_path, photometric):
    image, _ = make_xray_phantom((64, 64))
    path = write_xray_dicom(tmp_path / "xr.dcm", image, photometric=photometric, bits_stored=12)
    ds = pydicom.dcmread(path)
    assert ds.Modality == "DX" and ds.PhotometricInterpretation == photometric and ds.BitsAllocated == 16
    stored = ds.pixel_array.astype(float) / 4095
    expected = 1.0 - image if photometric == "MONOCHROME1" else image
    assert np.abs(stored - expected).max() < 1e-3


@pytest.mark.parametrize("bits", [8, 16])
def test_xray_png_keeps_its_bit_depth(tmp_path, bits):
    image, _ = make_xray_phantom((64, 64))
    path = write_xray_png(tmp_path / "xr.png", image, bits=bits)
    stored = np.asarray(PILImage.open(path))
    assert stored.dtype == (np.uint8 if bits == 8 else np.uint16)
    assert stored.max() > (200 if bits == 8 else 50000)


def test_mixed_folder_holds_every_kind_of_file(tmp_path):
    mixed = write_mixed_folder(tmp_path / "study", shape=(6, 32, 32))
    for path in (*mixed.ct_files, *mixed.second_ct_files, mixed.xray, mixed.report, mixed.presentation_state, mixed.text):
        assert path.is_file()
    assert mixed.truncated.stat().st_size < mixed.ct_files[0].stat().st_size
    assert pydicom.dcmread(mixed.report).Modality == "SR"
    assert pydicom.dcmread(mixed.presentation_state).Modality == "PR"
