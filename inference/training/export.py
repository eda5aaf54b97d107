"""Export a training checkpoint to ``<id>.onnx`` + ``<id>.json`` (manifest) + ``<id>.md`` (model card).

The ONNX graph of a classifier returns (logits, cam): Grad-CAM is computed inside the graph from the
head's closed-form Jacobian (``inference.training.gradcam.CamExportModule``), so the viewer needs no
torch. Segmentation models return logits only. The batch axis is dynamic; the spatial size is the
model's ``InputSpec.size``.

Export verifies itself before anything appears in the output folder (files are staged in a hidden
folder and moved in only after the checks pass), on deterministic synthetic inputs at a batch size
other than the traced one:
- onnxruntime vs torch probabilities: max |difference| <= 1e-4;
- onnxruntime CAMs vs torch-autograd Grad-CAM, each map divided by its max: <= 1e-3.
Some networks are ill-conditioned in float32 (randomly initialised non-local attention has one-hot
softmaxes, random ResNet-v2 activations reach 1e7+): there torch's own float32 run differs from a
float64 run by more than those bounds. The bound then becomes 4x that measured float32 noise, and the
report says so; a wrong graph still fails, because its error is far above float32 noise.

INT8 (optional): onnxruntime static quantization, QDQ format, per-channel int8 weights reduced to
7 bits, uint8 activations (the u8s8 kernels VNNI runs fastest). Without VNNI (AVX2 CPUs such as AMD
Zen 3) those kernels sum pairs of u8 x s8 products in int16 and saturate on full-range weights, so the
same INT8 file gives other answers on another CPU (measured with M2 on its test split: COVID
sensitivity 0.888 with exact integer arithmetic, as on a VNNI Xeon or with graph optimisations off,
0.948 with the AVX2 kernels of an EPYC); 7-bit weights cannot saturate (onnxruntime's advice for
CPUs without VNNI). Calibrated on up to 64 images from a
folder-per-class directory through the model's own preprocessing. MatMul is left in float32 (attention
and the Grad-CAM arithmetic). The INT8 model is a separate model ``<id>-int8`` with its own manifest
and card, so the registry treats it like any other; the report gives its agreement with FP32 and, when
the folder names are the model's classes, both accuracies on images not used for calibration.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import timm
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.registry import QDQRegistry
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image as PILImage
from torch import nn

from inference.cam import normalise_cams
from inference.manifest import ModelManifest, Threshold, file_sha256
from inference.preprocessing import InputSpec, crop_to_lungs, prepare_batch, prepare_ct_crops
from inference.training.checkpoint import build_from_checkpoint, checkpoint_input_spec, load_checkpoint
from inference.training.gradcam import CamExportModule, autograd_gradcam
from inference.training.model_card import DATA_TERMS, render_model_card
from inference.training.networks import MASK_LABELS, is_segmentation
from inference.training.provenance import without_local_paths
from inference.training.sources import source_info

OPSET = 18
PROBABILITY_TOLERANCE = 1e-4
CAM_TOLERANCE = 1e-3
NOISE_FACTOR = 4.0
VERIFY_BATCH = 2
CALIBRATION_LIMIT = 64
# What the CT slice models are told their training data looked like (``manifest.domain``): routine
# chest CT reconstructions up to 5 mm, lung window, no contrast phase they could tell apart.
CT_MAX_SLICE_THICKNESS_MM = 5.0
CT_DOMAIN = {
    "max_slice_thickness_mm": CT_MAX_SLICE_THICKNESS_MM,
    "contrast": False,
    "body_parts": ["CHEST"],
    "window": "lung (width 1500, level -600)",
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
QUANTIZATION = "onnxruntime static QDQ, per-channel int8 weights reduced to 7 bits (no saturation on CPUs without VNNI), uint8 activations, MatMul kept in float32"
_EXTRA_FIELDS = (
    "temperature", "threshold", "study_threshold", "class_thresholds", "metrics", "training", "git_commit", "data_terms", "version",
)


class ExportError(RuntimeError):
    """The export could not be written or did not verify; nothing was left in the output folder."""


@dataclass(frozen=True)
class Int8Report:
    onnx_path: str
    manifest_path: str
    card_path: str
    calibration_images: int
    evaluation_images: int
    probability_max_abs_diff: float
    top1_agreement: float
    cam_mean_abs_diff: float | None  # INT8 vs FP32 Grad-CAM as displayed: each map scaled to [0, 1]
    fp32_accuracy: float | None
    int8_accuracy: float | None
    fp32_ms_per_image: float
    int8_ms_per_image: float
    # this CPU's integer kernels vs the exact QDQ arithmetic (graph optimisations off): how far the
    # answers can move between CPUs (7-bit weights keep it at rounding noise)
    kernel_vs_exact_top1_agreement: float
    kernel_vs_exact_probability_max_abs_diff: float
    seconds: float


@dataclass(frozen=True)
class ExportReport:
    model_id: str
    onnx_path: str
    manifest_path: str
    card_path: str
    probability_max_abs_diff: float
    probability_float32_noise: float
    probability_tolerance: float
    cam_max_abs_diff: float | None
    cam_float32_noise: float | None
    cam_tolerance: float | None
    export_seconds: float
    verify_seconds: float
    int8: Int8Report | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ---- inputs ---------------------------------------------------------------------------------------


def _synthetic_images(rng: np.random.Generator, count: int, size: int) -> np.ndarray:
    """Deterministic 8-bit images with chest-like low-frequency structure plus fine noise."""
    coarse = rng.integers(0, 256, size=(count, 6, 6), dtype=np.uint8)
    smooth = np.stack([np.asarray(PILImage.fromarray(c).resize((size, size), PILImage.BICUBIC)) for c in coarse])
    noisy = smooth.astype(np.int16) + rng.integers(-20, 21, size=smooth.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def synthetic_lung_masks(count: int, size: int) -> np.ndarray:
    """Two elliptical 'lungs' [count, 1, size, size] in {0, 1}, for mask-weighted pooling."""
    y, x = np.mgrid[0:size, 0:size] / size
    lungs = ((x - 0.3) / 0.16) ** 2 + ((y - 0.5) / 0.3) ** 2 < 1
    lungs |= ((x - 0.7) / 0.16) ** 2 + ((y - 0.5) / 0.3) ** 2 < 1
    return np.repeat(lungs[None, None].astype(np.float32), count, axis=0)


def example_feeds(
    spec: InputSpec, method: str, uses_lung_mask: bool, count: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """Model inputs by tensor name, as the inference layer will feed them."""
    rng = np.random.default_rng(seed)
    if method == "unet3d":
        volume = rng.standard_normal((count, spec.channels, spec.size, spec.size, spec.size)).astype(np.float32)
        return {"image": volume}
    feeds = {"image": prepare_batch(_synthetic_images(rng, count, spec.size), spec)}
    if uses_lung_mask:
        feeds["lung_mask"] = synthetic_lung_masks(count, spec.size)
    return feeds


# ---- ONNX export and verification -------------------------------------------------------------------


def export_onnx(model: nn.Module, feeds: Mapping[str, np.ndarray], path: Path, segmentation: bool) -> None:
    module = model if segmentation else CamExportModule(model)
    inputs = list(feeds)
    outputs = ["logits"] if segmentation else ["logits", "cam"]
    with warnings.catch_warnings():
        # shapes turned into constants are intended: only the batch axis is dynamic
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module.eval(),
            tuple(torch.from_numpy(feeds[name]) for name in inputs),
            str(path),
            input_names=inputs,
            output_names=outputs,
            dynamic_axes={name: {0: "batch"} for name in inputs + outputs},
            opset_version=OPSET,
            dynamo=False,
        )


def _session(path: Path, optimised: bool = True) -> onnxruntime.InferenceSession:
    """``optimised=False`` runs a QDQ model as written (dequantize, float op, quantize): the exact
    arithmetic the integer kernels approximate, the same on every CPU."""
    options = onnxruntime.SessionOptions()
    if not optimised:
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _torch_run(model: nn.Module, feeds: Mapping[str, np.ndarray], dtype: torch.dtype, segmentation: bool):
    """(probabilities, autograd Grad-CAM or None) from the torch model in ``dtype``."""
    net = model if dtype == torch.float32 else copy.deepcopy(model).to(dtype)
    tensors = [torch.from_numpy(feeds[name]).to(dtype) for name in feeds]
    with torch.no_grad():
        logits = net(*tensors)
    probabilities = torch.softmax(logits, dim=1).double().numpy()
    cams = None if segmentation else autograd_gradcam(net, *tensors).double().numpy()
    return probabilities, cams


def _normalised_cam_errors(cams: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """|difference| after dividing each map by the reference map's max; maps under 1e-3 of the
    image's strongest map are measured on that scale instead (they show as blank either way)."""
    own = reference.max(axis=(2, 3), keepdims=True)
    strongest = own.max(axis=1, keepdims=True)
    scale = np.maximum(np.maximum(own, 1e-3 * strongest), 1e-12)
    return np.abs(cams - reference) / scale


