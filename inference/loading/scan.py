"""The fast header-only scan: what a path holds, as series, before any pixel is decoded.

DICOM files are grouped by SeriesInstanceUID, then split where one UID mixes stacks that cannot be
one volume: other orientations (a localizer filed with the axials), other image sizes, or repeated
acquisitions over the same positions. Each part gets the UID plus ``#n`` and a warning saying why.
Radiographs become one series per image. Everything else is listed as skipped with a reason, and no
file, however broken, raises out of the scan. Only regular files are opened (a named pipe would block
the scan forever); folders that cannot be listed and paths the system cannot open are listed too.
Copies of one CT slice (same SOPInstanceUID) all join the series; loading keeps the one that decodes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from pydicom.uid import (
    UID,
    Comprehensive3DSRStorage,
    ComprehensiveSRStorage,
    CTImageStorage,
    EnhancedCTImageStorage,
    EnhancedSRStorage,
    ExtensibleSRStorage,
    LegacyConvertedEnhancedCTImageStorage,
    MediaStorageDirectoryStorage,
    SegmentationStorage,
)

from inference.jobs import CancelCheck, CountProgress
from inference.loading.control import LoadError, check_cancelled, report
from inference.loading.dicom_header import InstanceHeader, read_instance_header, read_series_details
from inference.loading.formats import FileKind, companion_files, sniff
from inference.loading.geometry import plane_name, same_plane, slice_normal
from inference.loading.limits import MAX_FILES
from inference.loading.volume_files import volume_header
from inference.loading.xray import raster_header
from inference.safe_text import error_summary
from inference.study import DicomResult, Modality, ResultKind, ScanResult, SeriesHeader, SkippedFile

log = logging.getLogger(__name__)

CT_SOP_CLASSES = {CTImageStorage, EnhancedCTImageStorage, LegacyConvertedEnhancedCTImageStorage}
# Results shown on the image they refer to (inference.dicom_in), not listed as skipped: SEG and the
# SR classes a measurement report can be written in.
RESULT_SOP_CLASSES = {
    SegmentationStorage: ResultKind.SEGMENTATION,
    **dict.fromkeys((EnhancedSRStorage, ComprehensiveSRStorage, Comprehensive3DSRStorage, ExtensibleSRStorage), ResultKind.REPORT),
}
# Modalities that are images but not chest CT or projection radiography: listed, not guessed at.
UNSUPPORTED_MODALITIES = {
    "MR", "PT", "NM", "US", "IVUS", "OCT", "OPT", "OP", "SM", "XC", "ES", "GM", "RTDOSE", "RTIMAGE",
    "SEG", "REG", "RTSTRUCT", "RTPLAN", "RWV", "ECG", "HD", "PR", "KO", "SR", "DOC",
}
MAX_LISTED_ISSUES = 5


def _not_regular(path: Path) -> str | None:
    """Why ``path`` is not opened: not a regular file (pipe, socket, device), or not reachable at all."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return f"cannot read the file: {exc.strerror or type(exc).__name__}"
    return None if stat.S_ISREG(mode) else "not a regular file (a named pipe, socket or device): not opened"


def _list_files(root: Path, skipped: list[SkippedFile]) -> list[Path]:
    """Regular files under ``root`` in name order, at most MAX_FILES; everything else goes to ``skipped``."""
    if not root.is_dir():
        problem = _not_regular(root)
        if problem:
            skipped.append(SkippedFile(str(root), problem))
        return [] if problem else [root]

    def unreadable(error: OSError) -> None:
        skipped.append(SkippedFile(error.filename or str(root), f"cannot read the folder: {error.strerror or type(error).__name__}"))

    found: list[Path] = []
    for folder, subfolders, names in os.walk(root, onerror=unreadable):
        subfolders.sort()
        for name in sorted(names):
            path = Path(folder) / name
            problem = _not_regular(path)
            if problem:
                skipped.append(SkippedFile(str(path), problem))
            elif len(found) == MAX_FILES:
                skipped.append(SkippedFile(str(root), f"more than {MAX_FILES} files: only the first {MAX_FILES} (in name order) were read"))
                return found
            else:
                found.append(path)
    return found


