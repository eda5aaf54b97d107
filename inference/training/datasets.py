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

from inference.preprocessing import InputSpec, LungCrop, crop_to_lungs, crop_to_region, fit_to_square, lung_hull, lung_view, normalise
from inference.training.splits import LabelledImage

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
    """(image [C,S,S] float, label): an X-ray (or any 8-bit image) fitted to the model's square."""

    def __init__(self, items: Sequence[LabelledImage], spec: InputSpec, augment: Callable | None = None):
        self.items = list(items)
        self.spec = spec
        self.augment = augment

    def __len__(self) -> int:
        return len(self.items)

    def labels(self) -> np.ndarray:
        return np.array([item.label for item in self.items])

    def __getitem__(self, index: int):
        square = fit_to_square(load_grey_uint8(self.items[index].path), self.spec.size, self.spec.resize)
        if self.augment is not None:
            square = self.augment(tv_tensors.Image(torch.from_numpy(square)[None])).numpy()[0]
        return _to_input(square, self.spec), self.items[index].label


class LungCropDataset(Dataset):
    """Images through the lung contract (``preprocessing.crop_to_lungs`` / ``crop_to_region``, then
    ``lung_view``), exactly as inference brings a DICOM slice or a lung-cropped X-ray to a model.

    Items are (image [C,S,S], label), or with ``with_region`` (image, lung region [1,S,S], label) for
    M4's mask-weighted pooling. The native-resolution lung crops are computed once per image.
    ``lung_masks`` (image path -> label PNG) switches the lungs from "found on the image" (CT) to the
    hull of a lung U-Net's mask (lung-cropped X-rays, ``crop="lungs"``).
    """

    def __init__(
        self,
        items: Sequence[LabelledImage],
        spec: InputSpec,
        augment: Callable | None = None,
        with_region: bool = False,
        lung_masks: dict[str, Path] | None = None,
    ):
        self.items = list(items)
        self.spec = spec
        self.augment = augment
        self.with_region = with_region
        self.lung_masks = lung_masks
        self._crops: dict[int, LungCrop] = {}

    def __len__(self) -> int:
        return len(self.items)

    def labels(self) -> np.ndarray:
        return np.array([item.label for item in self.items])

    def slice_weights(self) -> np.ndarray:
        """Each slice's lung area in pixels: its weight in a series' verdict, as at inference."""
        return np.array([float(self.lung_crop(i).region.sum()) for i in range(len(self))])

    def lung_crop(self, index: int) -> LungCrop:
        if index not in self._crops:
            path = self.items[index].path
            image = load_grey_uint8(path)
            if self.lung_masks is None:
                self._crops[index] = crop_to_lungs(image)
            else:
                with Image.open(self.lung_masks[path]) as opened:
                    labels = np.asarray(opened, dtype=np.uint8)
                self._crops[index] = crop_to_region(image, lung_hull(labels))
        return self._crops[index]

    def __getitem__(self, index: int):
        square, region = lung_view(self.lung_crop(index), self.spec.size, self.spec.resize)
        if self.augment is not None:
            image_t, region_t = self.augment(tv_tensors.Image(torch.from_numpy(square)[None]), tv_tensors.Mask(torch.from_numpy(region)[None]))
            square, region = image_t.numpy()[0], region_t.numpy()[0]
        label = self.items[index].label
        if not self.with_region:
            return _to_input(square, self.spec), label
        return _to_input(square, self.spec), torch.from_numpy(region.astype(np.float32))[None], label


def balanced_weights(items: Sequence[LabelledImage]) -> np.ndarray:
    """Sampling weight per item so each class gets the same share of draws and, within a class, each
    source does too: a source cannot dominate a class and become its signature."""
    cells: dict[tuple[int, str], int] = {}
    for item in items:
        cells[(item.label, item.source)] = cells.get((item.label, item.source), 0) + 1
    sources_per_class: dict[int, int] = {}
    for label, _ in cells:
        sources_per_class[label] = sources_per_class.get(label, 0) + 1
    return np.array([1.0 / (sources_per_class[i.label] * cells[(i.label, i.source)]) for i in items])


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
