"""Running one classifier over a stack of images, the same way for CT slices and X-rays.

The caller says how to build a batch of model inputs (through the preprocessing contract) and, for
mask-weighted models (M4), the matching lung masks; here batches are run, logits are calibrated
(softmax of logits / temperature, the manifest's temperature) and Grad-CAMs normalised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from inference.cam import normalise_cams
from inference.jobs import Job
from inference.metrics import softmax
from inference.preprocessing import InputSpec, fit_to_square
from inference.pipelines.results import ModelOpinion
from inference.runtime import ModelSession
from inference.verdict import study_verdict

# items -> (model input NCHW, lung masks (n, 1, S, S) in the same frame or None)
BatchBuilder = Callable[[slice], tuple[np.ndarray, np.ndarray | None]]


def mask_batch(masks: Sequence[np.ndarray], spec: InputSpec) -> np.ndarray:
    """(H, W) lung masks (nonzero = lung) -> (N, 1, S, S) float32 in [0, 1], in the images' square frame."""
    squares = [fit_to_square(np.where(m > 0, 255, 0).astype(np.uint8), spec.size, spec.resize) for m in masks]
    return (np.stack(squares)[:, None] / np.float32(255.0)).astype(np.float32)


def run_classifier(session: ModelSession, count: int, batch: BatchBuilder, job: Job) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities (N, K) float32, normalised Grad-CAMs (N, K, h, w) float16) for ``count`` items.

    ``batch(slice)`` returns the NCHW model input for those items and their (n, 1, S, S) lung masks
    (used only when the model takes one; None when there is none).
    """
    manifest = session.manifest
    probabilities, cams = [], []
    for start in range(0, count, session.batch_size):
        job.report(start / max(count, 1), f"{manifest.id}: image {start + 1}/{count}")
        part = slice(start, min(start + session.batch_size, count))
        images, masks = batch(part)
        outputs = session.run(images, masks if manifest.uses_lung_mask else None)
        probabilities.append(softmax(outputs["logits"], manifest.temperature).astype(np.float32))
        cams.append(normalise_cams(outputs["cam"]).astype(np.float16))
    job.report(1.0, f"{manifest.id}: done")
    if not probabilities:
        return np.zeros((0, len(manifest.classes)), np.float32), np.zeros((0, len(manifest.classes), 1, 1), np.float16)
    return np.concatenate(probabilities), np.concatenate(cams)


def opinion(
    session: ModelSession,
    probabilities: np.ndarray,
    cams: np.ndarray,
    image_shape: tuple[int, int],
    weights: np.ndarray,
    warnings: tuple[str, ...] = (),
    crop_boxes: np.ndarray | None = None,
) -> ModelOpinion:
    """A model's opinion on a study from its per-slice outputs and the slices' weights for the verdict."""
    manifest = session.manifest
    return ModelOpinion(
        model_id=manifest.id,
        version=manifest.version,
        method=manifest.method,
        classes=manifest.classes,
        sha256=manifest.sha256,
        probabilities=probabilities,
        cams=cams,
        image_shape=image_shape,
        input_size=manifest.preprocessing.size,
        resize=manifest.preprocessing.resize,
        verdict=study_verdict(probabilities, weights, manifest),
        device=session.device,
        warnings=warnings,
        crop_boxes=crop_boxes,
    )