def file_uid(paths: Iterable[str | Path]) -> str:
    """A content hash standing in for a SeriesInstanceUID (PNG, NIfTI...): moving the file keeps it."""
    digest = hashlib.blake2b(digest_size=16)
    for path in paths:
        with open(path, "rb") as fp:
            for block in iter(lambda: fp.read(1 << 20), b""):
                digest.update(block)
    return f"file-{digest.hexdigest()}"


def _clinical_modality(instance: InstanceHeader) -> str | None:
    """CT or XR for what LungLens reads; None for images of other modalities.

    Only CT Image Storage classes (or a CT file with no SOP Class at all) become HU volumes. A CT
    localizer is a projection radiograph, and a CT-modality secondary capture (dose report, screen
    shot) is a 2D picture, not HU: both are shown as 2D images.
    """
    modality = instance.modality or ("CT" if instance.sop_class in CT_SOP_CLASSES else "")
    if modality == "CT":
        stack = instance.sop_class in CT_SOP_CLASSES or not instance.sop_class
        return Modality.CT if stack and "LOCALIZER" not in instance.image_type else Modality.XRAY
    if modality in UNSUPPORTED_MODALITIES:
        return None
    return Modality.XRAY


def _skip_reason(instance: InstanceHeader) -> str | None:
    """Why a DICOM file will not become (part of) a series, or None if it will."""
    if instance.sop_class == MediaStorageDirectoryStorage:
        return "DICOMDIR: an index of the files in the folder, not an image (the images are read directly)"
    if not instance.is_image:
        kind = UID(instance.sop_class).name if instance.sop_class else "unknown object"
        return f"not an image: {kind}" + (f" (Modality {instance.modality})" if instance.modality else "")
    if instance.unusable:
        return instance.unusable
    modality = _clinical_modality(instance)
    if modality is None:
        return f"{instance.modality} images are not supported: LungLens reads chest CT and radiographs"
    if modality == Modality.XRAY and instance.frames > 1:
        return f"multi-frame {instance.modality or 'X-ray'} ({instance.frames} frames, e.g. cine) is not supported"
    if modality == Modality.CT and instance.pixels.samples_per_pixel != 1:
        return "colour CT images (screen captures) are not supported"
    return None


def _cluster(items: Sequence[InstanceHeader], same) -> list[list[InstanceHeader]]:
    """Greedy grouping: each item joins the first group whose first member is ``same`` as it."""
    groups: list[list[InstanceHeader]] = []
    for item in items:
        for group in groups:
            if same(group[0], item):
                group.append(item)
                break
        else:
            groups.append([item])
    return groups


def _same_orientation(a: InstanceHeader, b: InstanceHeader) -> bool:
    oa, ob = a.placement.orientation, b.placement.orientation
    if oa is None or ob is None:
        return oa is None and ob is None
    return same_plane(oa, ob)


def _acquisitions_overlap(stack: Sequence[InstanceHeader]) -> bool:
    """True when different AcquisitionNumbers repeat the same slice positions (two passes, one UID).

    Sequential scanners number each rotation as its own acquisition without overlap: those stay one stack.
    """
    numbers = {i.acquisition_number for i in stack}
    if len(numbers) < 2 or any(i.placement.position is None or i.placement.orientation is None for i in stack):
        return False
    normal = slice_normal(stack[0].placement.orientation)
    seen: dict[float, int | None] = {}
    for item in stack:
        where = round(float(np.dot(item.placement.position, normal)), 2)
        if where in seen and seen[where] != item.acquisition_number:
            return True
        seen[where] = item.acquisition_number
    return False


