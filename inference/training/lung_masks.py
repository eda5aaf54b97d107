"""Lung masks for every training X-ray, made by an exported lung U-Net through the inference code.

An X-ray classifier that sees only the lungs (``InputSpec.crop == "lungs"``) must be trained on the
lung regions inference will give it: so the masks come from the same U-Net file and the same
``pipelines.xray.segment_image`` the viewer runs, once per image, kept as PNGs in the run folder
(named by a hash of the image path and the U-Net's sha256, so a new U-Net never reuses old masks).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from inference.pipelines.xray import segment_image
from inference.registry import inspect_model
from inference.runtime import load_session
from inference.training.datasets import load_grey_uint8


def mask_path(cache: Path, image_path: str, model_sha: str) -> Path:
    return cache / f"{hashlib.sha1(f'{model_sha}:{image_path}'.encode()).hexdigest()}.png"


def cache_lung_masks(paths: Sequence[str], manifest_path: str | Path, cache: Path) -> dict[str, Path]:
    """Image path -> its lung-label PNG (0/1/2), computing the missing ones with the U-Net."""
    status = inspect_model(Path(manifest_path).with_suffix(".json"))
    if not status.usable or status.manifest.method != "unet2d":
        raise ValueError(f"--lung-model {manifest_path}: not a usable X-ray lung U-Net ({status.problem or status.manifest.method})")
    cache.mkdir(parents=True, exist_ok=True)
    found = {path: mask_path(cache, path, status.manifest.sha256) for path in paths}
    missing = [path for path, target in found.items() if not target.exists()]
    if missing:
        session = load_session(status.manifest, status.onnx_path, "cpu")
        for path in tqdm(missing, desc="lung masks", mininterval=10, file=sys.stderr):
            labels = segment_image(load_grey_uint8(path), session)
            partial = found[path].with_suffix(".tmp.png")
            Image.fromarray(labels.astype(np.uint8)).save(partial)
            partial.replace(found[path])
    return found
