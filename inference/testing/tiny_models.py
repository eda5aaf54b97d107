"""Tiny ONNX models built with onnx.helper, installed with a real manifest: no torch needed.

They honour the export contract (ARCHITECTURE.md section 3): classifiers output ``logits`` [N, K] and a
ReLU'd, unnormalised ``cam`` [N, K, g, g]; segmenters output per-label ``logits`` [N, 3, ...].
Their "knowledge" is a rule a test can predict:

- classifier: class k's score map is ``weights[k] * brightness`` on a g x g grid (mean of the
  normalised input), pooled by plain or lung-mask-weighted averaging, so a brighter (denser) image
  pushes towards the class with the larger weight, and the CAM is bright where the image is bright;
- segmenters: lung = intensity inside a band (lung-dark, not outside-air-dark), right lung = low
  array x (the patient's right in LPS, and the image's left on a PA radiograph), left = high x.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from inference.manifest import ModelManifest, Threshold, file_sha256
from inference.preprocessing import InputSpec
from inference.registry import ModelStatus, inspect_model

OPSET = 17
IR_VERSION = 9


def _const(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)


def _model(nodes, inputs, outputs, initializers) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    onnx.checker.check_model(model)
    return model


def classifier_onnx(size: int, weights: list[float], grid: int = 4, channels: int = 3, with_mask: bool = False) -> onnx.ModelProto:
    k = len(weights)
    pool = size // grid
    w = np.asarray(weights, dtype=np.float32)[:, None, None, None] * np.full((k, channels, 1, 1), 1.0 / channels)
    nodes = [
        helper.make_node("AveragePool", ["image"], ["feat"], kernel_shape=[pool, pool], strides=[pool, pool]),
        helper.make_node("Conv", ["feat", "W"], ["score"]),
    ]
    init = [_const("W", w)]
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", channels, size, size])]
    if with_mask:
        inputs.append(helper.make_tensor_value_info("lung_mask", TensorProto.FLOAT, ["N", 1, size, size]))
        init += [numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes"), _const("eps", np.array(1e-6))]
        nodes += [
            helper.make_node("AveragePool", ["lung_mask"], ["m"], kernel_shape=[pool, pool], strides=[pool, pool]),
            helper.make_node("Mul", ["score", "m"], ["weighted"]),
            helper.make_node("ReduceSum", ["weighted", "axes"], ["num"], keepdims=0),
            helper.make_node("ReduceSum", ["m", "axes"], ["den0"], keepdims=0),
            helper.make_node("Add", ["den0", "eps"], ["den"]),
            helper.make_node("Div", ["num", "den"], ["logits"]),
            helper.make_node("Relu", ["weighted"], ["cam"]),
        ]
    else:
        nodes += [
            helper.make_node("GlobalAveragePool", ["score"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["logits"]),
            helper.make_node("Relu", ["score"], ["cam"]),
        ]
    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", k]),
        helper.make_tensor_value_info("cam", TensorProto.FLOAT, ["N", k, grid, grid]),
    ]
    return _model(nodes, inputs, outputs, init)


def segmenter_onnx(size: int, dims: int, band: tuple[float, float], gain: float = 40.0, channels: int = 1) -> onnx.ModelProto:
    """Lung where the (normalised) input lies in ``band``; right/left by a ramp along the last axis."""
    spatial = [size] * dims
    centre, half_width = (band[0] + band[1]) / 2, (band[1] - band[0]) / 2
    ramp = np.linspace(1.0, -1.0, size, dtype=np.float32).reshape([1, 1] + [1] * (dims - 1) + [size])
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["grey"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["grey", "centre"], ["offset"]),
        helper.make_node("Abs", ["offset"], ["distance"]),
        helper.make_node("Sub", ["half", "distance"], ["inside"]),
        helper.make_node("Mul", ["inside", "gain"], ["lung"]),
        helper.make_node("Neg", ["lung"], ["background"]),
        helper.make_node("Add", ["lung", "ramp"], ["right"]),
        helper.make_node("Sub", ["lung", "ramp"], ["left"]),
        helper.make_node("Concat", ["background", "right", "left"], ["logits"], axis=1),
    ]
    init = [_const("centre", centre), _const("half", half_width), _const("gain", gain), _const("ramp", ramp * 0.5)]
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", channels, *spatial])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3, *spatial])]
    return _model(nodes, inputs, outputs, init)


def install(
    directory: Path,
    model: onnx.ModelProto,
    model_id: str,
    *,
    task: str = "classification",
    modality: str = "CT",
    method: str = "baseline",
    spec: InputSpec = InputSpec(size=32),
    classes: tuple[str, ...] = ("NonCOVID", "COVID"),
    threshold: float | None = 0.5,
    temperature: float = 1.0,
    max_slice_thickness_mm: float | None = None,
    card: bool = True,
) -> ModelStatus:
    """Write <id>.onnx, <id>.json (with the true sha256) and <id>.md into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    onnx_path = directory / f"{model_id}.onnx"
    onnx.save(model, onnx_path)
    segmentation = task == "segmentation"
    inputs = {"image": "image"}
    if any(i.name == "lung_mask" for i in model.graph.input):
        inputs["lung_mask"] = "lung_mask"
    manifest = ModelManifest(
        id=model_id,
        version="0.0.1",
        task=task,
        modality=modality,
        method=method,
        preprocessing=spec,
        inputs=inputs,
        outputs={"logits": "logits"} if segmentation else {"logits": "logits", "cam": "cam"},
        classes=() if segmentation else classes,
        mask_labels={0: "background", 1: "right lung", 2: "left lung"} if segmentation else {},
        temperature=temperature,
        threshold=None
        if segmentation or threshold is None
        else Threshold(threshold, classes[-1], "synthetic test data", "fixed"),
        max_slice_thickness_mm=max_slice_thickness_mm,
        sha256=file_sha256(onnx_path),
        licence="test",
    )
    manifest.save(directory / f"{model_id}.json")
    if card:
        (directory / f"{model_id}.md").write_text(f"# {model_id}\nA tiny test model.\n")
    return inspect_model(directory / f"{model_id}.json", "user")


# Unstandardised [0, 1] input: brightness is never negative, so the black outside the CT slice
# contract's lung region adds nothing to a score map and the lesion is the brightest evidence.
CT_SPEC = InputSpec(size=32, mean=(0.0,), std=(1.0,), window=(1500.0, -600.0))
UNET3D_SPEC = InputSpec(size=32, channels=1, mean=(0.0,), std=(1.0,), window=(1500.0, -600.0))
# Lung at -850 HU is 85/255 in the lung window; room air (-1000) 60/255, fat and muscle above 200/255.
LUNG_BAND_CT = (70 / 255, 120 / 255)


def install_ct_models(directory: Path) -> dict[str, ModelStatus]:
    """A plain and a mask-weighted CT classifier and a tiny 3D lung segmenter."""
    return {
        "ct_plain": install(directory, classifier_onnx(32, [-2.0, 2.0]), "ct_plain", spec=CT_SPEC),
        "ct_masked": install(
            directory, classifier_onnx(32, [-2.0, 2.0], with_mask=True), "ct_masked", method="M4", spec=CT_SPEC
        ),
        "ct_unet": install(
            directory,
            segmenter_onnx(32, 3, LUNG_BAND_CT),
            "ct_unet",
            task="segmentation",
            method="unet3d",
            spec=UNET3D_SPEC,
        ),
    }
