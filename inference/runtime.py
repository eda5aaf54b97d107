"""ONNX Runtime sessions: on the GPU when there is one, on the CPU otherwise, and honest about which.

Device policy (``--device``):

- ``auto`` (default): CUDA when this onnxruntime has the CUDA provider, else CPU. onnxruntime-gpu on
  a machine without a usable GPU silently runs on the CPU; the provider the session really got is
  read back from ``session.get_providers()`` and the fallback is reported as a note, not hidden.
- ``gpu``: strict. If CUDA is not available, or the session falls back to the CPU, opening the model
  fails with :class:`DeviceUnavailable` saying why, so a benchmark or a site that asked for the GPU
  never gets CPU numbers unknowingly.
- ``cpu``: the CPU provider only.

Sessions are expensive to create (graph optimisation), so they are kept per (model file, sha256,
device) and reused across studies. The CPU provider gets as many intra-op threads as this process
may use (``$LUNGLENS_THREADS`` overrides), one inter-op thread (the graphs are sequential CNNs) and
no spin-waiting, because between batches the Python side needs the same cores for preprocessing.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
import onnxruntime as ort

from inference.manifest import ModelManifest
from inference.registry import ModelStatus



class Device(StrEnum):
    """Where models run: auto (the GPU when usable, else the CPU), cpu, or gpu (an error without one)."""

    AUTO = "auto"
    CPU = "cpu"
    GPU = "gpu"


DEVICES = tuple(device.value for device in Device)
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
THREADS_ENV = "LUNGLENS_THREADS"
DEFAULT_BATCH_SIZE = {Device.CPU: 8, Device.GPU: 32}
DEVICE_NAMES = {CUDA: Device.GPU, CPU: Device.CPU}


class DeviceUnavailable(RuntimeError):
    """The GPU was demanded (``--device gpu``) but cannot be used."""


class ModelError(RuntimeError):
    """A model onnxruntime cannot load or run, or whose graph does not match its manifest; names the model."""


def thread_count() -> int:
    """Cores this process may run on (respects CPU affinity / container limits), or $LUNGLENS_THREADS."""
    override = os.environ.get(THREADS_ENV)
    if override and override.isdigit() and int(override) > 0:
        return int(override)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def requested_providers(device: Device) -> list[str]:
    """Execution providers to ask onnxruntime for, most preferred first."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, not {device!r}")
    cuda_there = CUDA in ort.get_available_providers()
    if device == Device.GPU and not cuda_there:
        raise DeviceUnavailable(
            "--device gpu: this onnxruntime has no CUDA provider; install the GPU runtime with "
            "'bash packaging/use-gpu-runtime.sh' or use --device auto/cpu"
        )
    if device in (Device.AUTO, Device.GPU) and cuda_there:
        return [CUDA, CPU]
    return [CPU]


def _session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


@dataclass(frozen=True, eq=False)
class ModelSession:
    """A loaded model ready to run: its manifest, the onnxruntime session and the device it really uses."""

    manifest: ModelManifest
    path: Path
    session: ort.InferenceSession = field(repr=False)
    provider: str
    batch_size: int
    note: str = ""

    @property
    def device(self) -> str:
        return DEVICE_NAMES.get(self.provider, self.provider)

    def run(self, image: np.ndarray, lung_mask: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """One forward pass; inputs and outputs by role ("image", "lung_mask" -> "logits", "cam")."""
        feeds = {self.manifest.inputs["image"]: np.ascontiguousarray(image, dtype=np.float32)}
        if self.manifest.uses_lung_mask:
            if lung_mask is None:
                raise ValueError(f"model {self.manifest.id} needs a lung mask input")
            feeds[self.manifest.inputs["lung_mask"]] = np.ascontiguousarray(lung_mask, dtype=np.float32)
        roles = list(self.manifest.outputs)
        try:
            values = self.session.run([self.manifest.outputs[r] for r in roles], feeds)
        except Exception as exc:  # onnxruntime raises its own untyped pybind exceptions
            raise ModelError(f"model {self.manifest.id} failed on its input: {exc}") from exc
        return dict(zip(roles, values))


def _check_graph(manifest: ModelManifest, session: ort.InferenceSession) -> int | None:
    """The graph's tensors must be the ones the manifest names; returns a fixed batch size, if any."""
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name for o in session.get_outputs()}
    missing = [f"input {n!r}" for n in manifest.inputs.values() if n not in inputs]
    missing += [f"output {n!r}" for n in manifest.outputs.values() if n not in outputs]
    if missing:
        raise ModelError(f"model {manifest.id}: the ONNX graph has no {', '.join(missing)} named in its manifest")
    shape = inputs[manifest.inputs["image"]].shape
    size = manifest.preprocessing.size
    fixed_sides = [d for d in shape[2:] if isinstance(d, int)]
    if any(d != size for d in fixed_sides):
        raise ModelError(f"model {manifest.id}: graph input {shape} does not match the manifest size {size}")
    return shape[0] if shape and isinstance(shape[0], int) and shape[0] > 0 else None


def load_session(manifest: ModelManifest, path: Path, device: Device = Device.AUTO, threads: int | None = None) -> ModelSession:
    """Open a model file on the requested device; errors name the model and say what went wrong."""
    providers = requested_providers(device)
    try:
        with warnings.catch_warnings():
            # "CUDA is not in available provider names": the fallback is detected and reported below.
            warnings.simplefilter("ignore", UserWarning)
            session = ort.InferenceSession(
                str(path), sess_options=_session_options(threads or thread_count()), providers=providers
            )
    except Exception as exc:  # onnxruntime raises its own untyped pybind exceptions
        raise ModelError(f"model {manifest.id}: onnxruntime cannot load {Path(path).name}: {exc}") from exc
    fixed_batch = _check_graph(manifest, session)
    provider = session.get_providers()[0]
    note = ""
    if providers[0] == CUDA and provider != CUDA:
        if device == Device.GPU:
            raise DeviceUnavailable(
                f"--device gpu: model {manifest.id} fell back to {provider}; no usable GPU (check the "
                "CUDA driver and libraries, see onnxruntime's log)"
            )
        note = "onnxruntime-gpu is installed but no usable GPU was found: running on the CPU"
    batch_size = fixed_batch or DEFAULT_BATCH_SIZE[DEVICE_NAMES.get(provider, Device.CPU)]
    return ModelSession(manifest, Path(path), session, provider, batch_size, note)


class SessionPool:
    """Sessions kept per (model file, sha256, device), so a second study reuses the loaded models."""

    def __init__(self) -> None:
        self._sessions: dict[tuple[str, str, str], ModelSession] = {}
        self._lock = threading.Lock()

    def open(self, model: ModelStatus, device: Device = Device.AUTO) -> ModelSession:
        if not model.usable or model.manifest is None:
            raise ModelError(f"model {model.id} cannot be used: {model.problem}")
        key = (str(model.onnx_path), model.manifest.sha256, device)
        with self._lock:
            if key not in self._sessions:
                self._sessions[key] = load_session(model.manifest, model.onnx_path, device)
            return self._sessions[key]


SESSIONS = SessionPool()


def open_session(model: ModelStatus, device: Device = Device.AUTO) -> ModelSession:
    """The shared, reused session for a registry model."""
    return SESSIONS.open(model, device)
