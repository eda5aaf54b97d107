"""The CT pipeline (M4's shape): lung mask, then every CT classifier on every slice with lung.

1. Lung mask: the 3D U-Net when one is installed (isotropic 128^3 cube -> labels -> native grid by
   nearest neighbour, see ``lung_segmentation``), else the classical SimpleITK segmentation; a U-Net
   mask that cannot be lungs (``implausible_mask``) is replaced by the classical one, with a warning.
2. Slices whose lung area is under ``MIN_LUNG_AREA_MM2`` are not analysed: the models were trained
   on slices through the lungs, their opinion on a neck or abdomen slice means nothing, and skipping
   them saves a third of the work. Their probabilities are NaN (null rows in JSON).
3. Each analysed slice goes through THE CT slice contract (``preprocessing.crop_to_lungs``, then
   ``prepare_ct_crops`` with the model's InputSpec): the model's window to 8 bits, the lung region
   found on that image, the slice cropped to it with the outside black, exactly as training brought
   its PNG and JPEG slices to the model; mask-weighted models (M4) pool over that region. The crops
   are made once per study and window and shared by the models. Probabilities are the tempered
   softmax; Grad-CAMs normalised per map, mapped back through each slice's own crop box.
4. The study verdict weights each slice by its lung area (``verdict.study_verdict``).
"""

from __future__ import annotations

import threading

import numpy as np

from inference.jobs import Job
from inference.lung_segmentation import (
    CLASSICAL_VERSION,
    prepare_ct_cube,
    resample_to_cube,
    segment_lungs_classical,
    unet_labels_to_native,
)
from inference.manifest import ModelManifest
from inference.pipelines.classify import opinion, run_classifier
from inference.pipelines.results import LungMask, ModelOpinion
from inference.preprocessing import LungCrop, crop_to_lungs, ct_to_uint8, ct_window, prepare_ct_crops
from inference.quantification import LungQuantification, quantify_lungs
from inference.runtime import ModelError, ModelSession
from inference.study import CTVolume

MIN_LUNG_AREA_MM2 = 300.0
MIN_PEAK_LUNG_AREA_MM2 = 2500.0
MAX_LUNG_VOLUME_ML = 12000.0
MIN_AERATED_SHARE = 0.3
AERATED_BELOW_HU = -400
AIR_HU = -900
# Sampling a few slices is enough to tell Hounsfield units from other scales and costs nothing.
SANITY_SLICES = 16


