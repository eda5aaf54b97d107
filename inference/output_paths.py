"""Where and how LungLens writes what a user asks for (``--out``, ``--screenshot``, reports, DICOM, a log).

Checked before any work starts, so a long analysis never ends in a traceback because its output
cannot be written: never inside the study's folders (LungLens does not write into a study), a file
where a file is wanted and a folder where a folder is, and the nearest existing folder writable.
Every write goes through a temporary name in the same folder, so an interrupted one leaves no half file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal


def study_root(path: Path) -> Path:
    """The folder a study was opened from (the file's folder for a single file)."""
    path = Path(path).resolve()
    return path if path.is_dir() else path.parent


def study_folders(study: Path | None, files: Iterable[str | Path] = ()) -> list[Path]:
    """Every folder a study lives in: where it was opened from and where each of its files is."""
    folders = [study_root(study)] if study is not None else []
    for folder in sorted({Path(f).resolve().parent for f in files if f}):
        if folder not in folders:
            folders.append(folder)
    return folders


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def output_problem(
    target: Path, study: Path | None, kind: Literal["file", "folder"], files: Iterable[str | Path] = ()
) -> str:
    """Why ``target`` cannot receive a ``kind`` of output for the study opened from ``study`` (made of
    ``files``, which may lie elsewhere), or ""."""
    target = Path(target).expanduser().resolve()
    for folder in study_folders(study, files):
        if target.is_relative_to(folder):
            return f"{target} is inside the study folder {folder}; LungLens never writes into a study, choose another place"
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


def write_atomically(path: Path, write: Callable[[Path], None], mode: int = 0o600) -> None:
    """``write`` fills a temporary file beside ``path``, which is then renamed onto it. ``mode`` is
    the new file's before the umask: 0o600 (results that name a patient stay the user's alone) or
    0o666 (the user's usual permissions, for what they export to share)."""
    tmp = path.with_name(f".tmp-{secrets.token_hex(8)}{''.join(path.suffixes)}")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
