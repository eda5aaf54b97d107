"""Research volume formats (NIfTI, MetaImage, NRRD) through SimpleITK.

SimpleITK already turns every format's own convention (NIfTI's RAS qform/sform, NRRD's space
directions) into LPS origin, spacing and direction cosines, the same frame as DICOM, so a volume
from a file lines up with one from a series. A 3D file is taken as CT in HU; a 2D file as a
radiograph. Values that do not look like HU are loaded anyway, with a warning.
"""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np
import SimpleITK as sitk

from inference.loading.control import LoadError
from inference.loading.limits import check_volume_size, image_size_problem
from inference.loading.xray import percentile_window
from inference.study import CTVolume, Modality, SeriesHeader, XRayImage


def _itk_reason(exc: Exception) -> str:
    """The sentence inside an ITK exception ("File cannot be read: ..."), without its source location."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "ITK ERROR" in line and "): " in line:
            return line.split("): ", 1)[1]
    return lines[-1] if lines else type(exc).__name__


def _nifti_shortfall(path: str) -> str | None:
    """SimpleITK reads a truncated NIfTI without complaint (zeros or garbage): check the data length.

    NIfTI-1 header: sizeof_hdr 348, dim (int16 x 8) at byte 40, bitpix (int16) at 72, vox_offset
    (float32) at 108. Other formats (and NIfTI-2) return None and are left to SimpleITK.
    """
    with open(path, "rb") as fp:
        compressed = fp.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open if compressed else open)(path, "rb") as fp:
            header = fp.read(348)
            order = next((o for o in "<>" if len(header) == 348 and struct.unpack(o + "i", header[:4])[0] == 348), None)
            if order is None:
                return None
            if compressed:
                size = len(header) + sum(len(block) for block in iter(lambda: fp.read(1 << 20), b""))
            else:
                size = os.path.getsize(path)
    except (OSError, EOFError) as exc:
        return f"truncated or damaged NIfTI data ({exc})"
    dims = struct.unpack(order + "8h", header[40:56])
    bitpix = struct.unpack(order + "h", header[72:74])[0]
    offset = int(struct.unpack(order + "f", header[108:112])[0])
    expected = int(np.prod([max(1, d) for d in dims[1 : dims[0] + 1]])) * bitpix // 8
    if size - offset < expected:
        return f"truncated: the NIfTI file holds {max(0, size - offset)} of {expected} data bytes"
    return None


def volume_header(path: str, uid: str) -> SeriesHeader:
    """Size and kind of a NIfTI/MHA/NRRD file from its header only; raises LoadError if unreadable."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise LoadError(f"not a readable NIfTI/MetaImage/NRRD volume ({_itk_reason(exc)})") from exc
    size = reader.GetSize()
    if reader.GetNumberOfComponents() != 1:
        raise LoadError(f"the volume has {reader.GetNumberOfComponents()} components per voxel; only grey images are read")
    if len(size) > 3 and any(n > 1 for n in size[3:]):
        raise LoadError(f"{len(size)}-D volumes ({'x'.join(map(str, size))}) are not supported")
    is_volume = len(size) >= 3
    if too_large := image_size_problem(int(size[1]), int(size[0])):
        raise LoadError(too_large)
    if is_volume:
        check_volume_size(int(size[2]), int(size[1]), int(size[0]))
    return SeriesHeader(
        uid=uid,
        modality=Modality.CT if is_volume else Modality.XRAY,
        description=os.path.basename(path),
        files=(path,),
        rows=int(size[1]),
        columns=int(size[0]),
        frames=int(size[2]) if is_volume else 1,
    )


def _read(path: str) -> sitk.Image:
    volume_header(path, "")  # the size limits, before SimpleITK allocates what the header claims
    if shortfall := _nifti_shortfall(path):
        raise LoadError(f"the volume could not be read ({shortfall})")
    try:
        image = sitk.ReadImage(path)
    except RuntimeError as exc:
        raise LoadError(f"the volume could not be read ({_itk_reason(exc)})") from exc
    if image.GetDimension() == 4:
        image = image[:, :, :, 0]
    return image


def _hu(values: np.ndarray, warnings: list[str]) -> np.ndarray:
    if values.dtype == np.int16:
        return values
    low, high = float(values.min()), float(values.max())
    if not (low >= -32768 and high <= 32767):
        warnings.append(f"Values {low:g}..{high:g} exceed the int16 range and were clipped.")
    if not np.issubdtype(values.dtype, np.integer) and not np.array_equal(values, np.rint(values)):
        warnings.append("Fractional voxel values were rounded to whole HU.")
    return np.clip(np.rint(values), -32768, 32767).astype(np.int16)


def load_volume_file(header: SeriesHeader) -> CTVolume | XRayImage:
    path = header.files[0]
    image = _read(path)
    warnings = list(header.warnings)
    values = sitk.GetArrayFromImage(image)  # a copy: a view dies with the sitk.Image
    if image.GetDimension() == 2:
        pixels = np.ascontiguousarray(values, dtype=np.float32)
        spacing = image.GetSpacing()
        return XRayImage(
            pixels=pixels, spacing=(float(spacing[1]), float(spacing[0])), invert=False,
            default_window=percentile_window(pixels), uid=header.uid, description=header.description,
            source_file=path, warnings=tuple(warnings),
        )
    hu = _hu(values, warnings)
    if hu.size and (hu.min() > -200 or hu.max() - hu.min() < 200):
        warnings.append(
            f"Values {int(hu.min())}..{int(hu.max())} do not look like CT Hounsfield units "
            "(air should be near -1000): this may be a mask or another modality."
        )
    sx, sy, sz = image.GetSpacing()
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    origin = np.asarray(image.GetOrigin(), dtype=float)
    positions = origin + np.arange(hu.shape[0])[:, None] * sz * direction[:, 2]
    return CTVolume(
        hu=np.ascontiguousarray(hu),
        spacing=(float(sz), float(sy), float(sx)),
        origin=tuple(origin),
        direction=direction,
        slice_positions=positions,
        uid=header.uid,
        description=header.description,
        source_files=(path,),
        warnings=tuple(warnings),
    )
