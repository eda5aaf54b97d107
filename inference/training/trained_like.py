"""Make a freshly built network behave numerically like a trained one, for parity tests.

timm starts residual branches and the non-local attention switched off (their last BatchNorm weight
is zero), which would make parity checks trivially true for those paths; random attention weights
give one-hot softmaxes that are ill-conditioned in float32; and untouched BatchNorm statistics let
deep random nets blow activations up. So: switch the zero-initialised BatchNorms on, soften the
attention, and measure BatchNorm statistics on the batch the test will use.
"""

from __future__ import annotations

import torch
from timm.layers import NonLocalAttn
from torch import nn


def trained_like(model: nn.Module, *inputs: torch.Tensor) -> nn.Module:
    torch.manual_seed(0)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for attention in (m for m in model.modules() if isinstance(m, NonLocalAttn)):
            attention.t.weight.mul_(0.1)
            attention.p.weight.mul_(0.1)
        for norm in norms:
            if norm.affine and not norm.weight.any():
                norm.weight.uniform_(0.2, 0.6)
            norm.reset_running_stats()
            norm.momentum = None  # cumulative average: the statistics of exactly this batch
        model.train()(*inputs)
    for norm in norms:
        norm.momentum = 0.1
    return model.eval()