def input_warnings(volume: CTVolume) -> list[str]:
    """What about this series differs from what CT models are trained on, whatever the model."""
    warnings = [f"series: {w}" for w in volume.warnings]
    sample = volume.hu[:: max(1, volume.shape[0] // SANITY_SLICES)]
    if sample.min() > -500 or np.mean(sample < AIR_HU) < 0.01:
        warnings.append(
            "the series does not look like CT in Hounsfield units (no air below -900 HU): "
            "lung mask and opinions are unreliable"
        )
    return warnings


CHEST_BODY_PARTS = {"CHEST", "THORAX", "LUNG", "LUNGS", "CHEST_ABDOMEN", "CHESTABDOMEN", "CHEST_TO_PELVIS", "TORSO", ""}
# A series much longer than the chest (neck to pelvis): the lungs span under this share of it.
MIN_LUNG_COVERAGE = 0.4
LONG_SERIES_MM = 450.0


def domain_notes(volume: CTVolume, mask: LungMask | None, manifest: ModelManifest) -> tuple[str, ...]:
    """Why this series lies outside what one model was trained on (its manifest's ``domain``): too
    thick slices, a contrast phase, another body region, a field of view far beyond the chest.
    Each note is shown beside that model's verdict, which still stands."""
    domain = manifest.domain or {}
    notes = []
    thickness = volume.slice_thickness_mm or float(volume.spacing[0])
    limit = domain.get("max_slice_thickness_mm", manifest.max_slice_thickness_mm)
    if limit is not None and thickness > float(limit) + 1e-6:
        notes.append(f"slices are {thickness:.1f} mm thick, the training data at most {float(limit):g} mm")
    agent = volume.acquisition.contrast_agent
    if agent and not domain.get("contrast", False):
        notes.append(f"a contrast-enhanced series ({agent}); the model saw no contrast phase it could tell")
    part = volume.acquisition.body_part
    if part and part not in CHEST_BODY_PARTS:
        notes.append(f"the series is of the {part.lower()}, not the chest")
    if mask is not None and volume.shape[0] > 1:
        extent = float(volume.spacing[0]) * volume.shape[0]
        with_lung = np.flatnonzero(mask.labels.any(axis=(1, 2)))
        coverage = (with_lung[-1] - with_lung[0] + 1) / volume.shape[0] if len(with_lung) else 0.0
        if extent > LONG_SERIES_MM and coverage < MIN_LUNG_COVERAGE:
            notes.append(f"the series covers {extent:.0f} mm, the lungs {coverage:.0%} of it: not a chest CT as trained on")
    return tuple(f"model {manifest.id}: outside the training domain: {note}" for note in notes)


def lung_mask(volume: CTVolume, segmenter: ModelSession | None, job: Job) -> LungMask:
    """Right/left lung labels on the native grid, from the 3D U-Net or, without one, the classical method."""
    if segmenter is None:
        job.report(0.0, "lung mask: classical segmentation")
        return LungMask(segment_lungs_classical(volume), "classical", None, str(CLASSICAL_VERSION))
    spec = segmenter.manifest.preprocessing
    job.report(0.0, f"lung mask: resampling to {spec.size}^3")
    cube = resample_to_cube(volume, spec.size)
    job.report(0.2, f"lung mask: {segmenter.manifest.id}")
    logits = segmenter.run(prepare_ct_cube(cube, spec))["logits"][0]
    job.report(0.9, "lung mask: back to the series grid")
    labels = unet_labels_to_native(np.argmax(logits, axis=0).astype(np.uint8), cube, volume)
    problem = implausible_mask(volume, labels)
    if problem:
        raise ModelError(f"model {segmenter.manifest.id}: implausible lung mask ({problem})")
    return LungMask(labels, "model", segmenter.manifest.id, segmenter.manifest.version)


def implausible_mask(volume: CTVolume, labels: np.ndarray) -> str:
    """Why a U-Net's mask cannot be lungs, or "": more than 12 litres, or mostly not air.

    Even badly diseased lungs stay mostly below -400 HU; a mask that is mostly soft tissue comes
    from a model that does not fit this scan (or was never trained), and the pipeline falls back
    to the classical segmentation instead of feeding it to the classifiers.
    """
    lung = labels > 0
    voxels = int(np.count_nonzero(lung))
    volume_ml = voxels * float(np.prod(volume.spacing)) / 1000.0
    if volume_ml > MAX_LUNG_VOLUME_ML:
        return f"{volume_ml / 1000:.1f} litres of lung"
    aerated = int(np.count_nonzero(volume.hu[lung] < AERATED_BELOW_HU)) / voxels if voxels else 1.0
    if aerated < MIN_AERATED_SHARE:
        return f"only {aerated:.0%} of it below {AERATED_BELOW_HU} HU"
    return ""


def lung_areas_mm2(volume: CTVolume, mask: LungMask) -> np.ndarray:
    """Lung area of each slice in mm^2 (the verdict's slice weights)."""
    return np.count_nonzero(mask.labels, axis=(1, 2)) * float(volume.spacing[1] * volume.spacing[2])


def mask_warnings(volume: CTVolume, mask: LungMask) -> list[str]:
    """"No lung" is judged by the largest lung cross-section, so a series of a few slices still counts."""
    peak_area = float(lung_areas_mm2(volume, mask).max(initial=0.0))
    if peak_area < MIN_PEAK_LUNG_AREA_MM2:
        return [f"no lung found (largest lung cross-section {peak_area / 100:.0f} cm^2): is this a chest CT?"]
    missing = [side for side, label in (("right", 1), ("left", 2)) if not np.any(mask.labels == label)]
    return [f"only one lung found: no {missing[0]} lung in the mask"] if missing else []


class _CropMemo:
    """The last study's lung crops per window: every CT model of one analysis shares them (making
    them costs ~10 ms a slice, more than some models). Keyed by the volume object itself."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._volume: CTVolume | None = None
        self._crops: dict[tuple, list[LungCrop]] = {}

    def get(self, volume: CTVolume, slices: np.ndarray, window) -> list[LungCrop]:
        key = (window.width, window.level, slices.tobytes())
        with self._lock:
            if self._volume is not volume:
                self._volume, self._crops = volume, {}
            if key not in self._crops:
                self._crops[key] = [crop_to_lungs(ct_to_uint8(volume.hu[i], window)) for i in slices]
            return self._crops[key]


_crop_memo = _CropMemo()


def classify(volume: CTVolume, mask: LungMask, session: ModelSession, job: Job) -> ModelOpinion:
    """One classifier on every slice with lung; the other slices get NaN probabilities."""
    manifest = session.manifest
    spec = manifest.preprocessing
    areas = lung_areas_mm2(volume, mask)
    slices = np.flatnonzero(areas >= MIN_LUNG_AREA_MM2)
    crops = _crop_memo.get(volume, slices, ct_window(spec))
    probs, cams = run_classifier(session, len(slices), lambda part: prepare_ct_crops(crops[part], spec), job)
    k = len(manifest.classes)
    all_probs = np.full((volume.shape[0], k), np.nan, dtype=np.float32)
    all_cams = np.zeros((volume.shape[0], k, *cams.shape[2:]), dtype=np.float16)
    boxes = np.full((volume.shape[0], 4), -1, dtype=np.int32)
    all_probs[slices] = probs
    all_cams[slices] = cams
    for index, lungs in zip(slices, crops):
        if lungs.found:
            boxes[index] = lungs.box
    return opinion(
        session, all_probs, all_cams, (volume.shape[1], volume.shape[2]), areas, domain_notes(volume, mask, manifest), boxes
    )


def quantify(volume: CTVolume, mask: LungMask) -> LungQuantification:
    return quantify_lungs(volume.hu, mask.labels, volume.spacing)
