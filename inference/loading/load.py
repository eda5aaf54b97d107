"""Loading what the scan found: one series, or everything under a path.

``load_series`` dispatches on the source (DICOM CT, DICOM radiograph, PNG/JPEG, NIfTI/MHA/NRRD) and
turns any failure into a LoadError with a reason; ``load_path`` never raises for a broken file or
series, it lists them as skipped, so the rest of a folder still opens.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from inference.jobs import CancelCheck, CountProgress
from inference.loading.control import LoadCancelled, LoadError, check_cancelled, report
from inference.loading.ct_series import load_ct_series, read_ct_slice
from inference.loading.formats import FileKind, sniff
from inference.loading.scan import scan_path
from inference.loading.volume_files import load_volume_file
from inference.loading.xray import load_raster, load_xray_dicom
from inference.safe_text import error_summary
from inference.study import DicomResult, Image, Modality, SeriesHeader, SkippedFile

log = logging.getLogger(__name__)


def images_in(header: SeriesHeader) -> int:
    """How many images (slices or frames) loading ``header`` decodes: the unit of its progress."""
    return max(len(header.files), header.frames, 1)


def _source(header: SeriesHeader) -> FileKind:
    if header.instances:
        return FileKind.DICOM
    if not header.files:
        raise LoadError("the series lists no files")
    try:
        return sniff(header.files[0])
    except OSError as exc:
        raise LoadError(f"cannot read {os.path.basename(header.files[0])}: {exc.strerror or exc}") from exc


def _load(header: SeriesHeader, progress: CountProgress | None, cancel: CancelCheck | None) -> Image:
    source = _source(header)
    if source == FileKind.DICOM:
        if header.modality == Modality.CT:
            return load_ct_series(header, progress, cancel)
        return load_xray_dicom(header)
    if source == FileKind.RASTER:
        return load_raster(header)
    if source == FileKind.VOLUME:
        return load_volume_file(header)
    raise LoadError(f"{os.path.basename(header.files[0])} is not a DICOM, PNG/JPEG or NIfTI/MetaImage/NRRD file")


def load_series(header: SeriesHeader, progress: CountProgress | None = None, cancel: CancelCheck | None = None) -> Image:
    """Decode one series from the scan into a CTVolume or an XRayImage.

    Raises LoadError (reason in the message) or LoadCancelled; never anything else.
    """
    check_cancelled(cancel)
    started = time.perf_counter()
    try:
        image = _load(header, progress, cancel)
    except (LoadError, LoadCancelled):
        raise
    except MemoryError as exc:
        raise LoadError(f"not enough memory for {len(header.files)} file(s) of {header.rows}x{header.columns}") from exc
    except Exception as exc:  # a loader bug must surface as this series' failure, with its cause
        log.debug("unexpected failure loading series %s", header.uid, exc_info=True)
        raise LoadError(f"unexpected error ({error_summary(exc)})") from exc
    report(progress, images_in(header), images_in(header))
    log.info("loaded series %s %s in %.2f s", header.uid, image.shape, time.perf_counter() - started)
    return image


def read_first_image(header: SeriesHeader, index: int | None = None) -> Image:
    """A quick look at a series before it has loaded: one CT slice (the middle one by default) as a
    1-slice CTVolume, or the radiograph itself. Only that image is decoded."""
    if _source(header) == FileKind.DICOM and header.modality == Modality.CT:
        try:
            return read_ct_slice(header, index)
        except LoadError:
            raise
        except Exception as exc:  # same contract as load_series
            raise LoadError(f"unexpected error ({error_summary(exc)})") from exc
    return load_series(header)


def _series_place(header: SeriesHeader) -> str:
    if len(header.files) == 1:
        return header.files[0]
    return os.path.commonpath(header.files) if header.files else header.uid


@dataclass(frozen=True)
class LoadedStudy:
    """Everything under a path: the images, the files skipped (with why) and the SEG/SR results."""

    images: list[Image]
    skipped: list[SkippedFile]
    results: tuple[DicomResult, ...]


def load_path(
    path: str | Path, progress: CountProgress | None = None, cancel: CancelCheck | None = None
) -> tuple[list[Image], list[SkippedFile]]:
    """``load_study`` without the results: the images and the skipped files."""
    study = load_study(path, progress, cancel)
    return study.images, study.skipped


def load_study(path: str | Path, progress: CountProgress | None = None, cancel: CancelCheck | None = None) -> LoadedStudy:
    """Scan ``path`` and load every series; a series that fails is returned as a SkippedFile with its reason.

    ``progress(done, total)`` runs over the header scan and then every image decoded.
    """
    files_seen = [0]

    def scanning(done: int, total: int) -> None:
        files_seen[0] = total
        report(progress, done, 2 * total)

    scan = scan_path(path, scanning, cancel)
    done = files_seen[0]
    total = done + sum(images_in(h) for h in scan.series)
    images, skipped = [], list(scan.skipped)
    for header in scan.series:
        offset = done
        try:
            image = load_series(header, lambda d, _t, offset=offset: report(progress, offset + d, total), cancel)
            images.append(image)
            skipped += getattr(image, "left_out", ())
        except LoadError as exc:
            what = header.description or header.uid
            skipped.append(SkippedFile(_series_place(header), f"series '{what}' could not be loaded: {exc}"))
        done += images_in(header)
        report(progress, done, total)
    return LoadedStudy(images, skipped, scan.results)
