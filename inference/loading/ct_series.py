"""A CT series (single-frame files or an Enhanced CT multi-frame file) to one int16 HU volume.

The slices are placed first (geometry.stack_geometry, from headers only), then decoded straight into
their row of a preallocated int16 array by a small thread pool: file reads and the decoders release
the GIL, and nothing is copied twice. A slice that cannot be decoded is left out with a warning
instead of failing the whole series; the gap it leaves is reported like any missing slice.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace

import numpy as np
import pydicom

from inference.loading.control import Cancel, LoadError, Progress, check_cancelled, report
from inference.loading.dicom_header import InstanceHeader, PixelInfo, TagReader, read_instance_header
from inference.loading.geometry import SlicePlacement, StackGeometry, stack_geometry
from inference.loading.pixels import decode_stored, modality_lut_into, rescale_into
from inference.study import CTVolume, SeriesHeader

MAX_WORKERS = 4


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


def series_instances(header: SeriesHeader) -> tuple[tuple[InstanceHeader, ...], list[str]]:
    """The scan's per-file headers, or a fresh header read when the SeriesHeader was built by hand."""
    if header.instances:
        return tuple(header.instances), []
    instances, warnings = [], []
    for path in header.files:
        try:
            instances.append(read_instance_header(path))
        except LoadError as exc:
            warnings.append(f"{os.path.basename(path)} left out: {exc}")
    usable = [i for i in instances if i.pixels is not None and i.unusable is None]
    warnings += [f"{os.path.basename(i.path)} left out: {i.unusable or 'no pixel data'}" for i in instances if i not in usable]
    if not usable:
        raise LoadError("none of the series' files holds readable pixel data" + (f" ({warnings[0]})" if warnings else ""))
    return tuple(usable), warnings


def ct_slices(instances: Sequence[InstanceHeader]) -> list[CTSlice]:
    slices: list[CTSlice] = []
    for instance in instances:
        slices.extend(enhanced_frames(instance) if instance.frames > 1 else [_single_frame(instance)])
    return slices


def decode_slice_into(item: CTSlice, out: np.ndarray) -> int:
    """Decode one slice to HU in ``out`` (int16, rows x columns); returns the number of clipped voxels."""
    stored = decode_stored(item.path, item.pixels, item.frame)
    if stored.shape != out.shape:
        raise LoadError(f"decoded image is {stored.shape}, expected {out.shape}")
    if item.has_modality_lut:
        return modality_lut_into(stored, pydicom.dcmread(item.path, stop_before_pixels=True, force=True), out)
    return rescale_into(stored, item.slope, item.intercept, out)


def _decode_all(
    ordered: Sequence[CTSlice], hu: np.ndarray, progress: Progress | None, cancel: Cancel | None
) -> tuple[dict[int, str], int]:
    """Fill ``hu`` slice by slice in a thread pool; returns {slice index: failure reason} and clipped voxels."""
    failures: dict[int, str] = {}
    clipped = 0
    workers = max(1, min(MAX_WORKERS, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lunglens-decode") as pool:
        futures = {pool.submit(decode_slice_into, item, hu[k]): k for k, item in enumerate(ordered)}
        try:
            for done, future in enumerate(as_completed(futures), start=1):
                check_cancelled(cancel)
                try:
                    clipped += future.result()
                except LoadError as exc:
                    failures[futures[future]] = str(exc)
                report(progress, done, len(ordered))
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return failures, clipped


def _check_sizes(slices: Sequence[CTSlice]) -> tuple[int, int]:
    sizes = {(s.pixels.rows, s.pixels.columns) for s in slices}
    if len(sizes) > 1:
        raise LoadError(f"slices of one stack differ in size ({', '.join(f'{r}x{c}' for r, c in sorted(sizes))})")
    return sizes.pop()


def load_ct_series(header: SeriesHeader, progress: Progress | None = None, cancel: Cancel | None = None) -> CTVolume:
    """Decode a CT series found by the scan into an int16 HU volume with its geometry and warnings."""
    instances, warnings = series_instances(header)
    slices = ct_slices(instances)
    rows, columns = _check_sizes(slices)
    geometry = stack_geometry([s.placement for s in slices])
    ordered = [slices[i] for i in geometry.order]
    hu = np.empty((len(ordered), rows, columns), dtype=np.int16)
    failures, clipped = _decode_all(ordered, hu, progress, cancel)
    if failures:
        if len(failures) == len(ordered):
            raise LoadError(f"no slice could be decoded: {next(iter(failures.values()))}")
        warnings += [f"{ordered[k].placement.label} left out: {reason}" for k, reason in sorted(failures.items())]
        kept = [k for k in range(len(ordered)) if k not in failures]
        ordered = [ordered[k] for k in kept]
        hu = hu[kept]
        geometry = stack_geometry([s.placement for s in ordered])
    if clipped:
        warnings.append(f"{clipped} voxel(s) lay outside the int16 HU range and were clipped.")
    return _volume(header, hu, geometry, ordered, [*header.warnings, *warnings, *geometry.warnings])


def _volume(
    header: SeriesHeader, hu: np.ndarray, geometry: StackGeometry, ordered: Sequence[CTSlice], warnings: list[str]
) -> CTVolume:
    return CTVolume(
        hu=hu,
        spacing=geometry.spacing,
        origin=geometry.origin,
        direction=geometry.direction,
        slice_positions=geometry.positions,
        series_uid=header.uid,
        description=header.description,
        info=header.info,
        sop_uids=tuple(s.sop_uid for s in ordered),
        instance_numbers=tuple(s.placement.instance_number for s in ordered),
        source_files=tuple(dict.fromkeys(s.path for s in ordered)),
        slice_thickness_mm=geometry.slice_thickness,
        warnings=tuple(dict.fromkeys(warnings)),
        acquisition=header.acquisition,
    )


def read_ct_slice(header: SeriesHeader, index: int | None = None) -> CTVolume:
    """One slice as a 1-slice CTVolume (the middle one by default, where a viewer opens a series).

    Only that slice is decoded: placing it needs the headers the scan already read, so a viewer can
    draw it while the rest of the series loads.
    """
    instances, warnings = series_instances(header)
    slices = ct_slices(instances)
    geometry = stack_geometry([s.placement for s in slices])
    position = len(slices) // 2 if index is None else index
    item = slices[geometry.order[position]]
    hu = np.empty((1, item.pixels.rows, item.pixels.columns), dtype=np.int16)
    decode_slice_into(item, hu[0])
    here = geometry.positions[position : position + 1]
    single = replace(geometry, order=(0,), positions=here, origin=tuple(float(v) for v in here[0]))
    return _volume(header, hu, single, [item], [*header.warnings, *warnings, *geometry.warnings])
