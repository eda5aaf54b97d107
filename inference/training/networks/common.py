"""The classifier contract every LungLens network follows, so Grad-CAM can be exported as plain graph ops.

A classifier is three composable parts:

    image -> features -> maps A (the Grad-CAM layer, one or several) -> pooling -> pooled g -> head -> logits

The head's Jacobian d logits / d g is closed-form (``head.jacobian``), and for both plain GAP and
lung-mask-weighted GAP the pooling weights of one map sum to 1 over its positions, so the Grad-CAM
channel weight is ``alpha[c, k] = mean_ij d score_c / d A_k(i, j) = J[c, k] / (h * w)`` whatever the
mask: no autograd is needed at run time (see ``inference.training.gradcam``).
"""

from __future__ import annotations

import torch
from torch import nn


class GlobalAveragePool(nn.Module):
    """GAP of each map, concatenated along channels: [N, C_1 + C_2 + ...]."""

    uses_lung_mask = False

    def forward(self, maps: list[torch.Tensor], lung_mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.cat([feature_map.mean(dim=(2, 3)) for feature_map in maps], dim=1)


class LinearHead(nn.Module):
    """Dropout (a no-op in eval) then one linear layer; its Jacobian is the weight matrix."""

    def __init__(self, in_features: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(pooled))

    def jacobian(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.fc.weight.unsqueeze(0).expand(pooled.shape[0], -1, -1)


class Classifier(nn.Module):
    """features (image -> list of maps) + pooling (maps, lung mask -> vector) + head (vector -> logits).

    ``forward(image, lung_mask=None) -> logits [N, K]``. Only networks whose pooling uses the lung
    mask (M4) read ``lung_mask``; for them a missing mask means plain GAP.
    """

    def __init__(self, features: nn.Module, pooling: nn.Module, head: nn.Module):
        super().__init__()
        self.features = features
        self.pooling = pooling
        self.classifier = head

    @property
    def uses_lung_mask(self) -> bool:
        return self.pooling.uses_lung_mask

    def feature_maps(self, image: torch.Tensor, lung_mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The maps A that feed pooling: the layer Grad-CAM explains."""
        return self.features(image)

    def pool(self, maps: list[torch.Tensor], lung_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.pooling(maps, lung_mask)

    def head(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.classifier(pooled)

    def head_jacobian(self, pooled: torch.Tensor) -> torch.Tensor:
        """d logits / d pooled, [N, K, C_total], in eval behaviour (dropout off)."""
        return self.classifier.jacobian(pooled)

    def forward(self, image: torch.Tensor, lung_mask: torch.Tensor | None = None) -> torch.Tensor:
        maps = self.feature_maps(image, lung_mask)
        return self.head(self.pool(maps, lung_mask))