def _stack_label(stack: Sequence[InstanceHeader]) -> str:
    first = stack[0]
    plane = plane_name(first.placement.orientation) if first.placement.orientation else "unknown orientation"
    size = f"{first.pixels.rows}x{first.pixels.columns}"
    acquisition = f", acquisition {first.acquisition_number}" if first.acquisition_number is not None else ""
    return f"{plane} {size}{acquisition}, {len(stack)} file(s)"


def split_stacks(instances: Sequence[InstanceHeader]) -> tuple[list[list[InstanceHeader]], list[str]]:
    """Single-frame CT files of one UID -> stacks that can each be one volume, and what differed."""
    stacks, differences = [], []
    by_size = _cluster(instances, lambda a, b: (a.pixels.rows, a.pixels.columns) == (b.pixels.rows, b.pixels.columns))
    if len(by_size) > 1:
        differences.append("image size")
    for sized in by_size:
        by_plane = _cluster(sized, _same_orientation)
        if len(by_plane) > 1 and "orientation" not in differences:
            differences.append("orientation")
        for planar in by_plane:
            if _acquisitions_overlap(planar):
                if "acquisition" not in differences:
                    differences.append("acquisition")
                stacks.extend(_cluster(planar, lambda a, b: a.acquisition_number == b.acquisition_number))
            else:
                stacks.append(planar)
    return stacks, differences


def _summarise(issues: Sequence[str]) -> list[str]:
    unique = list(dict.fromkeys(issues))
    if len(unique) <= MAX_LISTED_ISSUES:
        return unique
    return unique[:MAX_LISTED_ISSUES] + [f"... and {len(unique) - MAX_LISTED_ISSUES} more header problems."]


def _series_from_uid(
    uid: str, members: Sequence[InstanceHeader], notes: Sequence[str]
) -> list[SeriesHeader]:
    """The series headers for all usable files sharing one SeriesInstanceUID."""
    volume_files = [m for m in members if _clinical_modality(m) == Modality.CT]
    single = [m for m in volume_files if m.frames == 1]
    parts: list[tuple[str, list[InstanceHeader], list[str]]] = []
    if single:
        stacks, differences = split_stacks(single)
        for stack in stacks:
            why = (
                [f"SeriesInstanceUID {uid} mixes stacks that differ in {' and '.join(differences)}: "
                 f"shown as {len(stacks)} separate series; this one is {_stack_label(stack)}."]
                if len(stacks) > 1 else []
            )
            parts.append((Modality.CT, stack, why))
    parts += [(Modality.CT, [m], []) for m in volume_files if m.frames > 1]
    parts += [(Modality.XRAY, [m], []) for m in members if m not in volume_files]

    headers = []
    for index, (modality, files, why) in enumerate(parts, start=1):
        details = read_series_details(files[0].path)
        guessed = [
            f"Modality is missing: treated as CT from its SOP Class ({UID(files[0].sop_class).name})."
        ] if not files[0].modality and modality == Modality.CT else []
        issues = [issue for f in files for issue in f.issues]
        headers.append(
            SeriesHeader(
                uid=uid if len(parts) == 1 else f"{uid}#{index}",
                modality=modality,
                description=details.description,
                files=tuple(f.path for f in files),
                rows=files[0].pixels.rows,
                columns=files[0].pixels.columns,
                frames=files[0].frames if len(files) == 1 else 1,
                info=details.info,
                warnings=tuple([*why, *guessed, *notes, *_summarise(issues)]),
                instances=tuple(files),
                acquisition=details.acquisition,
            )
        )
    return headers


