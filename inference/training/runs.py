"""From a TrainConfig to a Run: the split, datasets, task and provenance for each kind of method."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from inference.lung_segmentation import window_image_lung_mask
from inference.preprocessing import InputSpec
from inference.training.augment import METHOD_AUGMENTATION, build_augmentation
from inference.training.datasets import ClassificationDataset, MaskPairDataset, mask_pairs
from inference.training.model_card import DATA_TERMS
from inference.training.provenance import provenance
from inference.training.splits import Split, list_class_folders, make_split
from inference.training.train import CLASSIFIER_METHODS, ClassificationTask, Run, SegmentationTask, TrainConfig


def _augment(config: TrainConfig):
    if config.augment == "none":
        return None
    return build_augmentation(METHOD_AUGMENTATION[config.method])


def _subsample(items: tuple, limit: int, seed: int) -> tuple:
    if not limit or len(items) <= limit:
        return items
    keep = np.random.default_rng(seed).choice(len(items), size=limit, replace=False)
    return tuple(items[i] for i in sorted(keep))


def _split(config: TrainConfig, items, classes) -> Split:
    """The run's split: reused on resume so the held-out images never change under a model."""
    path = Path(config.out) / "split.json"
    if path.exists():
        return Split.load(path)
    split = make_split(items, classes)
    path.parent.mkdir(parents=True, exist_ok=True)
    split.save(path)
    return split


def classification_run(config: TrainConfig, lung_mask_fn=None) -> Run:
    classes, items = list_class_folders(Path(config.data))
    split = _split(config, items, classes)
    spec = InputSpec(size=config.image_size, window=(1500.0, -600.0) if config.modality == "CT" else None)
    train_items = _subsample(split.train, config.max_images, config.seed)
    train_set = ClassificationDataset(train_items, spec, _augment(config), lung_mask_fn)
    val_set = ClassificationDataset(split.val, spec, None, lung_mask_fn)
    test_set = ClassificationDataset(split.test, spec, None, lung_mask_fn)
    weights = None
    if config.class_weights:
        counts = np.bincount(train_set.labels(), minlength=len(classes)).astype(np.float64)
        weights = torch.tensor(counts.sum() / (len(classes) * np.maximum(counts, 1)), dtype=torch.float32)
    task = ClassificationTask(classes, weights, uses_mask=lung_mask_fn is not None, bf16=config.bf16)
    model_config = {"num_classes": len(classes), "pretrained": config.pretrained, **config.model_config}
    return Run(train_set, val_set, test_set, task, spec, classes, model_config,
               provenance(config, split, DATA_TERMS.get(config.modality, config.data)))


def unet2d_run(config: TrainConfig) -> Run:
    """X-ray lung masks: images under DATA/<class>/ matched by name to MASK_DIR/<class>/ masks."""
    if not config.mask_dir:
        raise ValueError("unet2d needs --mask-dir with lung masks named like the images")
    pairs = []
    for mask_folder in sorted(p for p in Path(config.mask_dir).iterdir() if p.is_dir()):
        pairs += mask_pairs(Path(config.data) / mask_folder.name, mask_folder)
    if not pairs:
        raise ValueError(f"no image/mask pairs found under {config.data} and {config.mask_dir}")
    classes = ("lung",)
    split = _split(config, [(image, 0) for image, _ in pairs], classes)
    mask_of = dict(pairs)
    spec = InputSpec(size=config.image_size)

    def dataset(items, augment):
        return MaskPairDataset([(item.path, mask_of[item.path]) for item in items], spec, augment)

    train_items = _subsample(split.train, config.max_images, config.seed)
    task = SegmentationTask(num_labels=3, bf16=config.bf16, volumetric=False)
    model_config = {"num_labels": 3, **config.model_config}
    return Run(dataset(train_items, _augment(config)), dataset(split.val, None), dataset(split.test, None), task, spec,
               ("background", "right lung", "left lung"), model_config,
               provenance(config, split, DATA_TERMS["XR"] + "; masks from the same database (Viral Pneumonia subset only)"))


def build_run(config: TrainConfig) -> Run:
    if config.method in CLASSIFIER_METHODS:
        return classification_run(config, window_image_lung_mask if config.method == "M4" else None)
    if config.method == "unet2d":
        return unet2d_run(config)
    if config.method == "unet3d":
        from inference.training.volumes import unet3d_run  # builds CT cubes: only this method needs the loaders

        return unet3d_run(config)
    raise ValueError(f"unknown method {config.method!r}")
