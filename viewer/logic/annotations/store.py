"""The sidecar store: what a reader left on a series (annotations, the window), kept between sessions.
No Qt here.

It lives in the user's data folder (``platformdirs.user_data_dir("LungLens")``, or ``$LUNGLENS_DATA_DIR``),
never in the study folder: a study must stay byte-identical, and it may be read-only, shared or a PACS
cache. One JSON file per series, named by a hash of the series UID and the image shape (so the name
says nothing about the patient), private to the user (folders 0o700, files 0o600) and written through
a temporary file renamed into place. A file that cannot be read is treated as empty; a folder that
cannot be written switches saving off with ``problem`` saying why, never an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from inference.study import Image, Window
from viewer.logic.annotations.model import Annotation

DATA_DIR_ENV = "LUNGLENS_DATA_DIR"
FORMAT_VERSION = 1


def data_dir() -> Path:
    override = os.environ.get(DATA_DIR_ENV)
    return Path(override).expanduser() if override else Path(platformdirs.user_data_dir("LungLens"))


def series_key(image: Image) -> str:
    """Which series a sidecar belongs to: its UID and the shape of what was loaded."""
    uid = image.uid
    return hashlib.sha256(json.dumps([uid, list(image.shape)]).encode()).hexdigest()[:40]


@dataclass(frozen=True)
class SeriesNotes:
    """What is kept for one series: the reader's annotations and the window last used on it."""

    annotations: tuple[Annotation, ...] = ()
    window: Window | None = None
    invert: bool | None = None

    def to_json(self) -> dict:
        window = None if self.window is None else {"width": self.window.width, "level": self.window.level}
        return {"version": FORMAT_VERSION, "annotations": [a.to_json() for a in self.annotations],
                "window": window, "invert": self.invert}

    @classmethod
    def from_json(cls, doc: dict) -> "SeriesNotes":
        window = doc.get("window")
        return cls(tuple(Annotation.from_json(a) for a in doc.get("annotations", ())),
                   Window(float(window["width"]), float(window["level"])) if window else None,
                   doc.get("invert"))


class SidecarStore:
    """``read(key)`` / ``write(key, notes)`` of one JSON file per series under ``root/series``."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else data_dir()
        self.problem: str | None = None

    @property
    def folder(self) -> Path:
        return self.root / "series"

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def read(self, key: str) -> SeriesNotes:
        try:
            return SeriesNotes.from_json(json.loads(self.path(key).read_text(encoding="utf-8")))
        except FileNotFoundError:
            return SeriesNotes()
        except (OSError, ValueError, TypeError, KeyError):  # damaged or from elsewhere: start afresh
            return SeriesNotes()

    def write(self, key: str, notes: SeriesNotes) -> None:
        if self.problem is not None:
            return
        try:
            self._write(self.path(key), json.dumps(notes.to_json()).encode())
        except OSError as exc:
            self.problem = f"annotations are not saved: {self.root} cannot be written ({exc.strerror or type(exc).__name__})"

    def _write(self, path: Path, data: bytes) -> None:
        for folder in (self.root, path.parent):
            if not folder.is_dir():
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chmod(folder, 0o700)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")  # created 0o600
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
