"""Colormaps for heatmap overlays as 256-entry RGB tables, Qt-free so the layer model can name them.

A heatmap slice is quantised to uint8 once and coloured through one of these tables, which keeps
overlay drawing on pyqtgraph's fast indexed-image path (uint8 LUTs of at most 256 entries, explicit levels).
"""

from __future__ import annotations

import numpy as np

# Anchor colours sampled from the published maps; interpolating 9-10 anchors is visually exact at 8 bits.
_ANCHORS: dict[str, tuple[tuple[float, tuple[int, int, int]], ...]] = {
    "jet": ((0.0, (0, 0, 128)), (0.125, (0, 0, 255)), (0.375, (0, 255, 255)), (0.625, (255, 255, 0)),
            (0.875, (255, 0, 0)), (1.0, (128, 0, 0))),
    "hot": ((0.0, (0, 0, 0)), (0.375, (255, 0, 0)), (0.75, (255, 255, 0)), (1.0, (255, 255, 255))),
    "inferno": tuple(zip(np.linspace(0, 1, 10), (
        (0, 0, 4), (27, 12, 65), (74, 12, 107), (120, 28, 109), (165, 44, 96), (207, 68, 70),
        (237, 105, 37), (251, 155, 6), (247, 209, 61), (252, 255, 164)))),
    "viridis": tuple(zip(np.linspace(0, 1, 9), (
        (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141), (39, 173, 129),
        (92, 200, 99), (170, 220, 50), (253, 231, 37)))),
    "grey": ((0.0, (0, 0, 0)), (1.0, (255, 255, 255))),
}

COLORMAPS: tuple[str, ...] = tuple(_ANCHORS)


def colormap_table(name: str) -> np.ndarray:
    """The (256, 3) uint8 RGB table of a named colormap; ValueError names the known ones."""
    if name not in _ANCHORS:
        raise ValueError(f"unknown colormap {name!r}; known: {', '.join(COLORMAPS)}")
    stops = np.array([s for s, _ in _ANCHORS[name]], dtype=float)
    colours = np.array([c for _, c in _ANCHORS[name]], dtype=float)
    x = np.linspace(0.0, 1.0, 256)
    table = np.stack([np.interp(x, stops, colours[:, i]) for i in range(3)], axis=1)
    return np.rint(table).astype(np.uint8)
