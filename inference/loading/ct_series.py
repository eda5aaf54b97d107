"""A CT series (single-frame files or an Enhanced CT multi-frame file) to one int16 HU volume.

The slices are placed first (geometry.stack_geometry, from headers only), then decoded straight into
their row of a preallocated int16 array by a small thread pool: file reads and the decoders release
the GIL, and nothing is copied twice. One bad slice never costs the series: a slice that cannot be
decoded, or that has no usable position among slices that do, is left out with a reason (listed in
``CTVolume.left_out``) and the gap it leaves is reported like any missing slice. Files that claim one
SOPInstanceUID are one slice: the first copy that decodes to a non-blank image is used.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace

import numpy as np
import pydicom

from inference.jobs import CancelCheck, CountProgress
from inference.loading.control import LoadError, check_cancelled, report
from inference.loading.dicom_header import InstanceHeader, PixelInfo, TagReader, read_instance_header
from inference.loading.geometry import SlicePlacement, StackGeometry, stack_geometry
from inference.loading.limits import check_volume_size
from inference.loading.pixels import decode_stored, modality_lut_into, rescale_into
from inference.safe_text import error_summary
from inference.study import CTVolume, SeriesHeader, SkippedFile, Window

MAX_WORKERS = 4
MAX_LISTED = 3


@dataclass(frozen=True)
class CTSlice:
    """One image of a stack: a single-frame file, or one frame of a multi-frame file."""

    path: str
    frame: int | None
    pixels: PixelInfo
    slope: float
    intercept: float
    has_modality_lut: bool
    placement: SlicePlacement
    sop_uid: str
    # Other files with the same SOPInstanceUID, in folder order: the same slice, or a damaged copy of it.
    copies: tuple[CTSlice, ...] = ()


@dataclass(frozen=True)
class LeftOut:
    """Slices that are not in the volume: why (shown per file in ``skipped``) and the warnings saying so."""

    files: list[SkippedFile]
    warnings: list[str]


def _single_frame(instance: InstanceHeader) -> CTSlice:
    return CTSlice(
        instance.path, None, instance.pixels, instance.rescale_slope, instance.rescale_intercept,
        instance.has_modality_lut, instance.placement, instance.sop_uid,
    )


def _frame_value(reader: TagReader, groups: Sequence, sequence: str, keyword: str, count: int | None):
    """A value from the per-frame functional group if present there, else from the shared one."""
    for group in groups:
        items = reader.raw(sequence, group) if group is not None else None
        if items:
            value = reader.numbers(keyword, count, items[0]) if count else reader.number(keyword, float, items[0])
            if value is not None:
                return value
    return None


def enhanced_frames(instance: InstanceHeader) -> list[CTSlice]:
    """The frames of an Enhanced (or Legacy Converted Enhanced) CT, each with its own geometry and rescale."""
    try:
        ds = pydicom.dcmread(instance.path, stop_before_pixels=True, force=True)
    except Exception as exc:  # the scan read this header once; report what changed
        raise LoadError(f"the multi-frame header could not be read again: {exc}") from exc
    reader = TagReader(ds, instance.placement.label)
    shared = (reader.raw("SharedFunctionalGroupsSequence") or [None])[0]
    per_frame = reader.raw("PerFrameFunctionalGroupsSequence") or []
    top_slope, top_intercept = reader.number("RescaleSlope"), reader.number("RescaleIntercept")
    frames = []
    for index in range(instance.frames):
        groups = (per_frame[index] if index < len(per_frame) else None, shared)
        slope = _frame_value(reader, groups, "PixelValueTransformationSequence", "RescaleSlope", None) or top_slope or 1.0
        intercept = _frame_value(reader, groups, "PixelValueTransformationSequence", "RescaleIntercept", None)
        spacing = _frame_value(reader, groups, "PixelMeasuresSequence", "PixelSpacing", 2)
        placement = SlicePlacement(
            label=f"{instance.placement.label} frame {index + 1}",
            position=_frame_value(reader, groups, "PlanePositionSequence", "ImagePositionPatient", 3),
            orientation=_frame_value(reader, groups, "PlaneOrientationSequence", "ImageOrientationPatient", 6)
            or instance.placement.orientation,
            pixel_spacing=spacing or instance.placement.pixel_spacing,
            instance_number=index + 1,
            slice_thickness=_frame_value(reader, groups, "PixelMeasuresSequence", "SliceThickness", None),
            spacing_between_slices=_frame_value(reader, groups, "PixelMeasuresSequence", "SpacingBetweenSlices", None)
            or reader.number("SpacingBetweenSlices"),
        )
        frames.append(
            CTSlice(
                instance.path, index, instance.pixels, slope,
                intercept if intercept is not None else (top_intercept or 0.0),
                False, placement, instance.sop_uid,
            )
        )
    return frames


def _names(labels: Sequence[str]) -> str:
    shown = ", ".join(labels[:MAX_LISTED])
    return shown + (f" and {len(labels) - MAX_LISTED} more" if len(labels) > MAX_LISTED else "")


def left_out(items: Sequence[tuple[str, str, str]]) -> LeftOut:
    """(path, label, reason) of each slice left out -> one skipped entry per file and one warning per
    reason (a file that lies about holding 2,147,483,647 frames makes one line, not millions)."""
    by_reason: dict[str, list[str]] = {}
    by_file: dict[str, list[str]] = {}
    for path, label, reason in items:
        by_reason.setdefault(reason, []).append(label)
        by_file.setdefault(path, []).append(reason)
    files = [
        SkippedFile(path, reasons[0] if len(reasons) == 1 else f"{len(reasons)} frames left out: {reasons[0]}")
        for path, reasons in by_file.items()
    ]
    return LeftOut(files, [f"{_names(labels)} left out: {reason}" for reason, labels in by_reason.items()])


def series_instances(header: SeriesHeader) -> tuple[tuple[InstanceHeader, ...], LeftOut]:
    """The scan's per-file headers, or a fresh header read when the SeriesHeader was built by hand."""
    if header.instances:
        return tuple(header.instances), LeftOut([], [])
    instances, failed = [], []
    for path in header.files:
        try:
            instances.append(read_instance_header(path))
        except LoadError as exc:
            failed.append((path, os.path.basename(path), str(exc)))
    usable = [i for i in instances if i.pixels is not None and i.unusable is None]
    failed += [(i.path, os.path.basename(i.path), i.unusable or "no pixel data") for i in instances if i not in usable]
    if not usable:
        raise LoadError("none of the series' files holds readable pixel data" + (f" ({failed[0][2]})" if failed else ""))
    return tuple(usable), left_out(failed)


