"""Training checkpoints: plain types + tensors only, so they load with ``torch.load(weights_only=True)``.

A checkpoint is everything needed to rebuild, resume and export a model:
{"format", "method", "model_config", "classes", "modality", "input_spec", "state_dict", "epoch",
"optimizer", "scheduler", "extra"}. ``extra`` is training's provenance and results; export reads
these keys when present:

- "temperature": float, calibration fitted on validation
- "threshold": dict of ``inference.manifest.Threshold`` fields (value, positive_class, chosen_on, rule)
- "metrics": dict, held-out metrics (as computed by ``inference.metrics``)
- "training": dict, provenance: data folder, split rule, split file, seeds, epochs, pretrained...
- "git_commit": str, the code commit that trained the model
- "data_terms": str, the training data's terms when not the default for the modality
- "version": str, the model version for the manifest

Anything else in ``extra`` is kept in the manifest's training provenance as-is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from inference.preprocessing import InputSpec
from inference.training.networks import build_network

CHECKPOINT_FORMAT = "lunglens-checkpoint/1"
_REQUIRED = ("method", "model_config", "classes", "modality", "input_spec", "state_dict", "epoch")
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DistributedDataParallel, torch.compile


class CheckpointError(ValueError):
    """A checkpoint file that is missing, unreadable, foreign or does not fit its network."""


def plain(value: Any, where: str = "checkpoint") -> Any:
    """``value`` as types the weights-only unpickler accepts (Path -> str, numpy -> Python), or TypeError."""
    if value is None or isinstance(value, (str, bool, int, float, torch.Tensor)):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, Mapping):
        return {plain(key, where): plain(item, f"{where}[{key!r}]") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(item, f"{where}[{index}]") for index, item in enumerate(value))
    raise TypeError(f"{where} holds a {type(value).__name__}, which a weights-only checkpoint cannot store")


def unwrapped_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys without the DDP ``module.`` / torch.compile ``_orig_mod.`` prefixes."""
    cleaned = {}
    for key, tensor in state_dict.items():
        while key.startswith(_WRAPPER_PREFIXES):
            key = key.split(".", 1)[1]
        cleaned[key] = tensor
    return cleaned


def save_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    method: str,
    model_config: Mapping[str, Any],
    classes: tuple[str, ...] | list[str],
    modality: str,
    input_spec: InputSpec,
    epoch: int,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write atomically (temporary file + rename), so a crash mid-write never leaves a half checkpoint."""
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "method": method,
        "model_config": plain(dict(model_config), "model_config"),
        "classes": [str(name) for name in classes],
        "modality": modality,
        "input_spec": plain(input_spec.to_json(), "input_spec"),
        "state_dict": {key: tensor.detach().cpu() for key, tensor in unwrapped_state_dict(model.state_dict()).items()},
        "epoch": int(epoch),
        "optimizer": None if optimizer is None else plain(optimizer.state_dict(), "optimizer"),
        "scheduler": None if scheduler is None else plain(scheduler.state_dict(), "scheduler"),
        "extra": plain(dict(extra or {}), "extra"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    torch.save(payload, temporary)
    os.replace(temporary, path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a LungLens checkpoint with ``weights_only=True``; CheckpointError says what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a file from anywhere: any failure to unpickle means it is not ours or is damaged
        raise CheckpointError(
            f"{path.name} is not a readable weights-only checkpoint ({type(exc).__name__}: {str(exc)[:200]})"
        ) from exc
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(
            f"{path.name} is not a LungLens checkpoint (expected format {CHECKPOINT_FORMAT}, found {found!r})"
        )
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise CheckpointError(f"{path.name} lacks {', '.join(missing)}")
    return data


def checkpoint_input_spec(checkpoint: Mapping[str, Any]) -> InputSpec:
    return InputSpec.from_json(checkpoint["input_spec"])


def build_from_checkpoint(checkpoint: Mapping[str, Any] | str | Path) -> nn.Module:
    """The checkpoint's network with its weights, in eval mode (ImageNet weights are not reloaded)."""
    if not isinstance(checkpoint, Mapping):
        checkpoint = load_checkpoint(checkpoint)
    config = dict(checkpoint["model_config"])
    if "pretrained" in config:
        config["pretrained"] = None
    try:
        model = build_network(checkpoint["method"], **config)
        model.load_state_dict(unwrapped_state_dict(checkpoint["state_dict"]))
    except (ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointError(
            f"the checkpoint's weights do not fit a {checkpoint['method']} network: {str(exc)[:300]}"
        ) from exc
    return model.eval()
