"""The tiny models a batch test installs: CT and X-ray classifiers and lung segmenters (inference.testing.tiny_models)."""

from __future__ import annotations

from pathlib import Path

from inference.preprocessing import InputSpec
from inference.testing.tiny_models import classifier_onnx, install, install_ct_models, segmenter_onnx


def install_batch_models(folder: Path) -> Path:
    install_ct_models(folder)
    install(folder, classifier_onnx(32, [-1.0, 1.0, 0.5]), "xr_cls", modality="XR", classes=("Normal", "Viral", "COVID"))
    install(folder, segmenter_onnx(32, 2, (0.1, 0.35), channels=3), "xr_unet", task="segmentation", modality="XR",
            method="unet2d", spec=InputSpec(size=32, mean=(0.0,) * 3, std=(1.0,) * 3))
    return folder