def verify_onnx(
    model: nn.Module, path: Path, feeds: Mapping[str, np.ndarray], segmentation: bool
) -> dict[str, float | None]:
    """Parity figures of the ONNX file against the torch model; ExportError when out of bounds."""
    onnx_outputs = _session(path).run(None, dict(feeds))
    probabilities32, cams32 = _torch_run(model, feeds, torch.float32, segmentation)
    probabilities64, cams64 = _torch_run(model, feeds, torch.float64, segmentation)
    probability_diff = float(np.abs(_softmax(onnx_outputs[0].astype(np.float64)) - probabilities32).max())
    probability_noise = float(np.abs(probabilities32 - probabilities64).max())
    figures = {
        "probability_max_abs_diff": probability_diff,
        "probability_float32_noise": probability_noise,
        "probability_tolerance": max(PROBABILITY_TOLERANCE, NOISE_FACTOR * probability_noise),
        "cam_max_abs_diff": None,
        "cam_float32_noise": None,
        "cam_tolerance": None,
    }
    if not segmentation:
        figures["cam_max_abs_diff"] = float(_normalised_cam_errors(onnx_outputs[1].astype(np.float64), cams32).max())
        figures["cam_float32_noise"] = float(_normalised_cam_errors(cams32, cams64).max())
        figures["cam_tolerance"] = max(CAM_TOLERANCE, NOISE_FACTOR * figures["cam_float32_noise"])
    problems = []
    if not probability_diff <= figures["probability_tolerance"]:
        problems.append(
            f"onnxruntime probabilities differ from torch by {probability_diff:.2e} "
            f"(allowed {figures['probability_tolerance']:.1e})"
        )
    if not segmentation and not figures["cam_max_abs_diff"] <= figures["cam_tolerance"]:
        problems.append(
            f"exported Grad-CAM differs from autograd Grad-CAM by {figures['cam_max_abs_diff']:.2e} of each map's "
            f"maximum (allowed {figures['cam_tolerance']:.1e})"
        )
    if problems:
        raise ExportError("export did not verify: " + "; ".join(problems))
    return figures


