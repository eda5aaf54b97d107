"""Lung volumes and density bands on a volume whose voxel counts are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inference.quantification import quantify_lungs


def test_volumes_bands_and_severity_from_known_counts():
    # 2 x 2 x 2 mm voxels = 8 microlitres; right lung 1000 voxels, left 500.
    hu = np.full((10, 20, 20), 40, dtype=np.int16)
    labels = np.zeros_like(hu, dtype=np.uint8)
    labels[:, :10, :10] = 1
    labels[:5, 10:, 10:] = 2
    right = hu[:, :10, :10]
    right[...] = -850                      # 1000 voxels normally aerated ...
    right[:2] = -600                       # ... of which 200 ground-glass
    right[2:3] = -200                      # and 100 consolidation-like
    hu[:5, 10:, 10:] = -980                # left lung all hyperlucent
    q = quantify_lungs(hu, labels, (2.0, 2.0, 2.0))
    assert q.volume_ml == pytest.approx({"right": 8.0, "left": 4.0, "total": 12.0})
    assert q.hu_bands["-950..-750"]["right"] == pytest.approx(0.7)
    assert q.hu_bands["-750..-400"]["right"] == pytest.approx(0.2)
    assert q.hu_bands["-400..0"]["right"] == pytest.approx(0.1)
    assert q.hu_bands["-1050..-950"]["left"] == pytest.approx(1.0)
    assert q.hu_bands["-1050..-950"]["total"] == pytest.approx(500 / 1500)
    assert q.severity_percent == pytest.approx(100 * 300 / 1500)
    assert q.mean_hu["left"] == pytest.approx(-980)


def test_missing_lung_has_zero_volume_and_undefined_shares():
    hu = np.full((2, 4, 4), -850, dtype=np.int16)
    labels = np.ones_like(hu, dtype=np.uint8)
    q = quantify_lungs(hu, labels, (1.0, 1.0, 1.0))
    assert q.volume_ml["left"] == 0.0 and math.isnan(q.hu_bands["-950..-750"]["left"])
    assert q.to_json()["severity_percent"] == 0.0
    with pytest.raises(ValueError):
        quantify_lungs(hu, labels[:1], (1.0, 1.0, 1.0))
