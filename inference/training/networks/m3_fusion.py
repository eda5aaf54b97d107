"""M3: several ImageNet backbones, GAP each, pooled vectors concatenated, dropout, linear.

The backbone list is configurable. ``PAPER_BACKBONES`` is the paper's seven-network list (it builds
and runs, but its ~230 M parameters do not train in reasonable time on a 2-core CPU). The default,
``DEFAULT_BACKBONES``, is two of the paper's own backbones, ResNet50 + DenseNet121. Measured training
speed on this 2-core machine (bf16 autocast + channels_last, 224 px, batch 8, 1 thread, machine shared
with other jobs): ResNet50 alone 4.1 img/s, ResNet18 + DenseNet121 3.8, ResNet50 + DenseNet121 2.6,
i.e. about 2.5 min per epoch on the ~360 training CT slices; ResNet18 (not in the paper) would save a
third of that. The backbones may
end on different grids (e.g. Inception's unpadded stem); Grad-CAM sums each backbone's class map
upsampled to the largest grid before the ReLU (``inference.training.gradcam``).

The paper also describes the fusion as majority voting over base classifiers: ``MajorityVote``
combines separately trained LungLens classifiers. It is an evaluation-time ensemble (same call as one
classifier, so evaluation code needs nothing special); it is not exported as one ONNX model, because
at run time the viewer already runs every member model and can count their votes itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from inference.training.networks.backbones import BackboneMaps
from inference.training.networks.common import Classifier, GlobalAveragePool, LinearHead

PAPER_BACKBONES = (
    "inception_v3",
    "densenet121",
    "resnet50",
    "legacy_xception",
    "vgg19",
    "nasnetalarge",
    "inception_resnet_v2",
)
DEFAULT_BACKBONES = ("resnet50", "densenet121")


def build_m3(
    *,
    num_classes: int,
    backbones: Sequence[str] = DEFAULT_BACKBONES,
    dropout: float = 0.5,
    pretrained: Mapping[str, str | Path] | None = None,
    in_chans: int = 3,
) -> Classifier:
    """``pretrained`` maps backbone names to local ImageNet checkpoint files."""
    features = BackboneMaps(list(backbones), pretrained=pretrained, in_chans=in_chans)
    return Classifier(features, GlobalAveragePool(), LinearHead(sum(features.channels), num_classes, dropout=dropout))


class MajorityVote(nn.Module):
    """Majority vote of trained classifiers that share classes and input.

    Returns log-probabilities usable as logits: softmax gives (votes_k + mean probability_k) / (M + 1),
    so the class with most votes always wins and a tie goes to the higher mean probability.
    """

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise ValueError("a majority vote needs at least two classifiers")
        self.members = nn.ModuleList(members)

    def forward(self, image: torch.Tensor, lung_mask: torch.Tensor | None = None) -> torch.Tensor:
        probabilities = torch.stack([member(image, lung_mask).float().softmax(dim=-1) for member in self.members])
        votes = F.one_hot(probabilities.argmax(dim=-1), probabilities.shape[-1]).sum(dim=0)
        return ((votes + probabilities.mean(dim=0)) / (len(self.members) + 1)).log()