# ---- manifest ---------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def default_model_id(checkpoint: Mapping[str, Any]) -> str:
    return f"{checkpoint['method']}-{checkpoint['modality']}".lower()


def _domain(extra: Mapping[str, Any]) -> dict[str, Any]:
    """The CT domain, with the kinds of images the model trained on when its run recorded its sources."""
    sources = (extra.get("training") or {}).get("sources") or []
    return {**CT_DOMAIN, **({"source_types": [source_info(s).kind for s in sources]} if sources else {})}


def build_manifest(checkpoint: Mapping[str, Any], model_id: str, inputs: list[str], sha256: str) -> ModelManifest:
    """The manifest of the FP32 model, every field filled from the checkpoint (see checkpoint.py for ``extra``)."""
    method, modality = checkpoint["method"], checkpoint["modality"]
    extra = dict(checkpoint.get("extra") or {})
    segmentation = is_segmentation(method)
    threshold = extra.get("threshold")
    try:
        threshold = None if threshold is None else Threshold(**threshold)
        temperature = float(extra.get("temperature", 1.0))
        study_threshold = extra.get("study_threshold")
        study_threshold = None if study_threshold is None else float(study_threshold["value"])
    except (TypeError, ValueError, KeyError) as exc:
        raise ExportError(f"the checkpoint's temperature or thresholds are malformed: {exc}") from exc
    training = {
        **_jsonable(extra.get("training", {})),
        **{key: _jsonable(value) for key, value in extra.items() if key not in _EXTRA_FIELDS},
        "method": method,
        "model_config": _jsonable(checkpoint["model_config"]),
        "epoch": int(checkpoint["epoch"]),
        "code_commit": extra.get("git_commit"),
        "export_commit": _git_commit(),
        "exported_with": {"torch": torch.__version__, "timm": timm.__version__, "onnxruntime": onnxruntime.__version__},
    }
    terms = extra.get("data_terms") or DATA_TERMS.get(modality, "the training data's own terms")
    manifest = ModelManifest(
        id=model_id,
        version=str(extra.get("version", f"{time.strftime('%Y.%m.%d')}-epoch{int(checkpoint['epoch'])}")),
        task="segmentation" if segmentation else "classification",
        modality=modality,
        method=method,
        preprocessing=checkpoint_input_spec(checkpoint),
        inputs={name: name for name in inputs},
        outputs={"logits": "logits"} if segmentation else {"logits": "logits", "cam": "cam"},
        classes=() if segmentation else tuple(checkpoint["classes"]),
        mask_labels=dict(MASK_LABELS) if segmentation else {},
        temperature=temperature,
        threshold=threshold,
        max_slice_thickness_mm=CT_MAX_SLICE_THICKNESS_MM if modality == "CT" and not segmentation else None,
        study_threshold=study_threshold,
        class_thresholds={str(k): float(v) for k, v in (extra.get("class_thresholds") or {}).items()},
        domain=_domain(extra) if modality == "CT" and not segmentation else {},
        training=training,
        metrics=_jsonable(extra.get("metrics", {})),
        sha256=sha256,
        licence=f"research use; weights inherit the data terms: {terms}",
    )
    try:
        manifest.validate()
    except ValueError as exc:
        raise ExportError(f"the checkpoint does not make a valid manifest: {exc}") from exc
    return manifest


