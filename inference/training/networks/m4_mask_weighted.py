"""M4: ResNet50 whose global average pooling is weighted by the lung mask.

The mask [N, 1, H, W] in [0, 1] (same square frame as the image) is averaged down to the feature
grid (adaptive average pooling = area resampling), smoothed by a fixed Gaussian (a conv buffer, not
learned, zero padding), given a small uniform floor ``epsilon`` and normalised to sum 1 per image:
pooled_k = sum_ij m_ij A_k(i, j). The floor keeps an empty mask (no lung found) well defined: it
becomes plain GAP instead of a division by zero. Without a mask the network is plain GAP too.

Because the weights sum to 1, the Grad-CAM channel weight is the same as for GAP: the spatial mean of
d score / d A_k(i, j) = J[c, k] m_ij is J[c, k] / (h w). The mask changes the logits, not that formula.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from inference.training.networks.backbones import BackboneMaps
from inference.training.networks.common import Classifier, LinearHead


def gaussian_kernel(size: int, sigma: float) -> torch.Tensor:
    """A normalised 2D Gaussian [1, 1, size, size]."""
    offsets = torch.arange(size, dtype=torch.float32) - (size - 1) / 2.0
    profile = torch.exp(-(offsets**2) / (2.0 * sigma**2))
    kernel = torch.outer(profile, profile)
    return (kernel / kernel.sum())[None, None]


class LungMaskWeightedPool(nn.Module):
    uses_lung_mask = True

    def __init__(self, kernel_size: int = 3, sigma: float = 1.0, epsilon: float = 1e-4):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError("the smoothing kernel size must be odd")
        self.register_buffer("kernel", gaussian_kernel(kernel_size, sigma), persistent=False)
        self.epsilon = epsilon

    def weights(self, lung_mask: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """[N, 1, h, w] pooling weights on the feature grid, each image's summing to 1."""
        coarse = F.adaptive_avg_pool2d(lung_mask, grid)
        smooth = F.conv2d(coarse, self.kernel.to(coarse.dtype), padding=self.kernel.shape[-1] // 2) + self.epsilon
        return smooth / smooth.sum(dim=(2, 3), keepdim=True)

    def forward(self, maps: list[torch.Tensor], lung_mask: torch.Tensor | None = None) -> torch.Tensor:
        (feature_map,) = maps
        if lung_mask is None:
            return feature_map.mean(dim=(2, 3))
        # the feature grid is fixed by the model's input size; plain ints keep ONNX pooling static
        grid = (int(feature_map.shape[-2]), int(feature_map.shape[-1]))
        weights = self.weights(lung_mask.to(feature_map.dtype), grid)
        return (feature_map * weights).sum(dim=(2, 3))


def build_m4(
    *,
    num_classes: int,
    backbone: str = "resnet50",
    kernel_size: int = 3,
    sigma: float = 1.0,
    pretrained: str | Path | None = None,
    in_chans: int = 3,
) -> Classifier:
    features = BackboneMaps([backbone], pretrained=pretrained, in_chans=in_chans)
    pooling = LungMaskWeightedPool(kernel_size=kernel_size, sigma=sigma)
    return Classifier(features, pooling, LinearHead(sum(features.channels), num_classes))
