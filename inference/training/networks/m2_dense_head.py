"""M2: ResNet50 + GAP + Dense 1024 ReLU + Dropout 0.5 + Dense K (softmax in the loss).

The paper quotes 1,049,600 parameters for the first dense layer, which is 1024 inputs x 1024 + 1024;
ResNet50's pooled vector has 2048 values, so that layer here has 2048 x 1024 + 1024 = 2,098,176
(the architecture as described, not the paper's count). The last layer has 1024 K + K.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from inference.training.networks.backbones import BackboneMaps
from inference.training.networks.common import Classifier, GlobalAveragePool


class DenseHead(nn.Module):
    """Dense-ReLU-Dropout-Dense. In eval its Jacobian is W2 diag(1[W1 g + b1 > 0]) W1."""

    def __init__(self, in_features: int, num_classes: int, hidden: int = 1024, dropout: float = 0.5):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.act = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(self.act(self.fc1(pooled))))

    def jacobian(self, pooled: torch.Tensor) -> torch.Tensor:
        active = (self.fc1(pooled) > 0).to(pooled.dtype)
        return torch.matmul(self.fc2.weight.unsqueeze(0) * active.unsqueeze(1), self.fc1.weight)


def build_m2(
    *,
    num_classes: int,
    backbone: str = "resnet50",
    hidden: int = 1024,
    dropout: float = 0.5,
    pretrained: str | Path | None = None,
    in_chans: int = 3,
) -> Classifier:
    features = BackboneMaps([backbone], pretrained=pretrained, in_chans=in_chans)
    head = DenseHead(sum(features.channels), num_classes, hidden=hidden, dropout=dropout)
    return Classifier(features, GlobalAveragePool(), head)
