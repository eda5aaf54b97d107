"""Where LungLens may write what a user asks for (``--out``, ``--screenshot``, ``--report``, a log).

Checked before any work starts, so a long analysis never ends in a traceback because its output
cannot be written: never inside the study's folder (LungLens does not write into a study), a file
where a file is wanted and a folder where a folder is, and the nearest existing folder writable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal


def study_root(path: Path) -> Path:
    """The folder a study was opened from (the file's folder for a single file)."""
    path = Path(path).resolve()
    return path if path.is_dir() else path.parent


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def output_problem(target: Path, study: Path | None, kind: Literal["file", "folder"]) -> str:
    """Why ``target`` cannot receive a ``kind`` of output for the study at ``study``, or ""."""
    target = Path(target).expanduser().resolve()
    if study is not None and target.is_relative_to(study_root(study)):
        return f"{target} is inside the study folder {study_root(study)}; LungLens never writes into a study, choose another place"
    if target.exists():
        if kind == "file" and target.is_dir():
            return f"{target} is a folder; give a file name"
        if kind == "folder" and not target.is_dir():
            return f"{target} exists and is not a folder"
    existing = _nearest_existing(target if kind == "folder" else target.parent)
    if not existing.is_dir():
        return f"{target} cannot be created: {existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{target} cannot be written: {existing} is not writable"
    return ""
