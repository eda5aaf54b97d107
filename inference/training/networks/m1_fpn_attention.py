"""M1: ResNet50 with self-attention in conv3..conv5 and a feature pyramid over conv2..conv5.

Choices the paper leaves open (also written in the model card):
- Attention is timm's ``NonLocalAttn`` (non-local block: every output position is a softmax-weighted
  sum over all positions, weights from feature correlations; residual, with its output BatchNorm
  initialised to zero so it starts as the identity and a pretrained backbone is undisturbed). It is put
  in the ``se`` slot of the LAST bottleneck of layer2, layer3 and layer4 (= conv3_4, conv4_6, conv5_3),
  i.e. on the residual branch just before the block's shortcut addition and final ReLU: "before the
  output of the last residual block", shape-preserving.
- The pyramid is torchvision's ``FeaturePyramidNetwork`` (lateral 1x1 + top-down nearest upsampling +
  3x3 smoothing, 256 channels) over the outputs of layer1..layer4 (conv2_3, conv3_4, conv4_6, conv5_3).
- All four fused levels P2..P5 feed the classifier: GAP of each, concatenated (4 x 256 values), linear.
  Grad-CAM therefore explains the four fused maps together: each level's class map is upsampled to the
  P2 grid (stride 4) and summed before the ReLU, the same rule as multi-backbone M3.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch
from timm.layers import NonLocalAttn
from torch import nn
from torchvision.ops import FeaturePyramidNetwork

from inference.training.networks.backbones import create_backbone
from inference.training.networks.common import Classifier, GlobalAveragePool, LinearHead

PYRAMID_STAGES = (1, 2, 3, 4)


class PyramidAttentionMaps(nn.Module):
    """ResNet stages with non-local attention in the last block of ``attention_stages``, then an FPN."""

    def __init__(
        self,
        backbone: str = "resnet50",
        *,
        pretrained: str | Path | None = None,
        in_chans: int = 3,
        pyramid_channels: int = 256,
        attention_stages: Sequence[int] = (2, 3, 4),
    ):
        super().__init__()
        self.backbone = create_backbone(backbone, pretrained=pretrained, out_indices=PYRAMID_STAGES, in_chans=in_chans)
        channels = self.backbone.feature_info.channels()
        for stage in attention_stages:
            last_block = getattr(self.backbone, f"layer{stage}", [None])[-1]
            if getattr(last_block, "se", "absent") is not None:
                raise ValueError(
                    f"M1 needs a timm ResNet without SE blocks; {backbone} layer{stage} has no free attention slot"
                )
            last_block.se = NonLocalAttn(channels[PYRAMID_STAGES.index(stage)])
        self.pyramid = FeaturePyramidNetwork(channels, pyramid_channels)
        self.channels = [pyramid_channels] * len(PYRAMID_STAGES)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        stages = self.backbone(image)
        fused = self.pyramid(OrderedDict((f"c{index + 2}", stage) for index, stage in enumerate(stages)))
        return list(fused.values())


def build_m1(
    *,
    num_classes: int,
    backbone: str = "resnet50",
    pyramid_channels: int = 256,
    attention_stages: Sequence[int] = (2, 3, 4),
    pretrained: str | Path | None = None,
    in_chans: int = 3,
) -> Classifier:
    """``pretrained`` loads into the ResNet before the attention blocks are added (they are new layers)."""
    features = PyramidAttentionMaps(
        backbone,
        pretrained=pretrained,
        in_chans=in_chans,
        pyramid_channels=pyramid_channels,
        attention_stages=attention_stages,
    )
    return Classifier(features, GlobalAveragePool(), LinearHead(sum(features.channels), num_classes))
