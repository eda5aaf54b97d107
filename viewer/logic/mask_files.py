"""Reading a user's mask or heatmap file into a layer for the open image. Qt-free.

CT: anything SimpleITK reads (NIfTI .nii/.nii.gz, MetaImage .mha/.mhd, NRRD), voxel for voxel on
the open volume: the array must have the volume's (z, y, x) shape. X-ray: a PNG (or any image
Pillow reads) of the radiograph's size. Integer data with few values becomes a label layer
(a 0/255 mask becomes label 1); anything else becomes a heatmap scaled to [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inference.study import CTVolume, Image
from viewer.logic.layers import LUNG_LABEL_NAMES, HeatmapLayer, LabelLayer, Layer

_MAX_LABELS = 32


class MaskFileError(ValueError):
    """The file cannot be placed on the open image; the message says why and what was expected."""


def _read_volume(path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    import SimpleITK as sitk

    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise MaskFileError(f"{path.name} is not a volume SimpleITK can read (NIfTI, MHA, NRRD): {exc}") from exc
    spacing_xyz = image.GetSpacing()
    return sitk.GetArrayFromImage(image), tuple(float(s) for s in reversed(spacing_xyz))  # type: ignore[return-value]


def _read_picture(path: Path) -> np.ndarray:
    from PIL import Image as PILImage, UnidentifiedImageError

    try:
        with PILImage.open(path) as picture:
            grey = picture.convert("I") if picture.mode in ("I", "I;16", "I;16B") else picture.convert("L")
            return np.asarray(grey)
    except (UnidentifiedImageError, OSError) as exc:
        raise MaskFileError(f"{path.name} is not an image Pillow can read: {exc}") from exc


def layer_from_array(name: str, values: np.ndarray) -> Layer:
    """Labels for integer data with few distinct values (0/255 -> 0/1), otherwise a [0, 1] heatmap."""
    if values.dtype.kind in "biu" or np.array_equal(values, np.round(values)):
        distinct = np.unique(values)
        if set(distinct.tolist()) <= {0, 255}:
            return LabelLayer(name, (values > 0).astype(np.uint8))
        if distinct.min() >= 0 and distinct.max() <= 255 and len(distinct) <= _MAX_LABELS:
            names = LUNG_LABEL_NAMES if set(distinct.tolist()) <= {0, 1, 2} else {}
            return LabelLayer(name, values.astype(np.uint8), label_names=names)
    values = values.astype(np.float32)
    low, high = float(values.min()), float(values.max())
    if low < 0.0 or high > 1.0:
        values = (values - low) / max(high - low, 1e-6)
    return HeatmapLayer(name, values)


def read_mask_layer(path: str | Path, image: Image, name: str | None = None) -> tuple[Layer, list[str]]:
    """A layer from ``path`` for ``image``, and notes for the user (e.g. spacing differs from the series)."""
    path = Path(path)
    name = name or path.name.split(".")[0]
    notes: list[str] = []
    if isinstance(image, CTVolume):
        values, spacing = _read_volume(path)
        if values.ndim == 4 and values.shape[-1] == 1:
            values = values[..., 0]
        if values.shape != image.shape:
            raise MaskFileError(
                f"{path.name} has shape {values.shape} (z, y, x) but the open series is {image.shape}; "
                "a mask must be on the same voxel grid as the series"
            )
        if not np.allclose(spacing, image.spacing, rtol=0.02, atol=1e-3):
            notes.append(f"{path.name} spacing {spacing} differs from the series {image.spacing}; placed voxel by voxel")
    else:
        values = _read_picture(path)
        if values.shape != image.shape:
            raise MaskFileError(
                f"{path.name} is {values.shape[1]} x {values.shape[0]} pixels but the X-ray is "
                f"{image.shape[1]} x {image.shape[0]}; a mask must have the radiograph's size"
            )
    return layer_from_array(name, values), notes
