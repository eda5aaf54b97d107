"""The X-ray pipeline: 2D U-Net lung mask (when installed), then every X-ray classifier.

The radiograph goes through its VOI window and MONOCHROME1 inversion (``preprocessing.xray_to_uint8``)
and then ``prepare_batch`` with each model's InputSpec: exactly what training did with its PNGs.
The U-Net's per-label probabilities are mapped back onto the image (undoing the letterbox) before
the argmax, so the mask edge is smooth at the image's full resolution. Without a U-Net there is no
mask: plain classifiers still run, mask-weighted ones are skipped with a warning.
"""

from __future__ import annotations

import numpy as np

from inference.jobs import Job
from inference.metrics import softmax
from inference.pipelines.classify import mask_batch, opinion, run_classifier
from inference.pipelines.results import LungMask, ModelOpinion
from inference.preprocessing import map_to_image, prepare_batch, xray_to_uint8
from inference.runtime import ModelError, ModelSession
from inference.study import XRayImage

MIN_SIDE_PX = 64
MIN_LUNG_SHARE = 0.05


def input_warnings(image: XRayImage) -> list[str]:
    warnings = [f"image: {w}" for w in image.warnings]
    if min(image.shape) < MIN_SIDE_PX:
        warnings.append(f"the image is only {image.shape[1]}x{image.shape[0]} pixels: too small to judge")
    if float(np.ptp(image.pixels)) == 0.0:
        warnings.append("the image is blank (a single grey value)")
    return warnings


def segment_image(pixels: np.ndarray, segmenter: ModelSession) -> np.ndarray:
    """Labels (0/1/2, uint8) of an 8-bit display image (lungs dark) on its own (H, W) grid."""
    spec = segmenter.manifest.preprocessing
    logits = segmenter.run(prepare_batch([pixels], spec))["logits"][0]
    probs = softmax(np.moveaxis(logits, 0, -1)).astype(np.float32)
    on_image = np.stack([map_to_image(probs[..., k], pixels.shape, spec.resize) for k in range(probs.shape[-1])])
    return np.argmax(on_image, axis=0).astype(np.uint8)


def lung_mask(image: XRayImage, segmenter: ModelSession | None, job: Job) -> LungMask | None:
    if segmenter is None:
        return None
    job.report(0.0, f"lung mask: {segmenter.manifest.id}")
    labels = segment_image(xray_to_uint8(image), segmenter)
    return LungMask(labels, "model", segmenter.manifest.id, segmenter.manifest.version)


def mask_warnings(image: XRayImage, mask: LungMask | None) -> list[str]:
    if mask is None:
        return ["no X-ray lung segmentation model in use: no lung mask"]
    if np.mean(mask.labels > 0) < MIN_LUNG_SHARE:
        return ["almost no lung found in the image: is this a chest X-ray?"]
    return []


def classify(image: XRayImage, mask: LungMask | None, session: ModelSession, job: Job) -> ModelOpinion:
    manifest = session.manifest
    spec = manifest.preprocessing
    if manifest.uses_lung_mask and mask is None:
        raise ModelError(f"model {manifest.id} weights its pooling by the lung mask, and there is no X-ray lung mask")
    pixels = xray_to_uint8(image)
    probs, cams = run_classifier(
        session, 1, lambda part: (prepare_batch([pixels], spec), None if mask is None else mask_batch(mask.labels[None], spec)), job
    )
    return opinion(session, probs, cams, image.shape, np.ones(1))
