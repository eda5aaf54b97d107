"""M5: ResNet50 and ResNet-v2-152 feature maps concatenated, 1x1 conv to 1024 channels, GAP, linear.

timm's ``resnetv2_152`` is the Keras ResNet152V2 analogue (pre-activation bottlenecks with plain
BatchNorm; the ``_bit`` variants use GroupNorm + weight standardisation instead). The 1x1 convolution
has no activation, as the paper says; its output is the Grad-CAM layer. Both backbones have stride 32,
so their grids match; if a configured pair does not, the later maps are resized to the first one's grid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from inference.training.networks.backbones import BackboneMaps
from inference.training.networks.common import Classifier, GlobalAveragePool, LinearHead


class ConcatenatedMaps(nn.Module):
    def __init__(
        self,
        backbones: Sequence[str],
        *,
        fused_channels: int = 1024,
        pretrained: Mapping[str, str | Path] | None = None,
        in_chans: int = 3,
    ):
        super().__init__()
        self.backbones = BackboneMaps(list(backbones), pretrained=pretrained, in_chans=in_chans)
        self.fuse = nn.Conv2d(sum(self.backbones.channels), fused_channels, kernel_size=1)
        self.channels = [fused_channels]

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        maps = self.backbones(image)
        grid = maps[0].shape[-2:]
        aligned = [m if m.shape[-2:] == grid else F.interpolate(m, size=grid, mode="bilinear") for m in maps]
        return [self.fuse(torch.cat(aligned, dim=1))]


def build_m5(
    *,
    num_classes: int,
    backbones: Sequence[str] = ("resnet50", "resnetv2_152"),
    fused_channels: int = 1024,
    pretrained: Mapping[str, str | Path] | None = None,
    in_chans: int = 3,
) -> Classifier:
    """``pretrained`` maps backbone names to local ImageNet checkpoint files."""
    features = ConcatenatedMaps(backbones, fused_channels=fused_channels, pretrained=pretrained, in_chans=in_chans)
    return Classifier(features, GlobalAveragePool(), LinearHead(fused_channels, num_classes))
