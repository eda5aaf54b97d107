"""What an analysis hands back: immutable results shared by the viewer, the command line and the cache.

Slice order is the volume's array order (sorted along the slice normal, as loaded); an X-ray is a
study of one slice. Per-slice probabilities are NaN for slices the model did not look at (no lung
in the slice); in JSON those rows are ``null``s, so ``numpy.array(rows, dtype=float)`` gives NaN back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inference import __version__
from inference.cam import cam_operators, cam_to_image
from inference.manifest import INTENDED_USE, Task
from inference.preprocessing import PREPROCESSING_VERSION, ResizePolicy
from inference.quantification import LungQuantification
from inference.study import Modality
from inference.verdict import Consensus, Verdict

PER_SLICE_RULE = (
    "one row of class probabilities per slice, in slice order (array order, sorted along the slice "
    "normal); a row of nulls = no lung in that slice, not analysed"
)
MASK_LABELS = {0: "background", 1: "right lung", 2: "left lung"}
# How a pipeline words what makes a study unlike a model's training data (``pipelines.ct.domain_notes``).
DOMAIN_NOTE = "outside the training domain: "


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars and arrays to Python, NaN and infinities to null, paths to str."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass(frozen=True, eq=False)
class LungMask:
    """Lung labels on the image's native grid (0 background, 1 right, 2 left) and where they came from.

    ``note`` says why the mask is not the one asked for (e.g. the U-Net's was refused as implausible).
    """

    labels: np.ndarray
    source: str
    model_id: str | None = None
    version: str = ""
    note: str = ""

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "model": self.model_id,
            "version": self.version,
            "note": self.note or None,
            "labels": MASK_LABELS,
        }

    def to_record(self) -> tuple[dict[str, np.ndarray], dict]:
        meta = {"source": self.source, "model_id": self.model_id, "version": self.version, "note": self.note}
        return {"labels": self.labels}, meta

    @classmethod
    def from_record(cls, arrays: dict[str, np.ndarray], meta: dict) -> "LungMask":
        return cls(arrays["labels"].astype(np.uint8), meta["source"], meta["model_id"], meta["version"], meta["note"])


@dataclass(frozen=True, eq=False)
class ModelOpinion:
    """One classifier on one study: per-slice probabilities, Grad-CAMs and the study verdict.

    ``cams`` are (slices, classes, h, w) at the model's feature resolution, each map normalised to
    [0, 1] (zeros where not analysed); ``cam_on_slice`` puts one on the slice's pixel grid.
    """

    model_id: str
    version: str
    method: str
    classes: tuple[str, ...]
    sha256: str
    probabilities: np.ndarray
    cams: np.ndarray
    image_shape: tuple[int, int]
    input_size: int
    resize: ResizePolicy
    verdict: Verdict
    device: str
    warnings: tuple[str, ...] = ()
    from_cache: bool = False
    # (slices, 4) top, left, height, width of the part of each slice the model saw (CT); -1 rows:
    # not analysed or no lung found (the whole slice). None: the whole image (X-ray).
    crop_boxes: np.ndarray | None = None

    def crop_box(self, index: int) -> tuple[int, int, int, int] | None:
        if self.crop_boxes is None or self.crop_boxes[index, 0] < 0:
            return None
        return tuple(int(v) for v in self.crop_boxes[index])

    @property
    def domain_notes(self) -> tuple[str, ...]:
        """What makes this study unlike the model's training data, each without the common wording."""
        return tuple(w.split(DOMAIN_NOTE, 1)[1] for w in self.warnings if DOMAIN_NOTE in w)

    @property
    def analysed(self) -> np.ndarray:
        return ~np.isnan(self.probabilities).any(axis=1)

    def cam_on_slice(self, index: int, cls: int | str) -> np.ndarray:
        """The Grad-CAM of class ``cls`` for slice ``index`` on the slice's (H, W) grid, in [0, 1]."""
        k = self.classes.index(cls) if isinstance(cls, str) else int(cls)
        return cam_to_image(
            self.cams[index, k].astype(np.float32), self.image_shape, self.input_size, self.resize, self.crop_box(index)
        )

    def cam_volume(self, cls: int | str, slices: Sequence[int] | None = None) -> np.ndarray:
        """Class ``cls``'s Grad-CAMs on the image grid as 0..255 steps (255 = 1.0), (S, H, W) uint8,
        zero on slices not analysed; ``slices`` limits the work to those (the rest stay zero).
        One matrix product per slice (``cam.cam_operators``): a 300-slice series in well under a second."""
        k = self.classes.index(cls) if isinstance(cls, str) else int(cls)
        out = np.zeros((len(self.probabilities), *self.image_shape), dtype=np.uint8)
        wanted = np.flatnonzero(self.analysed) if slices is None else [i for i in slices if self.analysed[i]]
        grid = tuple(self.cams.shape[-2:])
        for index in wanted:
            rows, cols = cam_operators(grid, tuple(self.image_shape), self.input_size, self.resize, self.crop_box(int(index)))
            mapped = rows @ self.cams[index, k].astype(np.float32) @ cols.T
            out[index] = np.clip(mapped * np.float32(255.0) + np.float32(0.5), 0.0, 255.0).astype(np.uint8)
        return out

    def describe(self) -> dict:
        return {
            "id": self.model_id,
            "version": self.version,
            "task": Task.CLASSIFICATION,
            "method": self.method,
            "classes": list(self.classes),
            "sha256": self.sha256,
            "device": self.device,
        }

    def to_json(self) -> dict:
        return {
            "per_slice": self.probabilities,
            "analysed_slices": int(self.analysed.sum()),
            "verdict": self.verdict.to_json(),
            "warnings": list(self.warnings),
            "from_cache": self.from_cache,
        }

    def to_record(self) -> tuple[dict[str, np.ndarray], dict]:
        meta = {
            "model_id": self.model_id,
            "version": self.version,
            "method": self.method,
            "classes": list(self.classes),
            "sha256": self.sha256,
            "image_shape": list(self.image_shape),
            "input_size": self.input_size,
            "resize": str(self.resize),
            "verdict": jsonable(self.verdict.to_json()),
            "device": self.device,
            "warnings": list(self.warnings),
        }
        arrays = {"probabilities": self.probabilities, "cams": self.cams}
        if self.crop_boxes is not None:
            arrays["crop_boxes"] = self.crop_boxes
        return arrays, meta

    @classmethod
    def from_record(cls, arrays: dict[str, np.ndarray], meta: dict) -> "ModelOpinion":
        return cls(
            model_id=meta["model_id"],
            version=meta["version"],
            method=meta["method"],
            classes=tuple(meta["classes"]),
            sha256=meta["sha256"],
            probabilities=arrays["probabilities"],
            cams=arrays["cams"],
            image_shape=tuple(meta["image_shape"]),
            input_size=int(meta["input_size"]),
            resize=ResizePolicy(meta["resize"]),
            verdict=Verdict.from_json(meta["verdict"]),
            device=meta["device"],
            warnings=tuple(meta["warnings"]),
            from_cache=True,
            crop_boxes=arrays.get("crop_boxes"),
        )


NOTE_KINDS = ("study", "model-failed", "model-skipped", "domain", "lung-mask", "no-verdict", "runtime")


@dataclass(frozen=True)
class Note:
    """One thing the user should know about an analysis, typed so nobody parses its wording:
    ``kind`` (one of ``NOTE_KINDS``) and the model it is about, if any."""

    text: str
    kind: str = "study"
    model_id: str | None = None


@dataclass(frozen=True, eq=False)
class StudyAnalysis:
    """Everything one analysis found about one study (a CT series or an X-ray)."""

    modality: Modality
    shape: tuple[int, ...]
    spacing_mm: tuple[float, ...] | None
    lung_mask: LungMask | None
    lung: LungQuantification | None
    opinions: tuple[ModelOpinion, ...]
    consensus: Consensus | None
    notes: tuple[Note, ...]
    device: str
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def warnings(self) -> tuple[str, ...]:
        """The notes' texts, in order, once each (what a person reads)."""
        return tuple(dict.fromkeys(note.text for note in self.notes))

    def model_notes(self, model_id: str, kind: str | None = None) -> tuple[str, ...]:
        """What the analysis says about one model (why it gave no opinion: kind "model-failed")."""
        return tuple(n.text for n in self.notes if n.model_id == model_id and (kind is None or n.kind == kind))

    def opinion(self, model_id: str) -> ModelOpinion:
        for opinion in self.opinions:
            if opinion.model_id == model_id:
                return opinion
        raise KeyError(model_id)

    def to_json(self, outputs: dict[str, str] | None = None) -> dict:
        """The analysis document of ``lunglens analyze --json`` (see the command's help for the schema)."""
        lung = self.lung.to_json() if self.lung is not None else {"volume_ml": {"right": None, "left": None, "total": None}}
        return jsonable(
            {
                "lunglens_version": __version__,
                "intended_use": INTENDED_USE,
                "modality": self.modality,
                "shape": list(self.shape),
                "spacing_mm": None if self.spacing_mm is None else list(self.spacing_mm),
                "device": self.device,
                "preprocessing_version": PREPROCESSING_VERSION,
                "models": [o.describe() for o in self.opinions],
                "per_slice_rule": PER_SLICE_RULE,
                "results": {o.model_id: o.to_json() for o in self.opinions},
                "consensus": None if self.consensus is None else self.consensus.to_json(),
                "lung_mask": None if self.lung_mask is None else self.lung_mask.to_json(),
                "lung": lung,
                "warnings": list(self.warnings),
                "timings_s": self.timings_s,
                "outputs": outputs or {},
            }
        )
