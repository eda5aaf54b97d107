"""The X-ray pipeline: 2D U-Net lung mask (when installed), then every X-ray classifier.

The radiograph goes through its VOI window and MONOCHROME1 inversion (``preprocessing.xray_to_uint8``)
and then, for a model whose InputSpec crops to the lungs (``crop="lungs"``), through the same lung
contract as CT (``crop_to_region`` on the hull of each lung the U-Net found: cropped to the lungs,
the rest black), else ``prepare_batch`` on the whole image: exactly what training did with its PNGs.
A mask that cannot be two lungs (``mask_problem``) gets a note instead of an outline being trusted,
and lung-cropped models give no opinion on such an image.
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
from inference.preprocessing import crop_to_region, lung_view, lung_hull, map_to_image, normalise, prepare_batch, xray_to_uint8
from inference.runtime import ModelError, ModelSession
from inference.study import XRayImage

MIN_SIDE_PX = 64
MIN_LUNG_SHARE = 0.05
# What two lungs on a frontal radiograph look like (checked on the adult and paediatric X-rays of the
# training data: see the U-Net's card): each lung a few % of the image at least, together not most
# of it, the right one (image left) not more than 2.5x the other, each spanning a quarter of the
# height, each mostly one piece.
MIN_SIDE_SHARE = 0.03
MAX_LUNGS_SHARE = 0.75
MAX_SIDE_RATIO = 2.5
MIN_HEIGHT_SHARE = 0.25
MIN_MAIN_PIECE = 0.8


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


def _main_piece_share(lung: np.ndarray) -> float:
    import SimpleITK as sitk

    pieces = sitk.GetArrayFromImage(sitk.RelabelComponent(sitk.ConnectedComponent(sitk.GetImageFromArray(lung.astype(np.uint8)))))
    return float(np.mean(pieces[lung] == 1)) if lung.any() else 0.0


def mask_problem(labels: np.ndarray) -> str:
    """Why a lung mask cannot be two lungs on a frontal chest radiograph, or "" when it can."""
    if np.mean(labels > 0) < MIN_LUNG_SHARE:
        return "almost no lung found"
    shares = {side: float(np.mean(labels == label)) for side, label in (("right", 1), ("left", 2))}
    for side, share in shares.items():
        if share < MIN_SIDE_SHARE:
            return f"no {side} lung found"
    if sum(shares.values()) > MAX_LUNGS_SHARE:
        return f"the 'lungs' fill {sum(shares.values()):.0%} of the image"
    ratio = shares["right"] / shares["left"]
    if not 1 / MAX_SIDE_RATIO <= ratio <= MAX_SIDE_RATIO:
        return f"one lung is {max(ratio, 1 / ratio):.1f} times the other"
    for side, label in (("right", 1), ("left", 2)):
        lung = labels == label
        rows = np.flatnonzero(lung.any(axis=1))
        if (rows[-1] - rows[0] + 1) < MIN_HEIGHT_SHARE * labels.shape[0]:
            return f"the {side} lung spans under a quarter of the image height"
        if _main_piece_share(lung) < MIN_MAIN_PIECE:
            return f"the {side} lung is in pieces"
    right_x = np.nonzero(labels == 1)[1].mean()
    left_x = np.nonzero(labels == 2)[1].mean()
    if right_x > left_x:
        return "the right lung lies on the image's right (not a PA/AP view as displayed?)"
    return ""


def mask_warnings(image: XRayImage, mask: LungMask | None) -> list[str]:
    if mask is None:
        return ["no X-ray lung segmentation model in use: no lung mask"]
    problem = mask_problem(mask.labels)
    if problem:
        return [f"lung mask implausible ({problem}): not a frontal chest X-ray, or an unusual view"]
    return []


def classify(image: XRayImage, mask: LungMask | None, session: ModelSession, job: Job) -> ModelOpinion:
    manifest = session.manifest
    spec = manifest.preprocessing
    needs_lungs = manifest.uses_lung_mask or spec.crop == "lungs"
    if needs_lungs and mask is None:
        raise ModelError(f"model {manifest.id} looks at the lungs only, and there is no X-ray lung mask")
    pixels = xray_to_uint8(image)
    if spec.crop != "lungs":
        probs, cams = run_classifier(
            session, 1, lambda part: (prepare_batch([pixels], spec), None if mask is None else mask_batch(mask.labels[None], spec)), job
        )
        return opinion(session, probs, cams, image.shape, np.ones(1))
    problem = mask_problem(mask.labels)
    if problem:
        raise ModelError(f"model {manifest.id} looks at the lungs only, and the lung mask is implausible ({problem})")
    lungs = crop_to_region(pixels, lung_hull(mask.labels))
    square, region = lung_view(lungs, spec.size, spec.resize)
    probs, cams = run_classifier(
        session, 1, lambda part: (normalise(square[None], spec), region[None, None].astype(np.float32)), job
    )
    return opinion(session, probs, cams, image.shape, np.ones(1), crop_boxes=np.array([lungs.box], dtype=np.int32))