# Pictures a run leaves beside its checkpoint that the card shows (copied as <id>.<name>.png).
CARD_PICTURES = {"confusion": "confusion_test.png", "masks": "mask-contact-sheet.png"}


def _write_model_files(
    staging: Path, manifest: ModelManifest, verification: dict, int8: dict | None = None, run: Path | None = None
) -> None:
    """Manifest, card and the run's pictures, naming data sets and runs but no folder of this machine
    (they ship with the model)."""
    manifest = replace(manifest, training=without_local_paths(manifest.training), metrics=without_local_paths(manifest.metrics))
    manifest.save(staging / f"{manifest.id}.json")
    pictures = {}
    for name, source in CARD_PICTURES.items():
        if run is not None and (run / source).is_file():
            pictures[name] = f"{manifest.id}.{name}.png"
            shutil.copyfile(run / source, staging / pictures[name])
    card = render_model_card(manifest, verification, int8, pictures)
    (staging / f"{manifest.id}.md").write_text(without_local_paths(card))


# ---- INT8 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationSet:
    """Preprocessed images from a folder-per-class directory, split into calibration and evaluation."""

    calibration: np.ndarray
    evaluation: np.ndarray
    labels: np.ndarray | None  # class index per evaluation image, when every folder is one of the classes
    skipped: tuple[str, ...]
    # CT: each image's lung region from the CT slice contract (M4 pools over it); None for X-ray
    calibration_masks: np.ndarray | None = None
    evaluation_masks: np.ndarray | None = None


def read_calibration_set(
    root: str | Path, spec: InputSpec, classes: tuple[str, ...], limit: int = CALIBRATION_LIMIT
) -> CalibrationSet:
    """Up to ``limit`` images for calibration and up to ``limit`` others for evaluation, taken from the
    class folders in turn so every class is represented. Unreadable files are skipped and listed."""
    root = Path(root)
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    queues = [
        [(index, file) for file in sorted(folder.iterdir()) if file.suffix.lower() in IMAGE_SUFFIXES]
        for index, folder in enumerate(folders)
    ]
    in_turn = (entry for entry in itertools.chain.from_iterable(itertools.zip_longest(*queues)) if entry is not None)
    images, folder_of, skipped = [], [], []
    for index, file in in_turn:
        if len(images) == 2 * limit:
            break
        try:
            with PILImage.open(file) as opened:
                images.append(np.asarray(opened.convert("L")))
        except (OSError, ValueError) as exc:
            skipped.append(f"{file.name}: {exc}")
            continue
        folder_of.append(folders[index].name)
    if not images:
        raise ExportError(f"no readable images in the class folders of {root}")
    # CT models see slices through the CT slice contract, exactly as at run time
    batch, masks = prepare_ct_crops([crop_to_lungs(i) for i in images], spec) if spec.window else (prepare_batch(images, spec), None)
    rest = slice(limit, None) if len(batch) > limit else slice(None)
    labels = None
    if classes and all(folder.name in classes for folder in folders):
        labels = np.array([classes.index(name) for name in folder_of[rest]])
    return CalibrationSet(batch[:limit], batch[rest], labels, tuple(skipped),
                          None if masks is None else masks[:limit], None if masks is None else masks[rest])


