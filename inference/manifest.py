"""The model manifest: everything inference needs to run a model, so no model-specific code lives elsewhere.

A model directory holds ``<id>.onnx`` + ``<id>.json`` (this manifest) + ``<id>.md`` (the model card).
Training's export writes it; the registry reads and validates it. Field meanings:

- task: "classification" (outputs logits [N, K] and cam [N, K, h, w]) or "segmentation"
  (outputs per-label logits [N, L, ...spatial]).
- inputs: tensor names by role: "image" always; "lung_mask" for mask-weighted pooling (M4), an
  (N, 1, size, size) float mask in [0, 1] in the same square frame as the image.
- outputs: tensor names by role: "logits", "cam" (classification) or "logits" (segmentation).
- calibration.temperature divides the logits before the softmax.
- threshold: the operating point on the positive class probability, chosen on validation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from inference.preprocessing import InputSpec

MANIFEST_SCHEMA_VERSION = 1
TASKS = ("classification", "segmentation")
MODALITIES = ("CT", "XR")
METHODS = ("baseline", "M1", "M2", "M3", "M4", "M5", "unet2d", "unet3d")
INTENDED_USE = "Research use only, not a medical device. Not for diagnosis or treatment decisions."


class ManifestError(ValueError):
    """A manifest that is missing, unreadable or does not describe a runnable model."""


@dataclass(frozen=True)
class Threshold:
    value: float
    positive_class: str
    chosen_on: str
    rule: str


@dataclass(frozen=True)
class ModelManifest:
    id: str
    version: str
    task: str
    modality: str
    method: str
    preprocessing: InputSpec
    inputs: dict[str, str]
    outputs: dict[str, str]
    classes: tuple[str, ...] = ()
    mask_labels: dict[int, str] = field(default_factory=dict)
    temperature: float = 1.0
    threshold: Threshold | None = None
    max_slice_thickness_mm: float | None = None
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    licence: str = ""
    intended_use: str = INTENDED_USE
    schema_version: int = MANIFEST_SCHEMA_VERSION

    @property
    def positive_index(self) -> int | None:
        if self.threshold is None or self.threshold.positive_class not in self.classes:
            return None
        return self.classes.index(self.threshold.positive_class)

    @property
    def uses_lung_mask(self) -> bool:
        return "lung_mask" in self.inputs

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["preprocessing"] = self.preprocessing.to_json()
        data["classes"] = list(self.classes)
        data["mask_labels"] = {str(k): v for k, v in self.mask_labels.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ModelManifest":
        try:
            threshold = data.get("threshold")
            manifest = cls(
                id=str(data["id"]),
                version=str(data["version"]),
                task=str(data["task"]),
                modality=str(data["modality"]),
                method=str(data["method"]),
                preprocessing=InputSpec.from_json(data["preprocessing"]),
                inputs={str(k): str(v) for k, v in data["inputs"].items()},
                outputs={str(k): str(v) for k, v in data["outputs"].items()},
                classes=tuple(str(c) for c in data.get("classes", ())),
                mask_labels={int(k): str(v) for k, v in data.get("mask_labels", {}).items()},
                temperature=float(data.get("temperature", 1.0)),
                threshold=None if threshold is None else Threshold(**threshold),
                max_slice_thickness_mm=data.get("max_slice_thickness_mm"),
                training=dict(data.get("training", {})),
                metrics=dict(data.get("metrics", {})),
                sha256=str(data.get("sha256", "")),
                licence=str(data.get("licence", "")),
                intended_use=str(data.get("intended_use", INTENDED_USE)),
                schema_version=int(data.get("schema_version", MANIFEST_SCHEMA_VERSION)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"manifest field missing or malformed: {exc}") from exc
        manifest.validate()
        return manifest

    def validate(self) -> None:
        problems = []
        if self.schema_version > MANIFEST_SCHEMA_VERSION:
            problems.append(f"schema version {self.schema_version} is newer than this LungLens understands")
        if self.task not in TASKS:
            problems.append(f"task {self.task!r} is not one of {TASKS}")
        if self.modality not in MODALITIES:
            problems.append(f"modality {self.modality!r} is not one of {MODALITIES}")
        if self.method not in METHODS:
            problems.append(f"method {self.method!r} is not one of {METHODS}")
        if "image" not in self.inputs:
            problems.append("inputs has no 'image' tensor")
        if "logits" not in self.outputs:
            problems.append("outputs has no 'logits' tensor")
        if self.task == "classification":
            if len(self.classes) < 2:
                problems.append("a classifier needs at least two classes")
            if "cam" not in self.outputs:
                problems.append("a classifier must export its Grad-CAM output 'cam'")
        if self.task == "segmentation" and not self.mask_labels:
            problems.append("a segmentation model needs mask_labels")
        if self.temperature <= 0:
            problems.append("temperature must be positive")
        if problems:
            raise ManifestError("; ".join(problems))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "ModelManifest":
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ManifestError(f"cannot read manifest {Path(path).name}: {exc}") from exc
        if not isinstance(data, dict):
            raise ManifestError(f"manifest {Path(path).name} is not a JSON object")
        return cls.from_json(data)


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
