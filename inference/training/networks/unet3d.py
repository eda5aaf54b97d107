"""The lung U-Net of M4, written for any number of spatial dimensions (3D here, 2D in ``unet2d``).

Per METHODS M4: each level is two 3x3(x3) convolutions + ReLU; 2x2(x2) max-pooling goes down; an
up-convolution (transposed, stride 2) halving the channels goes up, concatenated with the skip of the
same level; a 1x1 convolution gives one logit per label: 0 background, 1 right lung, 2 left lung.
``levels`` counts resolutions: 4 levels = channels base, 2 base, 4 base, 8 base and three poolings, so
each side of the input must be a multiple of 8. Base 8 is 0.35 M parameters, base 16 is 1.4 M.
No normalisation layers, as specified; a hand-written net because it is this small. Without
normalisation, PyTorch's default initialisation shrinks activations level by level and the net sat at
"all background" for hundreds of steps; He (Kaiming normal) initialisation, as in the U-Net paper,
learns a phantom's lungs within tens of steps.
"""

from __future__ import annotations

import torch
from torch import nn

MASK_LABELS = {0: "background", 1: "right lung", 2: "left lung"}

_LAYERS = {
    2: (nn.Conv2d, nn.MaxPool2d, nn.ConvTranspose2d),
    3: (nn.Conv3d, nn.MaxPool3d, nn.ConvTranspose3d),
}


class UNet(nn.Module):
    def __init__(
        self,
        spatial_dims: int = 3,
        *,
        in_chans: int = 1,
        num_labels: int = len(MASK_LABELS),
        base_channels: int = 8,
        levels: int = 4,
    ):
        super().__init__()
        conv, pool, up_conv = _LAYERS[spatial_dims]

        def double_conv(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                conv(cin, cout, 3, padding=1),
                nn.ReLU(inplace=True),
                conv(cout, cout, 3, padding=1),
                nn.ReLU(inplace=True),
            )

        widths = [base_channels * 2**level for level in range(levels)]
        self.down = nn.ModuleList(double_conv(cin, cout) for cin, cout in zip([in_chans, *widths[:-1]], widths))
        self.pool = pool(2)
        self.up = nn.ModuleList(up_conv(wide, wide // 2, 2, stride=2) for wide in reversed(widths[1:]))
        self.merge = nn.ModuleList(double_conv(wide, wide // 2) for wide in reversed(widths[1:]))
        self.out = conv(widths[0], num_labels, 1)
        self.divisor = 2 ** (levels - 1)
        for module in self.modules():
            if isinstance(module, (conv, up_conv)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image [N, C, *spatial] -> label logits [N, num_labels, *spatial]."""
        if any(side % self.divisor for side in image.shape[2:]):
            raise ValueError(f"U-Net input sides must be multiples of {self.divisor}, got {tuple(image.shape[2:])}")
        skips = []
        x = image
        for index, block in enumerate(self.down):
            if index:
                x = self.pool(x)
            x = block(x)
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1])):
            x = merge(torch.cat([skip, up(x)], dim=1))
        return self.out(x)


def build_unet3d(
    *, in_chans: int = 1, num_labels: int = len(MASK_LABELS), base_channels: int = 8, levels: int = 4
) -> UNet:
    """The M4 lung segmenter for 128^3 isotropic CT volumes."""
    return UNet(3, in_chans=in_chans, num_labels=num_labels, base_channels=base_channels, levels=levels)
