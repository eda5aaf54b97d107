"""Lung quantification from a CT lung mask: volumes, density bands and a severity index.

Density bands (HU, half-open [low, high)), shares of each lung's voxels:

- ``-1050..-950`` hyperlucent (emphysema-like, or air trapping),
- ``-950..-750``  normally aerated lung,
- ``-750..-400``  ground-glass density,
- ``-400..0``     consolidation-like density.

Voxels outside all bands (denser than 0 HU: vessel walls, calcification) stay in the denominator,
so the four shares need not sum to 1.

Severity index = percentage of lung voxels in -750..0 HU (ground-glass + consolidation), the
quantity CT severity scores of COVID-19 pneumonia approximate by eye. Vessels and airway walls
inside the mask also fall in that range, so healthy lungs score a few percent, not 0; compare it
between studies of one scanner and protocol, not against a universal cut-off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HU_BANDS: dict[str, tuple[int, int]] = {
    "-1050..-950": (-1050, -950),
    "-950..-750": (-950, -750),
    "-750..-400": (-750, -400),
    "-400..0": (-400, 0),
}
SEVERITY_RANGE_HU = (-750, 0)
SIDES = {"right": 1, "left": 2}


@dataclass(frozen=True)
class LungQuantification:
    """Per lung ("right", "left") and for both ("total"): volume in ml, band shares in [0, 1], mean HU."""

    volume_ml: dict[str, float]
    hu_bands: dict[str, dict[str, float]]
    mean_hu: dict[str, float]
    severity_percent: float

    def to_json(self) -> dict:
        return {
            "volume_ml": self.volume_ml,
            "hu_bands": self.hu_bands,
            "mean_hu": self.mean_hu,
            "severity_percent": self.severity_percent,
            "severity_rule": "percent of lung voxels in -750..0 HU (ground-glass + consolidation)",
        }


def _share(values: np.ndarray, low: float, high: float) -> float:
    return float(np.count_nonzero((values >= low) & (values < high)) / values.size) if values.size else float("nan")


def quantify_lungs(hu: np.ndarray, labels: np.ndarray, spacing_mm: tuple[float, float, float]) -> LungQuantification:
    """Volumes and densities of the right (label 1) and left (label 2) lung on the same (z, y, x) grid."""
    if hu.shape != labels.shape:
        raise ValueError(f"HU {hu.shape} and lung mask {labels.shape} differ in shape")
    voxel_ml = float(np.prod(spacing_mm)) / 1000.0
    values = {side: hu[labels == label] for side, label in SIDES.items()}
    values["total"] = np.concatenate([values["right"], values["left"]])
    return LungQuantification(
        volume_ml={side: v.size * voxel_ml for side, v in values.items()},
        hu_bands={band: {side: _share(v, lo, hi) for side, v in values.items()} for band, (lo, hi) in HU_BANDS.items()},
        mean_hu={side: float(v.mean()) if v.size else float("nan") for side, v in values.items()},
        severity_percent=100.0 * _share(values["total"], *SEVERITY_RANGE_HU),
    )
