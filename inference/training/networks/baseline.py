"""Baseline: ResNet50 + global average pooling + linear, the seed papers' comparison row."""

from __future__ import annotations

from pathlib import Path

from inference.training.networks.backbones import BackboneMaps
from inference.training.networks.common import Classifier, GlobalAveragePool, LinearHead


def build_baseline(
    *, num_classes: int, backbone: str = "resnet50", pretrained: str | Path | None = None, in_chans: int = 3
) -> Classifier:
    features = BackboneMaps([backbone], pretrained=pretrained, in_chans=in_chans)
    return Classifier(features, GlobalAveragePool(), LinearHead(sum(features.channels), num_classes))