def merge_copies(slices: Sequence[CTSlice]) -> list[CTSlice]:
    """One slice per SOPInstanceUID: later single-frame files with the same UID become its ``copies``."""
    groups: dict[object, list[CTSlice]] = {}
    for index, item in enumerate(slices):
        groups.setdefault(item.sop_uid if item.frame is None and item.sop_uid else index, []).append(item)
    return [replace(group[0], copies=tuple(group[1:])) if len(group) > 1 else group[0] for group in groups.values()]


def ct_slices(instances: Sequence[InstanceHeader]) -> list[CTSlice]:
    slices: list[CTSlice] = []
    for instance in instances:
        slices.extend(enhanced_frames(instance) if instance.frames > 1 else [_single_frame(instance)])
    return merge_copies(slices)


def placeable(slices: Sequence[CTSlice]) -> tuple[list[CTSlice], list[CTSlice]]:
    """(slices to stack, slices left out): where most slices have an ImagePositionPatient, one without a
    usable position (missing, NaN, infinite) cannot be placed among them and is left out, instead of
    sending the whole stack back to InstanceNumber order."""
    placed = [s for s in slices if s.placement.position is not None]
    if len(placed) == len(slices) or 2 * len(placed) <= len(slices):
        return list(slices), []
    return placed, [s for s in slices if s.placement.position is None]


