"""THE CT slice contract: a DICOM slice in HU and a lung-window screen capture reach a model alike.

The slice models are trained on PNG/JPEG captures and run on DICOM series; if the two arrive
differently (other crop, other scale, table and text beside the lungs), a model reads the source,
not the disease. These tests hold the contract to what it promises on phantoms with known lungs
and on the real files: the real DICOM series against the real scanner captures.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from PIL import Image

from inference.phantoms import make_ct_phantom
from inference.preprocessing import (
    AIR_LEVEL_U8,
    crop_to_lungs,
    lung_view,
    ct_to_uint8,
    prepare_ct_slices,
    InputSpec,
    lung_hull,
    slice_lung_region,
)
from inference.study import WINDOW_PRESETS


def test_the_air_level_is_minus_400_hu_in_the_lung_window():
    # darker than the level is aerated: below -400 HU, within one grey step (6 HU)
    assert ct_to_uint8(np.array([-410]))[0] < AIR_LEVEL_U8 <= ct_to_uint8(np.array([-400]))[0]


@pytest.fixture(scope="module")
def phantom_slice():
    hu, labels = make_ct_phantom((40, 160, 160), (5.0, 2.8, 2.8), lesions=True, seed=2)
    # the slice through the pleural-based consolidation (right base, against the posterior chest wall)
    dense = (labels == 1) & (hu > -300)
    z = int(np.argmax(dense.sum(axis=(1, 2))))
    return hu[z], labels[z]


def test_region_holds_both_lungs_with_their_dense_disease_and_not_the_room_air(phantom_slice):
    hu, labels = phantom_slice
    region = slice_lung_region(ct_to_uint8(hu))
    lungs = labels > 0
    assert region[lungs].mean() > 0.97  # the pleural-based consolidation included
    # the pleural-based consolidation: the lung's convex outline takes in all but its outer rim
    assert region[(labels == 1) & (hu > -300)].mean() > 0.7
    outside_body = hu < -950
    outside_body[lungs] = False
    assert region[outside_body].mean() < 0.02
    assert not region[0].any() and not region[:, 0].any()  # room air at the border is never lung


def test_the_view_is_the_lungs_with_everything_else_black(phantom_slice):
    hu, labels = phantom_slice
    image = ct_to_uint8(hu)
    lungs = crop_to_lungs(image)
    top, left, height, width = lungs.box
    rows, cols = np.nonzero(labels)
    assert top <= rows.min() and rows.max() < top + height and left <= cols.min() and cols.max() < left + width
    assert height < 0.8 * hu.shape[0]  # room air and table cut away
    thorax = lung_hull((labels > 0).astype(np.uint8))[top : top + height, left : left + width]
    far = ~thorax
    for _ in range(6):  # a few pixels beyond the hull of both lungs: the body wall, not the pleura
        far &= np.roll(far, 1, 0) & np.roll(far, -1, 0) & np.roll(far, 1, 1) & np.roll(far, -1, 1)
    assert far.any() and (lungs.image[far] == 0).mean() > 0.9  # chest wall and fat outside the thorax are black
    spine = hu[top : top + height, left : left + width] > 600
    assert (lungs.image[spine] > 0).mean() > 0.5  # what lies between the lungs stays in view
    square, region = lung_view(lungs, 64)
    assert square.shape == region.shape == (64, 64) and set(np.unique(region)) <= {0, 1}


def test_a_slice_without_lung_is_kept_whole_and_says_so():
    soft = np.full((1, 32, 32), 40, dtype=np.int16)
    lungs = crop_to_lungs(ct_to_uint8(soft[0]))
    assert not lungs.found and lungs.image.shape == (32, 32)
    batch, regions = prepare_ct_slices(soft, InputSpec(size=16, channels=1, mean=(0.0,), std=(1.0,)))
    assert batch.shape == (1, 1, 16, 16) and regions.shape == (1, 1, 16, 16)


def _stats(image: np.ndarray):
    lungs = crop_to_lungs(image)
    if not lungs.found:
        return None
    square, region = lung_view(lungs, 224)
    return square, region, lungs.box


def _pooled_histogram(views) -> np.ndarray:
    counts = sum(np.bincount(square[region > 0], minlength=256) for square, region, _ in views)
    return counts / counts.sum()


@pytest.mark.realdata
def test_a_real_dicom_series_and_real_scanner_captures_look_alike_to_a_model(shared_data):
    """Lung_Dx-A0001 (DICOM, HU) against every 10th scanner capture (JPEG, lung window): the lung
    pixels' histogram, the share of the view that is lung, and the crop's shape agree."""
    captures = sorted((shared_data / "ct_slices_scanner").rglob("*.jpg"))[::10]
    scanner = [v for v in (_stats(np.asarray(Image.open(p).convert("L"))) for p in captures) if v]
    series = sorted((shared_data / "ct_series" / "Lung_Dx-A0001").glob("*.dcm"))[8:60]
    dicom = []
    for path in series:
        ds = pydicom.dcmread(path)
        hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        view = _stats(ct_to_uint8(hu, WINDOW_PRESETS["lung"]))
        if view:
            dicom.append(view)
    assert len(dicom) > 0.9 * len(series) and len(scanner) > 0.9 * len(captures)
    overlap = np.minimum(_pooled_histogram(scanner), _pooled_histogram(dicom)).sum()
    assert overlap > 0.7, f"lung-pixel histograms overlap by {overlap:.2f}"
    for measure in (lambda v: (v[1] > 0).mean(), lambda v: (v[0] == 0).mean()):
        assert abs(np.median([measure(v) for v in scanner]) - np.median([measure(v) for v in dicom])) < 0.08
    aspect = [np.median([v[2][3] / v[2][2] for v in views]) for views in (scanner, dicom)]
    assert abs(aspect[0] - aspect[1]) < 0.2
    lung_median = [np.median(np.concatenate([v[0][v[1] > 0] for v in views])) for views in (scanner, dicom)]
    assert abs(lung_median[0] - lung_median[1]) < 20
