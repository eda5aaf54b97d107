"""A synthetic archive of many chest studies, for the batch tests and the batch benchmark.

Each study is a phantom (``inference.phantoms``) of its own patient: CT series with or without
lesions, radiographs as DICOM and as PNG with varying exposure, so models rank them differently;
with ``broken`` some cannot give an opinion in the ways real archives fail: a PNG cut short by an
interrupted copy (its header reads, its pixels do not), a blank radiograph, and files that are no
image at all (a DICOM of garbage, a text file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

from inference.phantoms import make_ct_phantom, make_xray_phantom, write_ct_series, write_xray_dicom, write_xray_png


@dataclass(frozen=True)
class PhantomArchive:
    root: Path
    studies: int  # series a scan finds (broken ones included)
    broken: int  # of those, the ones that cannot give an opinion
    not_studies: int  # files that are no study at all


def _set_patient(files: list[Path], number: int) -> None:
    for path in files:
        ds = pydicom.dcmread(path)
        ds.PatientID = f"PHANTOM-{number:04d}"
        ds.PatientName = f"Phantom^{number:04d}"
        ds.StudyDate = f"2026{1 + number % 12:02d}{1 + number % 28:02d}"
        ds.save_as(path)


def write_phantom_archive(
    root: str | Path,
    studies: int = 30,
    *,
    ct_share: float = 0.3,
    ct_shape: tuple[int, int, int] = (12, 48, 48),
    xray_shape: tuple[int, int] = (128, 128),
    broken: bool = True,
) -> PhantomArchive:
    """``studies`` series under ``root`` (about ``ct_share`` of them CT), two of them broken, and two non-images."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    spacing = (6.0, 340.0 / ct_shape[1], 340.0 / ct_shape[2])
    good = studies - 2 if broken else studies
    every = max(1, round(1 / ct_share)) if ct_share > 0 else 0
    for n in range(good):
        if every and n % every == 0:
            hu, _ = make_ct_phantom(ct_shape, spacing, lesions=bool(n % 2), seed=n)
            files = write_ct_series(root / f"ct-{n:04d}", hu, spacing, seed=n)
            _set_patient(files, n)
            continue
        image, _ = make_xray_phantom(xray_shape, seed=n)
        image = np.clip(image * (0.7 + 0.6 * ((n * 7919) % 97) / 96), 0.0, 1.0)
        if n % 2:
            write_xray_png(root / f"xr-{n:04d}.png", image)
        else:
            _set_patient([write_xray_dicom(root / f"xr-{n:04d}.dcm", image)], n)
    if broken:
        image, _ = make_xray_phantom(xray_shape, seed=studies)
        cut = write_xray_png(root / "broken-cut.png", image)
        cut.write_bytes(cut.read_bytes()[:200])
        write_xray_png(root / "broken-blank.png", np.zeros(xray_shape, np.float32))
        (root / "broken-garbage.dcm").write_bytes(b"DICM" * 64)
    (root / "notes.txt").write_text("not an image\n")
    return PhantomArchive(root, studies, 2 if broken else 0, 2 if broken else 1)