def _decode_into(item: CTSlice, out: np.ndarray) -> int:
    """One file's slice as HU in ``out``; returns clipped voxels. Any failure is a LoadError with a short reason."""
    try:
        stored = decode_stored(item.path, item.pixels, item.frame)
        if stored.shape != out.shape:
            raise LoadError(f"decoded image is {stored.shape}, expected {out.shape}")
        if item.has_modality_lut:
            return modality_lut_into(stored, pydicom.dcmread(item.path, stop_before_pixels=True, force=True), out)
        return rescale_into(stored, item.slope, item.intercept, out)
    except LoadError:
        raise
    except MemoryError as exc:
        raise LoadError("not enough memory to decode the slice") from exc
    except Exception as exc:  # a damaged LUT or header met while converting: this slice's failure only
        raise LoadError(f"the Modality LUT or rescale could not be applied ({error_summary(exc)})") from exc


@dataclass(frozen=True)
class Decoded:
    """What filled a slice's row: the file used, clipped voxels, and copies set aside with why."""

    used: CTSlice
    clipped: int = 0
    unused: tuple[tuple[str, str, str], ...] = ()


def _copy_reason(candidate: CTSlice, used: CTSlice, failure: str | None, pixels: np.ndarray | None, chosen: np.ndarray) -> str:
    name = os.path.basename(used.path)
    if failure is not None:
        return f"same SOPInstanceUID as {name}, which was used: this copy could not be decoded ({failure})"
    if np.array_equal(pixels, chosen):
        return f"another copy of {name} (same SOPInstanceUID)"
    return f"same SOPInstanceUID as {name} but different pixels: {name} was used" + (
        ", this copy is blank" if np.ptp(pixels) == 0 else ""
    )


def decode_slice_into(item: CTSlice, out: np.ndarray) -> Decoded:
    """Decode a slice to HU in ``out`` (int16, rows x columns). With copies, the first (in folder order)
    that decodes to a non-blank image is used, else the first that decodes; LoadError if none does."""
    if not item.copies:
        return Decoded(item, _decode_into(item, out))
    tried: list[tuple[CTSlice, str | None, np.ndarray | None, int]] = []
    for candidate in (item, *item.copies):
        slot = np.empty_like(out)
        try:
            tried.append((candidate, None, slot, _decode_into(candidate, slot)))
        except LoadError as exc:
            tried.append((candidate, str(exc), None, 0))
    decoded = [t for t in tried if t[1] is None]
    if not decoded:
        raise LoadError(tried[0][1])
    used, _, chosen, clipped = next((t for t in decoded if np.ptp(t[2]) > 0), decoded[0])
    np.copyto(out, chosen)
    unused = tuple(
        (c.path, c.placement.label, _copy_reason(c, used, failure, pixels, chosen))
        for c, failure, pixels, _ in tried if c is not used
    )
    return Decoded(used, clipped, unused)


