"""From a TrainConfig to a Run: the split, datasets, task and provenance for each kind of method."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from inference.preprocessing import InputSpec
from inference.training.augment import (
    METHOD_AUGMENTATION,
    build_augmentation,
    build_lung_crop_augmentation,
    build_xray_mask_augmentation,
)
from inference.training.datasets import ClassificationDataset, LungCropDataset, MaskPairDataset, balanced_weights, mask_pairs
from inference.training.model_card import DATA_TERMS
from inference.training.provenance import provenance
from inference.training.sources import describe_sources, list_sources, source_info
from inference.training.splits import Split, make_split
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


def _split(config: TrainConfig, items, classes, multi_source: bool = False) -> Split:
    """The run's split: reused on resume so the held-out images never change under a model.

    Several sources: stratified per source and class, patient-ordered sources cut into blocks,
    and ``config.holdout`` (a source's folder name) held out whole as the test set."""
    path = Path(config.out) / "split.json"
    if path.exists():
        return Split.load(path)
    sources = {getattr(item, "source", "") for item in items}
    if config.holdout is not None and config.holdout not in sources:
        raise ValueError(f"--holdout-source {config.holdout}: not one of the data folders ({', '.join(sorted(sources))})")
    split = make_split(
        items, classes, stratify=multi_source,
        ordered_sources=frozenset(s for s in sources if source_info(s).ordered_by_patient), holdout=config.holdout,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    split.save(path)
    return split


def classification_run(config: TrainConfig) -> Run:
    """Folder-per-class classification over one or several sources. CT slices go through the CT
    slice contract (``LungCropDataset``) with the multi-source augmentation, M4 with its lung region;
    several sources are drawn class- and source-balanced instead of class-weighted."""
    classes, items = list_sources(config.data_roots)
    multi_source = len(config.data_roots) > 1
    split = _split(config, items, classes, multi_source)
    ct = config.modality == "CT"
    spec = InputSpec(size=config.image_size, window=(1500.0, -600.0) if ct else None, crop="lungs" if ct or config.lung_model else None)
    train_items = _subsample(split.train, config.max_images, config.seed)
    if spec.crop == "lungs":
        masks = None
        if not ct:
            from inference.training.lung_masks import cache_lung_masks  # runs the U-Net: only these runs need it

            paths = [item.path for part in (train_items, split.val, split.test) for item in part]
            masks = cache_lung_masks(paths, config.lung_model, Path(config.out) / "lung_masks")
        augment = None if config.augment == "none" else build_lung_crop_augmentation(flip=ct, strength=config.augment)

        def dataset(parts, augmentation):
            return LungCropDataset(parts, spec, augmentation, with_region=config.method == "M4", lung_masks=masks)
    else:
        augment = _augment(config)

        def dataset(parts, augmentation):
            return ClassificationDataset(parts, spec, augmentation)
    train_set, val_set, test_set = dataset(train_items, augment), dataset(split.val, None), dataset(split.test, None)
    weights, sample_weights = None, None
    if multi_source:
        sample_weights = balanced_weights(train_items)
    elif config.class_weights:
        counts = np.bincount(train_set.labels(), minlength=len(classes)).astype(np.float64)
        weights = torch.tensor(counts.sum() / (len(classes) * np.maximum(counts, 1)), dtype=torch.float32)
    task = ClassificationTask(classes, weights, uses_mask=config.method == "M4", bf16=config.bf16)
    model_config = {"num_classes": len(classes), "pretrained": config.pretrained, **config.model_config}
    terms = describe_sources(split.sources()) if split.sources() else DATA_TERMS.get(config.modality, "")
    return Run(train_set, val_set, test_set, task, spec, classes, model_config, provenance(config, split, terms), sample_weights)


def unet2d_run(config: TrainConfig) -> Run:
    """X-ray lung masks: images under DATA/<class>/ matched by name to MASK_DIR/<class>/ masks."""
    if not config.mask_dir:
        raise ValueError("unet2d needs --mask-dir with lung masks named like the images")
    pairs = []
    for mask_folder in sorted(p for p in Path(config.mask_dir).iterdir() if p.is_dir()):
        pairs += mask_pairs(Path(config.data_roots[0]) / mask_folder.name, mask_folder)
    if not pairs:
        raise ValueError(f"no image/mask pairs found under {config.data_roots[0]} and {config.mask_dir}")
    classes = ("lung",)
    split = _split(config, [(image, 0) for image, _ in pairs], classes)
    mask_of = dict(pairs)
    spec = InputSpec(size=config.image_size)

    def dataset(items, augment):
        return MaskPairDataset([(item.path, mask_of[item.path]) for item in items], spec, augment)

    train_items = _subsample(split.train, config.max_images, config.seed)
    task = SegmentationTask(num_labels=3, bf16=config.bf16, volumetric=False)
    model_config = {"num_labels": 3, **config.model_config}
    augment = None if config.augment == "none" else build_xray_mask_augmentation(config.image_size)
    return Run(dataset(train_items, augment), dataset(split.val, None), dataset(split.test, None), task, spec,
               ("background", "right lung", "left lung"), model_config,
               provenance(config, split, DATA_TERMS["XR"] + "; masks from the same database (Viral Pneumonia subset only)"))


def build_run(config: TrainConfig) -> Run:
    if config.method in CLASSIFIER_METHODS:
        if config.method == "M4" and config.modality != "CT" and not config.lung_model:
            raise ValueError("M4 pools over a lung region: train it on CT, or on X-rays with --lung-model")
        return classification_run(config)
    if config.method == "unet2d":
        return unet2d_run(config)
    if config.method == "unet3d":
        from inference.training.volumes import unet3d_run  # builds CT cubes: only this method needs the loaders

        return unet3d_run(config)
    raise ValueError(f"unknown method {config.method!r}")
