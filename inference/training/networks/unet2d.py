"""A small 2D U-Net for chest X-ray lung masks: the M4 U-Net with 2D layers (labels 0/1/2 likewise)."""

from __future__ import annotations

from inference.training.networks.unet3d import MASK_LABELS, UNet


def build_unet2d(
    *, in_chans: int = 3, num_labels: int = len(MASK_LABELS), base_channels: int = 16, levels: int = 4
) -> UNet:
    """``in_chans`` follows the model's InputSpec (3 grey-replicated channels by default)."""
    return UNet(2, in_chans=in_chans, num_labels=num_labels, base_channels=base_channels, levels=levels)
