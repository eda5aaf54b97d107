"""The local study store retrieved studies land in (user data folder), one folder per study.

Each instance is written to a temporary name and renamed, so a retrieve that stops leaves only whole
files; a study is complete only when its marker says how many instances the PACS listed and all of
them are here. A retry fetches only what is missing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

COMPLETE = ".complete.json"


def store_root() -> Path:
    return Path(os.environ.get("LUNGLENS_STORE_DIR") or Path(platformdirs.user_data_dir("lunglens")) / "studies")


@dataclass(frozen=True)
class StoredStudy:
    folder: Path

    def instance_uids(self) -> set[str]:
        return {p.stem for p in self.folder.glob("*/*.dcm")} if self.folder.is_dir() else set()

    def write(self, series_uid: str, sop_uid: str, part10: bytes) -> Path:
        """Keep one instance as it arrived (DICOM file bytes, meta included): nothing is decoded."""
        series = self.folder / series_uid
        series.mkdir(parents=True, exist_ok=True)
        path = series / f"{sop_uid}.dcm"
        tmp = series / f".tmp-{sop_uid}"
        tmp.write_bytes(part10)
        os.replace(tmp, path)
        return path

    def mark_complete(self, expected: set[str]) -> bool:
        """Write the marker when every expected instance is here; True when it was written."""
        if not expected <= self.instance_uids():
            return False
        (self.folder / COMPLETE).write_text(json.dumps({"instances": len(expected)}))
        return True

    @property
    def complete(self) -> bool:
        return (self.folder / COMPLETE).is_file()

    def status(self) -> str:
        have = len(self.instance_uids())
        if self.complete:
            return f"complete ({have} instances)"
        return f"partial ({have} instances so far; retrieve again to resume)" if have else "not retrieved"


def stored_study(study_uid: str, root: Path | None = None) -> StoredStudy:
    return StoredStudy((root or store_root()) / study_uid)
