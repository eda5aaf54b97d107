"""Research volume formats (NIfTI, MetaImage, NRRD) through SimpleITK.

SimpleITK already turns every format's own convention (NIfTI's RAS qform/sform, NRRD's space
directions) into LPS origin, spacing and direction cosines, the same frame as DICOM, so a volume
from a file lines up with one from a series. A 3D file is taken as CT in HU; a 2D file as a
radiograph. Values that do not look like HU are loaded anyway, with a warning.
"""

from __future__ import annotations

import os

import numpy as np
import SimpleITK as sitk

from inference.loading.control import LoadError
from inference.loading.xray import percentile_window
from inference.study import CTVolume, Modality, SeriesHeader, XRayImage


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    useful = [line for line in lines if not line.lower().startswith(("itk::", "exception", "/"))]
    return (useful or lines or [type(exc).__name__])[-1]


def volume_header(path: str, uid: str) -> SeriesHeader:
    """Size and kind of a NIfTI/MHA/NRRD file from its header only; raises LoadError if unreadable."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise LoadError(f"not a readable NIfTI/MetaImage/NRRD volume ({_first_line(exc)})") from exc
    size = reader.GetSize()
    if reader.GetNumberOfComponents() != 1:
        raise LoadError(f"the volume has {reader.GetNumberOfComponents()} components per voxel; only grey images are read")
    if len(size) > 3 and any(n > 1 for n in size[3:]):
        raise LoadError(f"{len(size)}-D volumes ({'x'.join(map(str, size))}) are not supported")
    is_volume = len(size) >= 3
    return SeriesHeader(
        uid=uid,
        modality=(Modality.CT if is_volume else Modality.XRAY).value,
        description=os.path.basename(path),
        files=(path,),
        rows=int(size[1]),
        columns=int(size[0]),
        frames=int(size[2]) if is_volume else 1,
    )


def _read(path: str) -> sitk.Image:
    try:
        image = sitk.ReadImage(path)
    except RuntimeError as exc:
        raise LoadError(f"the volume could not be read ({_first_line(exc)})") from exc
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
    values = sitk.GetArrayViewFromImage(image)
    if image.GetDimension() == 2:
        pixels = np.ascontiguousarray(values, dtype=np.float32)
        spacing = image.GetSpacing()
        return XRayImage(
            pixels=pixels, spacing=(float(spacing[1]), float(spacing[0])), invert=False,
            default_window=percentile_window(pixels), uid=header.uid, description=header.description,
            source_file=path, warnings=tuple(warnings),
        )
    hu = _hu(np.asarray(values), warnings)
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
        series_uid=header.uid,
        description=header.description,
        source_files=(path,),
        warnings=tuple(warnings),
    )
