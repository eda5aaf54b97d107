"""The networks of the five methods, the baseline and the lung U-Nets, one module per architecture.

``build_network(method, **config)`` is the one way to make them, from the method's defaults
(``METHOD_DEFAULTS``) overridden by ``config``; ``network_config`` gives the full resolved config,
which is what a checkpoint stores so the same network can be rebuilt for export.

Every classifier follows ``common.Classifier``: ``forward(image, lung_mask=None) -> logits [N, K]``,
``feature_maps``, ``pool``, ``head``, ``head_jacobian``. The U-Nets map an image or volume to per-label
logits. ``pretrained`` (classifiers only) is a local ImageNet checkpoint file, or for the multi-backbone
M3 and M5 a mapping {backbone name: file}; None trains from scratch.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from inference.training.networks.baseline import build_baseline
from inference.training.networks.common import Classifier
from inference.training.networks.m1_fpn_attention import build_m1
from inference.training.networks.m2_dense_head import build_m2
from inference.training.networks.m3_fusion import DEFAULT_BACKBONES, PAPER_BACKBONES, MajorityVote, build_m3
from inference.training.networks.m4_mask_weighted import build_m4
from inference.training.networks.m5_concat import build_m5
from inference.training.networks.unet2d import build_unet2d
from inference.training.networks.unet3d import MASK_LABELS, UNet, build_unet3d

SEGMENTATION_METHODS = ("unet2d", "unet3d")

_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "baseline": build_baseline,
    "M1": build_m1,
    "M2": build_m2,
    "M3": build_m3,
    "M4": build_m4,
    "M5": build_m5,
    "unet2d": build_unet2d,
    "unet3d": build_unet3d,
}

_CLASSIFIER_DEFAULTS = {"num_classes": 3, "pretrained": None, "in_chans": 3}

METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "baseline": {**_CLASSIFIER_DEFAULTS, "backbone": "resnet50"},
    "M1": {**_CLASSIFIER_DEFAULTS, "backbone": "resnet50", "pyramid_channels": 256, "attention_stages": (2, 3, 4)},
    "M2": {**_CLASSIFIER_DEFAULTS, "backbone": "resnet50", "hidden": 1024, "dropout": 0.5},
    "M3": {**_CLASSIFIER_DEFAULTS, "num_classes": 2, "backbones": DEFAULT_BACKBONES, "dropout": 0.5},
    "M4": {**_CLASSIFIER_DEFAULTS, "num_classes": 2, "backbone": "resnet50", "kernel_size": 3, "sigma": 1.0},
    "M5": {
        **_CLASSIFIER_DEFAULTS,
        "num_classes": 2,
        "backbones": ("resnet50", "resnetv2_152"),
        "fused_channels": 1024,
    },
    "unet2d": {"in_chans": 3, "num_labels": len(MASK_LABELS), "base_channels": 16, "levels": 4},
    "unet3d": {"in_chans": 1, "num_labels": len(MASK_LABELS), "base_channels": 8, "levels": 4},
}


def network_config(method: str, **config: Any) -> dict[str, Any]:
    """The method's defaults overridden by ``config``; unknown methods or options are an error."""
    if method not in METHOD_DEFAULTS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHOD_DEFAULTS)}")
    unknown = set(config) - set(METHOD_DEFAULTS[method])
    if unknown:
        raise ValueError(
            f"{method} has no option(s) {', '.join(sorted(unknown))}; it takes {', '.join(METHOD_DEFAULTS[method])}"
        )
    return {**METHOD_DEFAULTS[method], **config}


def build_network(method: str, **config: Any) -> nn.Module:
    """A freshly initialised network for ``method`` (train mode, like any new nn.Module)."""
    return _BUILDERS[method](**network_config(method, **config))


def is_segmentation(method: str) -> bool:
    return method in SEGMENTATION_METHODS


__all__ = [
    "METHOD_DEFAULTS",
    "MASK_LABELS",
    "PAPER_BACKBONES",
    "SEGMENTATION_METHODS",
    "Classifier",
    "MajorityVote",
    "UNet",
    "build_network",
    "is_segmentation",
    "network_config",
]
