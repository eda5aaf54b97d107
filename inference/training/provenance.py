"""Where a trained model came from: data, split, code commit, settings; export turns it into the manifest."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import torch

from inference.training.splits import Split
from inference.training.train import TrainConfig


# An absolute path inside any text: "/" or "C:\\" and at least two components (not a URL's "//", not a
# relative "train/val"); a sentence's closing full stop is not part of it.
_NAME = r"[^\s/\\,;:'\"()\[\]]"
_ABSOLUTE_PATH = re.compile(rf"(?<![\w.~:/-])(?:[A-Za-z]:[\\/]|/)(?:{_NAME}+[\\/])+{_NAME}*[^\s/\\,;:'\"()\[\].]")


def _short_name(match: re.Match) -> str:
    """A data set's or run's name for its path: the last folder, or a file with its folder (``xr-baseline/best.pt``)."""
    parts = [p for p in re.split(r"[\\/]", match.group(0)) if p and not p.endswith(":")]
    return "/".join(parts[-2:]) if "." in parts[-1] and len(parts) > 1 else parts[-1]


def without_local_paths(value: Any) -> Any:
    """``value`` (JSON-like, or text) with every absolute path cut to the names that identify it.

    A manifest and its card travel with the model: they name data sets and runs, never the folders of
    the machine that trained it (a user reads them in the card)."""
    if isinstance(value, str):
        return _ABSOLUTE_PATH.sub(_short_name, value)
    if isinstance(value, dict):
        return {key: without_local_paths(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_local_paths(item) for item in value]
    return value


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def describe_pretrained(pretrained) -> str:
    """What a backbone started from, in words for the model card (every file of a multi-backbone net)."""
    if not pretrained:
        return "none (trained from scratch)"
    if isinstance(pretrained, dict):
        return "; ".join(f"{name}: {describe_pretrained(path)}" for name, path in pretrained.items())
    try:
        saved = torch.load(pretrained, map_location="cpu", weights_only=True)
    except Exception:
        return str(pretrained)
    if isinstance(saved, dict) and str(saved.get("format", "")).startswith("lunglens-checkpoint"):
        training = saved.get("extra", {}).get("training", {})
        return (
            f"backbone of a LungLens {saved['method']} {saved['modality']} model ({Path(pretrained).name}, epoch "
            f"{saved['epoch']}) trained on {training.get('data', 'unrecorded data')}, its training split only"
        )
    return f"local file {Path(pretrained).name}"


def provenance(config: TrainConfig, split: Split | None, data_terms: str) -> dict:
    """The checkpoint's ``extra`` keys that export turns into the manifest and the model card."""
    return {
        "data_terms": data_terms,
        "git_commit": git_commit(),
        "training": {
            # folder names, never this machine's paths: the manifest and card travel with the model
            "data": ", ".join(Path(root).name for root in config.data_roots),
            "holdout_source": config.holdout,
            "sources": split.sources() if split else [],
            "split_rule": split.rule if split else "",
            "split_counts": split.summary() if split else {},
            "split_file": "split.json",
            "epochs_max": config.epochs,
            "batch_size": config.batch_size,
            "learning_rate": config.lr,
            "schedule": config.schedule,
            "precision": "bf16 autocast" if config.bf16 else "fp32",
            "image_size": config.image_size,
            "augmentation": config.augment,
            "pretrained": describe_pretrained(config.model_config.get("pretrained", config.pretrained)),
            "seed": config.seed,
            "torch": str(torch.__version__),
        },
    }
