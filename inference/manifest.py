"""The model manifest: everything inference needs to run a model, so no model-specific code lives elsewhere.

A model directory holds ``<id>.onnx`` + ``<id>.json`` (this manifest) + ``<id>.md`` (the model card).
Training's export writes it; the registry reads and validates it. Field meanings:

- task: "classification" (outputs logits [N, K] and cam [N, K, h, w]) or "segmentation"
  (outputs per-label logits [N, L, ...spatial]).
- inputs: tensor names by role: "image" always; "lung_mask" for mask-weighted pooling (M4), an
  (N, 1, size, size) float mask in [0, 1] in the same square frame as the image.
- outputs: tensor names by role: "logits", "cam" (classification) or "logits" (segmentation).
- calibration.temperature divides the logits before the softmax.
- threshold: the operating point on the positive class probability, chosen on validation slices.
- study_threshold: the same for a whole CT series' lung-area-weighted probability (chosen on groups
  of validation slices standing for patients, see ``verdict``); absent: the slice threshold.
- class_thresholds: one-vs-rest thresholds of the other classes (models of more than two classes,
  fitted on validation; ``verdict.decide``).
- domain: what the training images looked like (``max_slice_thickness_mm``, ``contrast`` allowed,
  ``body_parts``, ``source_types``), so inference can say when a study lies outside it.

A manifest is untrusted input (a site copies models in by hand): every field is type-checked and
numbers must be finite, so a malformed one is reported and skipped instead of failing later.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import stat
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from inference.preprocessing import InputSpec
from inference.study import Modality

MANIFEST_SCHEMA_VERSION = 1


class Task(StrEnum):
    """What a model does: classify an image (logits and Grad-CAMs) or segment the lungs (labels)."""

    CLASSIFICATION = "classification"
    SEGMENTATION = "segmentation"


TASKS = tuple(task.value for task in Task)
MODALITIES = tuple(modality.value for modality in Modality)
# The pack's methods; a site's own architecture may name another (a short identifier).
METHODS = ("baseline", "M1", "M2", "M3", "M4", "M5", "unet2d", "unet3d")
_METHOD_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
# A manifest is a few tens of KB; anything far larger is not one (and is not read whole).
MAX_MANIFEST_BYTES = 2 << 20
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
    task: Task
    modality: Modality
    method: str
    preprocessing: InputSpec
    inputs: dict[str, str]
    outputs: dict[str, str]
    classes: tuple[str, ...] = ()
    mask_labels: dict[int, str] = field(default_factory=dict)
    temperature: float = 1.0
    threshold: Threshold | None = None
    max_slice_thickness_mm: float | None = None
    study_threshold: float | None = None
    class_thresholds: dict[str, float] = field(default_factory=dict)
    domain: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    licence: str = ""
    intended_use: str = INTENDED_USE
    schema_version: int = MANIFEST_SCHEMA_VERSION

    def __post_init__(self) -> None:
        """A known task or modality given as a string (the JSON, training's options) becomes its enum
        member; ``validate`` names an unknown one."""
        for name, kind in (("task", Task), ("modality", Modality)):
            value = getattr(self, name)
            if value in {member.value for member in kind}:
                object.__setattr__(self, name, kind(value))

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
        data["task"], data["modality"] = str(self.task), str(self.modality)
        data["preprocessing"] = self.preprocessing.to_json()
        data["classes"] = list(self.classes)
        data["mask_labels"] = {str(k): v for k, v in self.mask_labels.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ModelManifest":
        try:
            threshold = data.get("threshold")
            manifest = cls(
                id=_text(data["id"], "id"),
                version=_text(data["version"], "version"),
                task=_text(data["task"], "task"),
                modality=_text(data["modality"], "modality"),
                method=_text(data["method"], "method"),
                preprocessing=InputSpec.from_json(_mapping(data["preprocessing"], "preprocessing")),
                inputs={str(k): _text(v, "inputs") for k, v in _mapping(data["inputs"], "inputs").items()},
                outputs={str(k): _text(v, "outputs") for k, v in _mapping(data["outputs"], "outputs").items()},
                classes=tuple(_text(c, "classes") for c in _sequence(data.get("classes", ()), "classes")),
                mask_labels={int(k): _text(v, "mask_labels") for k, v in _mapping(data.get("mask_labels", {}), "mask_labels").items()},
                temperature=_finite(data.get("temperature", 1.0), "temperature"),
                threshold=None if threshold is None else _threshold(_mapping(threshold, "threshold")),
                max_slice_thickness_mm=_optional_finite(data.get("max_slice_thickness_mm"), "max_slice_thickness_mm"),
                study_threshold=_optional_finite(data.get("study_threshold"), "study_threshold"),
                class_thresholds={
                    _text(k, "class_thresholds"): _finite(v, "class_thresholds")
                    for k, v in _mapping(data.get("class_thresholds", {}), "class_thresholds").items()
                },
                domain=dict(_mapping(data.get("domain", {}), "domain")),
                training=dict(_mapping(data.get("training", {}), "training")),
                metrics=dict(_mapping(data.get("metrics", {}), "metrics")),
                sha256=_text(data.get("sha256", ""), "sha256"),
                licence=_text(data.get("licence", ""), "licence"),
                intended_use=_text(data.get("intended_use", INTENDED_USE), "intended_use"),
                schema_version=int(_finite(data.get("schema_version", MANIFEST_SCHEMA_VERSION), "schema_version")),
            )
        except KeyError as exc:
            raise ManifestError(f"manifest field {exc} is missing") from exc
        except (TypeError, ValueError, AttributeError) as exc:
            raise ManifestError(f"manifest field malformed: {exc}") from exc
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
        if not _METHOD_NAME.match(self.method):
            problems.append(f"method {self.method[:40]!r} is not a short identifier")
        if "image" not in self.inputs:
            problems.append("inputs has no 'image' tensor")
        if "logits" not in self.outputs:
            problems.append("outputs has no 'logits' tensor")
        if self.task == Task.CLASSIFICATION:
            if len(self.classes) < 2:
                problems.append("a classifier needs at least two classes")
            if "cam" not in self.outputs:
                problems.append("a classifier must export its Grad-CAM output 'cam'")
        if self.task == Task.SEGMENTATION and not self.mask_labels:
            problems.append("a segmentation model needs mask_labels")
        if self.temperature <= 0:
            problems.append("temperature must be positive")
        for name, value in (("threshold", self.threshold.value if self.threshold else None), ("study_threshold", self.study_threshold)):
            if value is not None and not 0.0 <= value <= 1.0:
                problems.append(f"{name} {value} is not a probability")
        for name, value in self.class_thresholds.items():
            if name not in self.classes or not 0.0 <= value <= 1.0:
                problems.append(f"class threshold {name!r} {value} is not a probability of one of the classes")
        if self.threshold is not None and self.threshold.positive_class not in self.classes:
            problems.append(f"threshold class {self.threshold.positive_class!r} is not one of the classes")
        if problems:
            raise ManifestError("; ".join(problems))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "ModelManifest":
        """Read and validate a manifest file; any problem is a ``ManifestError`` naming the file.

        Only a regular file is opened (a named pipe would block forever), at most
        ``MAX_MANIFEST_BYTES`` are read, and the text must be UTF-8 JSON of moderate nesting."""
        name = Path(path).name
        try:
            if not stat.S_ISREG(Path(path).stat().st_mode):
                raise ManifestError(f"manifest {name} is not a regular file")
            with open(path, "rb") as handle:
                raw = handle.read(MAX_MANIFEST_BYTES + 1)
            if len(raw) > MAX_MANIFEST_BYTES:
                raise ManifestError(f"manifest {name} is larger than {MAX_MANIFEST_BYTES >> 20} MB")
            data = json.loads(raw.decode("utf-8"))
        except ManifestError:
            raise
        except OSError as exc:
            raise ManifestError(f"cannot read manifest {name}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise ManifestError(f"manifest {name} is not UTF-8 text (byte {exc.start})") from exc
        except (json.JSONDecodeError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise ManifestError(f"manifest {name} is not valid JSON: {reason}") from exc
        if not isinstance(data, dict):
            raise ManifestError(f"manifest {name} is not a JSON object")
        return cls.from_json(data)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be text, not {type(value).__name__}")
    return str(value)


def _mapping(value: Any, name: str) -> dict:
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be an object, not {type(value).__name__}")
    return value


def _sequence(value: Any, name: str) -> list:
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list, not {type(value).__name__}")
    return list(value)


def _finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value!r}"[:120])
    return float(value)


def _optional_finite(value: Any, name: str) -> float | None:
    return None if value is None else _finite(value, name)


def _threshold(data: dict) -> Threshold:
    return Threshold(
        value=_finite(data.get("value"), "threshold value"),
        positive_class=_text(data.get("positive_class"), "threshold positive_class"),
        chosen_on=_text(data.get("chosen_on", ""), "threshold chosen_on"),
        rule=_text(data.get("rule", ""), "threshold rule"),
    )


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