class _FeedReader(CalibrationDataReader):
    """Calibration inputs, one image at a time."""

    def __init__(self, images: np.ndarray, masks: np.ndarray | None, uses_lung_mask: bool):
        self._feeds = iter(
            _feeds_for(images[i : i + 1], None if masks is None else masks[i : i + 1], uses_lung_mask) for i in range(len(images))
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def _feeds_for(images: np.ndarray, masks: np.ndarray | None, uses_lung_mask: bool) -> dict[str, np.ndarray]:
    """Model inputs; without masks (X-ray folders) an all-lung mask makes M4's pooling plain GAP."""
    feeds = {"image": images}
    if uses_lung_mask:
        feeds["lung_mask"] = masks if masks is not None else np.ones((len(images), 1, *images.shape[2:]), dtype=np.float32)
    return feeds


def _run_timed(session: onnxruntime.InferenceSession, images: np.ndarray, masks: np.ndarray | None, uses_lung_mask: bool, chunk: int = 8):
    """(probabilities [N, K, ...], cams or None, milliseconds per image) over ``images`` in small batches."""
    started = time.perf_counter()
    batches = range(0, len(images), chunk)
    chunks = [
        session.run(None, _feeds_for(images[i : i + chunk], None if masks is None else masks[i : i + chunk], uses_lung_mask))
        for i in batches
    ]
    elapsed = time.perf_counter() - started
    outputs = [np.concatenate(parts).astype(np.float64) for parts in zip(*chunks)]
    cams = outputs[1] if len(outputs) > 1 else None
    return _softmax(outputs[0]), cams, 1000.0 * elapsed / len(images)


def _displayed_cam_difference(cams: np.ndarray, reference: np.ndarray) -> float:
    """Mean |difference| of the maps as the viewer shows them (each divided by its own maximum)."""
    return float(np.abs(normalise_cams(cams) - normalise_cams(reference)).mean())


def quantize_int8(
    fp32_path: Path, int8_path: Path, calibration: CalibrationSet, uses_lung_mask: bool
) -> dict[str, Any]:
    """Write the INT8 model and return its agreement with FP32 on the evaluation images."""
    prepared = int8_path.with_name(int8_path.stem + "-prepared.onnx")
    # symbolic shape inference cannot follow the Grad-CAM reshapes; ONNX shape inference can
    quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
    quantize_static(
        str(prepared),
        str(int8_path),
        _FeedReader(calibration.calibration, calibration.calibration_masks, uses_lung_mask),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        reduce_range=True,
        op_types_to_quantize=sorted(set(QDQRegistry) - {"MatMul"}),
    )
    prepared.unlink()
    evaluation = (calibration.evaluation, calibration.evaluation_masks, uses_lung_mask)
    fp32, fp32_cams, fp32_ms = _run_timed(_session(fp32_path), *evaluation)
    int8, int8_cams, int8_ms = _run_timed(_session(int8_path), *evaluation)
    exact, _, _ = _run_timed(_session(int8_path, optimised=False), *evaluation)
    labels = calibration.labels
    return {
        "calibration_images": len(calibration.calibration),
        "evaluation_images": len(calibration.evaluation),
        "probability_max_abs_diff": float(np.abs(fp32 - int8).max()),
        "top1_agreement": float((fp32.argmax(axis=1) == int8.argmax(axis=1)).mean()),
        "cam_mean_abs_diff": None if fp32_cams is None else _displayed_cam_difference(int8_cams, fp32_cams),
        "fp32_accuracy": None if labels is None else float((fp32.argmax(axis=1) == labels).mean()),
        "int8_accuracy": None if labels is None else float((int8.argmax(axis=1) == labels).mean()),
        "fp32_ms_per_image": fp32_ms,
        "int8_ms_per_image": int8_ms,
        "kernel_vs_exact_top1_agreement": float((int8.argmax(axis=1) == exact.argmax(axis=1)).mean()),
        "kernel_vs_exact_probability_max_abs_diff": float(np.abs(int8 - exact).max()),
    }


# ---- the whole export -------------------------------------------------------------------------------


def export_checkpoint(
    checkpoint_path: str | Path,
    out_dir: str | Path,
    model_id: str | None = None,
    int8: bool = False,
    calibration_dir: str | Path | None = None,
) -> ExportReport:
    """Export, verify and describe one checkpoint; raise ExportError (or CheckpointError) and write
    nothing when any step fails."""
    checkpoint = load_checkpoint(checkpoint_path)
    external = Path(checkpoint_path).parent / "external.json"
    if external.exists():  # written by `lunglens evaluate-run` (or xray-mask-check) beside the run's checkpoints
        extra = checkpoint.setdefault("extra", {})
        extra["metrics"] = {**extra.get("metrics", {}), "external": json.loads(external.read_text())}
    method = checkpoint["method"]
    segmentation = is_segmentation(method)
    model_id = model_id or default_model_id(checkpoint)
    if not _MODEL_ID.match(model_id):
        raise ExportError(f"model id {model_id!r} must be letters, digits, '.', '_' or '-' (it names files)")
    if int8 and calibration_dir is None:
        raise ExportError("INT8 export needs --calibration DIR (a folder per class of images)")
    if int8 and method == "unet3d":
        raise ExportError("INT8 calibration reads 2D images; the 3D U-Net is exported in FP32 only")
    model = build_from_checkpoint(checkpoint)
    spec = checkpoint_input_spec(checkpoint)
    uses_lung_mask = bool(getattr(model, "uses_lung_mask", False))
    # accuracy needs image-level labels: classifiers only
    labels = () if segmentation else tuple(checkpoint["classes"])
    calibration = read_calibration_set(calibration_dir, spec, labels) if int8 else None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out_dir) as staging_name:
        staging = Path(staging_name)
        onnx_path = staging / f"{model_id}.onnx"
        started = time.perf_counter()
        try:
            export_onnx(model, example_feeds(spec, method, uses_lung_mask, count=1), onnx_path, segmentation)
        except Exception as exc:  # the exporter raises many types; all mean the same thing to the user
            raise ExportError(f"torch could not export this {method} network to ONNX: {str(exc)[:300]}") from exc
        export_seconds = time.perf_counter() - started
        started = time.perf_counter()
        # one 128^3 volume already takes ~9 GB in torch float64 (the noise reference): never a batch
        verify_count = 1 if method == "unet3d" else VERIFY_BATCH
        feeds = example_feeds(spec, method, uses_lung_mask, count=verify_count, seed=1)
        verification = verify_onnx(model, onnx_path, feeds, segmentation)
        verify_seconds = time.perf_counter() - started
        manifest = build_manifest(checkpoint, model_id, list(feeds), file_sha256(onnx_path))
        card_figures = {**verification, "opset": OPSET, "export_seconds": round(export_seconds, 2)}
        int8_figures = None
        if calibration is not None:
            int8_manifest, int8_figures = _export_int8(staging, manifest, calibration, uses_lung_mask)
            int8_card = {**int8_figures, "skipped_files": len(calibration.skipped)}
            _write_model_files(staging, int8_manifest, card_figures, int8_card, Path(checkpoint_path).parent)
        _write_model_files(staging, manifest, card_figures, run=Path(checkpoint_path).parent)
        # models first, manifests last: a registry scanning the folder never sees a manifest without its model
        for staged in sorted(staging.iterdir(), key=lambda path: (path.suffix == ".json", path.name)):
            os.replace(staged, out_dir / staged.name)
    int8_report = None
    if int8_figures is not None:
        int8_id = f"{model_id}-int8"
        int8_report = Int8Report(
            onnx_path=str(out_dir / f"{int8_id}.onnx"),
            manifest_path=str(out_dir / f"{int8_id}.json"),
            card_path=str(out_dir / f"{int8_id}.md"),
            **int8_figures,
        )
    return ExportReport(
        model_id=model_id,
        onnx_path=str(out_dir / f"{model_id}.onnx"),
        manifest_path=str(out_dir / f"{model_id}.json"),
        card_path=str(out_dir / f"{model_id}.md"),
        **verification,
        export_seconds=export_seconds,
        verify_seconds=verify_seconds,
        int8=int8_report,
    )


def _export_int8(staging: Path, manifest: ModelManifest, calibration: CalibrationSet, uses_lung_mask: bool):
    int8_id = f"{manifest.id}-int8"
    int8_path = staging / f"{int8_id}.onnx"
    started = time.perf_counter()
    try:
        figures = quantize_int8(staging / f"{manifest.id}.onnx", int8_path, calibration, uses_lung_mask)
    except Exception as exc:  # onnxruntime.quantization raises many types; the FP32 model is not written either
        raise ExportError(f"INT8 quantization failed: {str(exc)[:300]}") from exc
    figures["seconds"] = time.perf_counter() - started
    int8_manifest = replace(
        manifest,
        id=int8_id,
        sha256=file_sha256(int8_path),
        training={**manifest.training, "quantization": QUANTIZATION},
        metrics={**manifest.metrics, "int8_vs_fp32": figures},
    )
    return int8_manifest, figures