def _decode_all(
    ordered: Sequence[CTSlice], hu: np.ndarray, progress: CountProgress | None, cancel: CancelCheck | None
) -> tuple[dict[int, str], dict[int, Decoded]]:
    """Fill ``hu`` slice by slice in a thread pool; returns {slice index: failure reason} and what filled each row."""
    failures: dict[int, str] = {}
    decoded: dict[int, Decoded] = {}
    workers = max(1, min(MAX_WORKERS, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lunglens-decode") as pool:
        futures = {pool.submit(decode_slice_into, item, hu[k]): k for k, item in enumerate(ordered)}
        try:
            for done, future in enumerate(as_completed(futures), start=1):
                check_cancelled(cancel)
                try:
                    decoded[futures[future]] = future.result()
                except LoadError as exc:
                    failures[futures[future]] = str(exc)
                report(progress, done, len(ordered))
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return failures, decoded


def _check_sizes(slices: Sequence[CTSlice]) -> tuple[int, int]:
    sizes = {(s.pixels.rows, s.pixels.columns) for s in slices}
    if len(sizes) > 1:
        raise LoadError(f"slices of one stack differ in size ({', '.join(f'{r}x{c}' for r, c in sorted(sizes))})")
    return sizes.pop()


def _unplaced(slices: Sequence[CTSlice]) -> list[tuple[str, str, str]]:
    reason = "ImagePositionPatient is missing or not finite, so the slice cannot be placed among the others"
    return [(s.path, s.placement.label, reason) for s in slices]


def load_ct_series(header: SeriesHeader, progress: CountProgress | None = None, cancel: CancelCheck | None = None) -> CTVolume:
    """Decode a CT series found by the scan into an int16 HU volume with its geometry and warnings."""
    instances, unread = series_instances(header)
    slices, unplaced = placeable(ct_slices(instances))
    rows, columns = _check_sizes(slices)
    check_volume_size(len(slices), rows, columns)
    geometry = stack_geometry([s.placement for s in slices])
    ordered = [slices[i] for i in geometry.order]
    hu = np.empty((len(ordered), rows, columns), dtype=np.int16)
    failures, decoded = _decode_all(ordered, hu, progress, cancel)
    if len(failures) == len(ordered):
        raise LoadError(f"no slice could be decoded: {next(iter(failures.values()))}")
    dropped = _unplaced(unplaced) + [(ordered[k].path, ordered[k].placement.label, r) for k, r in sorted(failures.items())]
    dropped += [entry for k in sorted(decoded) for entry in decoded[k].unused]
    kept = [k for k in range(len(ordered)) if k not in failures]
    if failures:
        hu = hu[kept]
    ordered = [decoded[k].used for k in kept]
    if failures:
        geometry = stack_geometry([s.placement for s in ordered])
    warnings = [*header.warnings, *unread.warnings]
    clipped = sum(d.clipped for d in decoded.values())
    if clipped:
        warnings.append(f"{clipped} voxel(s) lay outside the int16 HU range and were clipped.")
    dropped_files = left_out(dropped)
    return _volume(header, hu, geometry, ordered, [*warnings, *dropped_files.warnings, *geometry.warnings],
                   [*unread.files, *dropped_files.files])


def header_window(path: str) -> Window | None:
    """The window a slice's header asks for (the first WindowCenter/WindowWidth pair); None without a usable one."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True, specific_tags=["WindowCenter", "WindowWidth"])
    except Exception:  # read once already by the scan: changed or vanished since; the window is only a default
        return None
    reader = TagReader(ds, os.path.basename(path))
    center, width = reader.number("WindowCenter"), reader.number("WindowWidth")
    return Window(float(width), float(center)) if center is not None and width is not None and width > 0 else None


def _volume(
    header: SeriesHeader, hu: np.ndarray, geometry: StackGeometry, ordered: Sequence[CTSlice], warnings: list[str],
    dropped: Sequence[SkippedFile] = (),
) -> CTVolume:
    return CTVolume(
        hu=hu,
        spacing=geometry.spacing,
        origin=geometry.origin,
        direction=geometry.direction,
        slice_positions=geometry.positions,
        uid=header.uid,
        description=header.description,
        info=header.info,
        sop_uids=tuple(s.sop_uid for s in ordered),
        instance_numbers=tuple(s.placement.instance_number for s in ordered),
        source_files=tuple(dict.fromkeys(s.path for s in ordered)),
        slice_thickness_mm=geometry.slice_thickness,
        warnings=tuple(dict.fromkeys(warnings)),
        header_window=header_window(ordered[len(ordered) // 2].path),
        acquisition=header.acquisition,
        left_out=tuple(dropped),
    )


def read_ct_slice(header: SeriesHeader, index: int | None = None) -> CTVolume:
    """One slice as a 1-slice CTVolume (the middle one by default, where a viewer opens a series).

    Only that slice is decoded: placing it needs the headers the scan already read, so a viewer can
    draw it while the rest of the series loads.
    """
    instances, unread = series_instances(header)
    slices, _ = placeable(ct_slices(instances))
    geometry = stack_geometry([s.placement for s in slices])
    position = len(slices) // 2 if index is None else index
    item = slices[geometry.order[position]]
    hu = np.empty((1, item.pixels.rows, item.pixels.columns), dtype=np.int16)
    used = decode_slice_into(item, hu[0]).used
    here = geometry.positions[position : position + 1]
    single = replace(geometry, order=(0,), positions=here, origin=tuple(float(v) for v in here[0]))
    return _volume(header, hu, single, [used], [*header.warnings, *unread.warnings, *geometry.warnings])
