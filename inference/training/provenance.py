"""Where a trained model came from: data, split, code commit, settings; export turns it into the manifest."""

from __future__ import annotations

import subprocess
from pathlib import Path

import torch

from inference.training.splits import Split
from inference.training.train import TrainConfig


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance(config: TrainConfig, split: Split | None, data_terms: str) -> dict:
    """The checkpoint's ``extra`` keys that export turns into the manifest and the model card."""
    return {
        "data_terms": data_terms,
        "git_commit": git_commit(),
        "training": {
            "data": str(Path(config.data).resolve()),
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
            "pretrained": config.pretrained or "none (trained from scratch)",
            "seed": config.seed,
            "torch": str(torch.__version__),
        },
    }
