"""torch datasets over the project's data, all going through inference.preprocessing.

Each sample is made exactly as inference makes it: 8-bit grey image -> fit_to_square -> (augment)
-> normalise. Only the augmentation step is training-only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import tv_tensors

from inference.preprocessing import InputSpec, fit_to_square, normalise
from inference.training.splits import LabelledImage

LungMaskFn = Callable[[np.ndarray], np.ndarray]


def load_grey_uint8(path: str | Path) -> np.ndarray:
    """An image file as 8-bit grey; 16-bit PNGs are scaled by their own range."""
    with Image.open(path) as img:
        if img.mode in ("I", "I;16", "I;16B", "F"):
            values = np.asarray(img, dtype=np.float32)
            low, high = float(values.min()), float(values.max())
            return np.rint((values - low) * (255.0 / max(high - low, 1e-6))).astype(np.uint8)
        return np.asarray(img.convert("L"), dtype=np.uint8)


def _to_input(square: np.ndarray, spec: InputSpec) -> torch.Tensor:
    return torch.from_numpy(normalise(square[None], spec)[0])


class ClassificationDataset(Dataset):
    """(image [C,S,S] float, label) or, with ``lung_mask_fn``, (image, lung mask [1,S,S] float, label).

    The lung mask is computed on the square 8-bit image, so it lives in the model's input frame,
    as inference will give it for M4's mask-weighted pooling.
    """

    def __init__(
        self,
        items: Sequence[LabelledImage],
        spec: InputSpec,
        augment: Callable | None = None,
        lung_mask_fn: LungMaskFn | None = None,
    ):
        self.items = list(items)
        self.spec = spec
        self.augment = augment
        self.lung_mask_fn = lung_mask_fn
        self._masks: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.items)

    def labels(self) -> np.ndarray:
        return np.array([item.label for item in self.items])

    def _square(self, index: int) -> np.ndarray:
        return fit_to_square(load_grey_uint8(self.items[index].path), self.spec.size, self.spec.resize)

    def _mask(self, index: int, square: np.ndarray) -> np.ndarray:
        if index not in self._masks:
            self._masks[index] = self.lung_mask_fn(square).astype(np.uint8)
        return self._masks[index]

    def __getitem__(self, index: int):
        square = self._square(index)
        label = self.items[index].label
        if self.lung_mask_fn is None:
            if self.augment is not None:
                square = self.augment(tv_tensors.Image(torch.from_numpy(square)[None])).numpy()[0]
            return _to_input(square, self.spec), label
        mask = self._mask(index, square)
        if self.augment is not None:
            image_t, mask_t = self.augment(tv_tensors.Image(torch.from_numpy(square)[None]), tv_tensors.Mask(torch.from_numpy(mask)))
            square, mask = image_t.numpy()[0], mask_t.numpy()
        return _to_input(square, self.spec), torch.from_numpy(mask.astype(np.float32))[None], label


def split_lungs_by_side(binary: np.ndarray) -> np.ndarray:
    """A frontal chest image's binary lung mask -> labels 1 (patient's right = image left) / 2 (left).

    Each connected component goes to the side of its centroid; the PA/AP convention puts the
    patient's right lung on the viewer's left.
    """
    components = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(binary.astype(np.uint8))))
    labels = np.zeros(binary.shape, dtype=np.uint8)
    middle = binary.shape[1] / 2.0
    for component in range(1, int(components.max()) + 1):
        where = components == component
        labels[where] = 1 if np.nonzero(where)[1].mean() < middle else 2
    return labels


class MaskPairDataset(Dataset):
    """2D image + lung mask pairs (same file names) -> (image [C,S,S] float, labels [S,S] long 0/1/2)."""

    def __init__(self, pairs: Sequence[tuple[str, str]], spec: InputSpec, augment: Callable | None = None):
        self.pairs = list(pairs)
        self.spec = spec
        self.augment = augment

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int):
        image_path, mask_path = self.pairs[index]
        square = fit_to_square(load_grey_uint8(image_path), self.spec.size, self.spec.resize)
        binary = fit_to_square(load_grey_uint8(mask_path), self.spec.size, self.spec.resize) > 127
        labels = split_lungs_by_side(binary)
        if self.augment is not None:
            image_t, mask_t = self.augment(tv_tensors.Image(torch.from_numpy(square)[None]), tv_tensors.Mask(torch.from_numpy(labels)))
            square, labels = image_t.numpy()[0], mask_t.numpy()
        return _to_input(square, self.spec), torch.from_numpy(labels.astype(np.int64))


def mask_pairs(image_dir: Path, mask_dir: Path) -> list[tuple[str, str]]:
    """Images and masks matched by file name; images without a mask are left out."""
    masks = {p.name: p for p in Path(mask_dir).iterdir() if p.is_file()}
    return [(str(p), str(masks[p.name])) for p in sorted(Path(image_dir).iterdir()) if p.name in masks]