def _group_dicom(instances: Sequence[InstanceHeader], skipped: list[SkippedFile]) -> list[SeriesHeader]:
    by_uid: dict[str, list[InstanceHeader]] = {}
    notes: dict[str, list[str]] = {}
    for instance in instances:
        uid = instance.series_uid or f"no-series-uid:{os.path.dirname(instance.path)}"
        reason = _skip_reason(instance)
        if reason is not None:
            skipped.append(SkippedFile(instance.path, reason))
            if instance.is_image and _clinical_modality(instance):
                notes.setdefault(uid, []).append(f"{os.path.basename(instance.path)} left out: {reason}")
            continue
        by_uid.setdefault(uid, []).append(instance)
    series = []
    for uid, members in by_uid.items():
        missing = uid.startswith("no-series-uid:")
        note = [f"SeriesInstanceUID is missing: the files of {os.path.dirname(members[0].path)} are grouped as one series."]
        try:
            series += _series_from_uid(
                file_uid([members[0].path]) if missing else uid, members, [*(note if missing else []), *notes.get(uid, [])]
            )
        except Exception as exc:  # a grouping bug must cost this series, not the scan
            log.debug("unexpected failure grouping series %s", uid, exc_info=True)
            reason = f"unexpected error while grouping its series ({error_summary(exc)})"
            skipped += [SkippedFile(m.path, reason) for m in members]
    return series


def _examine(path: Path, kind: FileKind, instances: list[InstanceHeader]) -> SeriesHeader | SkippedFile | None:
    """Read one file's header: a DICOM instance is collected, other images become a series directly."""
    name = str(path)
    try:
        if kind == FileKind.DICOM:
            instances.append(read_instance_header(name))
            return None
        if kind == FileKind.RASTER:
            return raster_header(name, file_uid([name]))
        if kind == FileKind.VOLUME:
            return volume_header(name, file_uid([name, *[p for p in companion_files(name) if p.is_file()]]))
    except LoadError as exc:
        return SkippedFile(name, str(exc))
    return SkippedFile(name, "not a DICOM, PNG/JPEG or NIfTI/MetaImage/NRRD file")


def scan_path(path: str | Path, progress: CountProgress | None = None, cancel: CancelCheck | None = None) -> ScanResult:
    """Find every series under ``path`` (a file or a folder, searched recursively) from headers only.

    ``progress(done, total)`` is called per file and the cancel check looked at before each; cancelling
    raises LoadCancelled. Nothing is written anywhere, and no broken file raises: it is skipped.
    """
    root = Path(path)
    if not root.exists():
        return ScanResult(root=root, series=(), skipped=(SkippedFile(str(root), "no such file or folder"),))
    series: list[SeriesHeader] = []
    skipped: list[SkippedFile] = []
    files = _list_files(root, skipped)
    kinds: dict[Path, FileKind | str] = {}
    for file in files:
        check_cancelled(cancel)
        try:
            kinds[file] = sniff(file)
        except OSError as exc:
            kinds[file] = f"cannot read the file: {exc.strerror or exc}"
    companions = {c.resolve() for f, k in kinds.items() if k == FileKind.VOLUME for c in companion_files(f)}
    instances: list[InstanceHeader] = []
    for index, file in enumerate(files, start=1):
        check_cancelled(cancel)
        kind = kinds[file]
        if not isinstance(kind, FileKind):
            skipped.append(SkippedFile(str(file), kind))
        elif kind == FileKind.UNKNOWN and file.resolve() in companions:
            pass
        else:
            try:
                found = _examine(file, kind, instances)
            except Exception as exc:  # a loader bug must cost one file, not the folder
                log.debug("unexpected failure reading %s", file, exc_info=True)
                found = SkippedFile(str(file), f"unexpected error while reading the header ({error_summary(exc)})")
            if isinstance(found, SeriesHeader):
                series.append(found)
            elif found is not None:
                skipped.append(found)
        report(progress, index, len(files))
    results = [DicomResult(i.path, RESULT_SOP_CLASSES[i.sop_class], i.series_uid)
               for i in instances if i.sop_class in RESULT_SOP_CLASSES]
    instances = [i for i in instances if i.sop_class not in RESULT_SOP_CLASSES]
    series = _group_dicom(instances, skipped) + series
    log.info("scanned %d file(s): %d series, %d skipped", len(files), len(series), len(skipped))
    return ScanResult(root=root, series=tuple(series), skipped=tuple(skipped), results=tuple(results))
