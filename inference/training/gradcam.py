"""Grad-CAM two ways: torch autograd (the reference) and closed-form graph ops (exported to ONNX).

For a map A with channels k on an h x w grid feeding the pooled vector g, Grad-CAM's channel weight
is alpha[c, k] = mean_ij d score_c / d A_k(i, j) = J[c, k] * mean_ij d g_k / d A_k(i, j). Plain GAP and
lung-mask-weighted GAP both have pooling weights summing to 1 over the grid, so the mean is 1 / (h w)
and alpha = J / (h w), with J = d logits / d g from the head (``Classifier.head_jacobian``). That is
plain arithmetic, so the viewer gets Grad-CAM from onnxruntime without torch (ARCHITECTURE.md section 4).

Several maps (M3's backbones, M1's pyramid levels): each map's class map sum_k alpha_ck A_k is
computed before the ReLU, bilinearly upsampled to the largest grid, the maps are summed, then ReLU.
``autograd_gradcam`` applies the same rule to autograd gradients, so the two can be compared.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from inference.training.networks import Classifier


def fuse_class_maps(class_maps: list[torch.Tensor]) -> torch.Tensor:
    """[N, K, h_i, w_i] linear class maps -> ReLU of their sum on the largest grid, [N, K, h, w]."""
    grid = max((tuple(m.shape[-2:]) for m in class_maps), key=lambda size: size[0] * size[1])
    total = sum(m if tuple(m.shape[-2:]) == grid else F.interpolate(m, size=grid, mode="bilinear") for m in class_maps)
    return torch.relu(total)


def _class_map(alpha: torch.Tensor, feature_map: torch.Tensor) -> torch.Tensor:
    """alpha [N, K, C] and A [N, C, h, w] -> sum_k alpha_ck A_k, [N, K, h, w]."""
    height, width = feature_map.shape[-2:]
    return torch.matmul(alpha, feature_map.flatten(2)).unflatten(2, (height, width))


def autograd_gradcam(
    model: Classifier, image: torch.Tensor, lung_mask: torch.Tensor | None = None, class_index: int | None = None
) -> torch.Tensor:
    """Reference Grad-CAM from autograd gradients of each class score: [N, K, h, w] (K = 1 with class_index).

    The model must be in eval mode: Grad-CAM explains the deployed network, not a dropout sample.
    """
    if model.training:
        raise ValueError("autograd_gradcam needs the model in eval mode")
    with torch.enable_grad():
        maps = model.feature_maps(image, lung_mask)
        logits = model.head(model.pool(maps, lung_mask))
        classes = range(logits.shape[1]) if class_index is None else [class_index]
        per_class = []
        for c in classes:
            # samples are independent in eval mode, so the batch sum gives each sample its own gradient
            gradients = torch.autograd.grad(logits[:, c].sum(), maps, retain_graph=True)
            per_class.append(
                [(g.mean(dim=(2, 3), keepdim=True) * a).sum(dim=1, keepdim=True) for g, a in zip(gradients, maps)]
            )
    class_maps = [torch.cat([maps_of_class[i] for maps_of_class in per_class], dim=1) for i in range(len(maps))]
    return fuse_class_maps(class_maps).detach()


class CamExportModule(nn.Module):
    """forward(image[, lung_mask]) -> (logits [N, K], cam [N, K, h, w]) using only the head's Jacobian."""

    def __init__(self, model: Classifier):
        super().__init__()
        self.model = model
        self.train(model.training)  # a new module starts in train mode; keep the wrapped model's mode

    def forward(self, image: torch.Tensor, lung_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        maps = self.model.feature_maps(image, lung_mask)
        pooled = self.model.pool(maps, lung_mask)
        logits = self.model.head(pooled)
        jacobian = self.model.head_jacobian(pooled)
        class_maps = []
        start = 0
        for feature_map in maps:
            channels, height, width = feature_map.shape[1:]
            alpha = jacobian[:, :, start : start + channels] / (height * width)
            class_maps.append(_class_map(alpha, feature_map))
            start += channels
        return logits, fuse_class_maps(class_maps)
