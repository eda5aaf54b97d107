"""Projection radiographs (DICOM CR/DX/secondary capture, PNG, JPEG) to an XRayImage.

The display pipeline is the standard's, in its order: Modality LUT (pydicom ``apply_modality_lut``)
-> VOI (the file's window, else its VOI LUT Sequence through ``apply_voi_lut``, else the 0.5-99.5
percentiles) -> MONOCHROME1 inversion, which ``XRayImage.invert`` records and the display applies
after the window. Inverting before the window is the classic double-inversion bug.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image as PILImage
from PIL import ImageOps
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut

from inference.loading.control import LoadError
from inference.loading.dicom_header import InstanceHeader, TagReader, read_instance_header
from inference.loading.limits import BEYOND_PIXEL_LIMIT, image_size_problem
from inference.loading.pixels import decode_stored
from inference.study import Modality, SeriesHeader, Window, XRayImage

PERCENTILE_WINDOW = (0.5, 99.5)
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def percentile_window(pixels: np.ndarray) -> Window:
    """A window spanning the 0.5-99.5 percentiles: what a reader does when the file gives no VOI."""
    step = max(1, int(np.sqrt(pixels.size / 250_000)))
    low, high = np.percentile(pixels[::step, ::step], PERCENTILE_WINDOW)
    if high <= low:
        low, high = float(pixels.min()), float(pixels.max())
    return Window(width=max(float(high - low), 1.0), level=float(low + high) / 2.0)


def _grey(values: np.ndarray, photometric: str, header: Dataset, warnings: list[str]) -> np.ndarray:
    """Colour radiographs (screenshots, palette images) become luminance, with a note."""
    if photometric == "PALETTE COLOR":
        values = apply_color_lut(values, header)
    if values.ndim == 3:
        warnings.append(f"The image is stored in colour ({photometric}); it is shown as grey luminance.")
        return values[..., :3].astype(np.float32) @ _LUMA
    return values


def _dicom_spacing(reader: TagReader, warnings: list[str]) -> tuple[float, float] | None:
    """PixelSpacing, else ImagerPixelSpacing (at the detector, so not corrected for magnification)."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = reader.numbers(keyword, 2)
        if value is not None and min(value) > 0:
            if keyword == "ImagerPixelSpacing":
                warnings.append(
                    "Spacing is ImagerPixelSpacing (at the detector): distances are magnified by the "
                    "source-to-detector geometry, typically by 5-15 %."
                )
            return float(value[0]), float(value[1])
    stated = [k for k in ("PixelSpacing", "ImagerPixelSpacing") if reader.raw(k) is not None]
    what = f"{' and '.join(stated)} is zero or invalid" if stated else "No PixelSpacing or ImagerPixelSpacing"
    warnings.append(f"{what}: distances cannot be measured on this image.")
    return None


def _voi(values: np.ndarray, header: Dataset, reader: TagReader, warnings: list[str]) -> tuple[np.ndarray, Window, bool]:
    """The default window from the file's VOI, applied in the standard's precedence, and whether it is
    the header's own WindowCenter/Width (what the viewer offers as the "header" preset)."""
    center, width = reader.number("WindowCenter"), reader.number("WindowWidth")
    if center is not None and width is not None and width > 0:
        function = reader.text("VOILUTFunction").upper()
        if function == "SIGMOID":
            warnings.append("The file asks for a SIGMOID VOI function; it is shown with the equivalent linear window.")
        return values.astype(np.float32), Window(width=float(width), level=float(center)), True
    if "VOILUTSequence" in header:
        # A LUT is indexed by integer input; a rescale with integer results keeps it exact.
        whole = np.issubdtype(values.dtype, np.integer) or np.array_equal(values, np.rint(values))
        mapped = apply_voi_lut(values.astype(np.int64) if whole else values, header, prefer_lut=True)
        mapped = np.asarray(mapped, dtype=np.float32)
        low, high = float(mapped.min()), float(mapped.max())
        return mapped, Window(width=max(high - low, 1.0), level=(low + high) / 2.0), False
    values = values.astype(np.float32)
    return values, percentile_window(values), False


def _modality_lut(values: np.ndarray, header: Dataset, instance: InstanceHeader) -> np.ndarray:
    """A Modality LUT Sequence through pydicom; else the rescale as the header scan checked it (a slope
    of 0 taken as 1, as its warning says; NaN or infinite values never get this far)."""
    if "ModalityLUTSequence" in header:
        return np.asarray(apply_modality_lut(values, header))
    slope, intercept = instance.rescale_slope, instance.rescale_intercept
    if slope == 1.0 and intercept == 0.0:
        return values
    return values.astype(np.float32) * np.float32(slope) + np.float32(intercept)


def _displays_inverted(photometric: str, reader: TagReader) -> bool:
    """MONOCHROME1 shows low values bright; a MONOCHROME2 image asks for the same with Presentation
    LUT Shape INVERSE. MONOCHROME1 with INVERSE (what DX For Presentation requires) is one inversion."""
    inverse_lut = reader.text("PresentationLUTShape").upper() == "INVERSE"
    return photometric == "MONOCHROME1" or (photometric == "MONOCHROME2" and inverse_lut)


def load_xray_dicom(header: SeriesHeader) -> XRayImage:
    """One radiograph file: decoded, Modality LUT applied, default window and inversion flag set."""
    path = header.files[0]
    instance: InstanceHeader = header.instances[0] if header.instances else read_instance_header(path)
    if instance.pixels is None or instance.unusable:
        raise LoadError(instance.unusable or "the file holds no pixel data")
    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception as exc:  # the scan read it once; the file changed or vanished since
        raise LoadError(f"the header could not be read again: {exc}") from exc
    stored = decode_stored(path, instance.pixels, 0 if instance.frames > 1 else None)
    warnings = list(header.warnings)
    if instance.frames > 1:
        warnings.append(f"The file holds {instance.frames} frames; the first is shown.")
    reader = TagReader(dataset, os.path.basename(path))
    photometric = instance.pixels.photometric
    values = _grey(stored, photometric, dataset, warnings)
    values, window, from_header = _voi(_modality_lut(values, dataset, instance), dataset, reader, warnings)
    if reader.text("PresentationIntentType").upper() == "FOR PROCESSING":
        warnings.append("This is a 'For Processing' radiograph (raw detector data, not meant for viewing): it may look flat.")
    return XRayImage(
        pixels=np.ascontiguousarray(values, dtype=np.float32),
        spacing=_dicom_spacing(reader, warnings),
        invert=_displays_inverted(photometric, reader),
        default_window=window,
        header_window=window if from_header else None,
        uid=header.uid,
        description=header.description,
        info=header.info,
        source_file=path,
        photometric=photometric if photometric in ("MONOCHROME1", "MONOCHROME2") else "MONOCHROME2",
        warnings=tuple(dict.fromkeys(warnings + list(reader.issues))),
        patient_orientation=_patient_orientation(dataset),
    )


def _patient_orientation(dataset: pydicom.Dataset) -> tuple[str, ...]:
    """PatientOrientation (the row and column directions, e.g. ("P", "F")), () when absent or unreadable:
    no edge labels rather than wrong ones."""
    try:
        return tuple(str(v) for v in (dataset.get("PatientOrientation") or ()))
    except Exception:  # a malformed value raises on access
        return ()


def raster_size(path: str | Path) -> tuple[int, int]:
    """(rows, columns) of a PNG/JPEG without decoding it; raises LoadError when PIL cannot open it."""
    try:
        with PILImage.open(path) as image:
            width, height = image.size
    except PILImage.DecompressionBombError as exc:  # PIL's own, higher limit: refused all the same
        raise LoadError(f"the image declares {BEYOND_PIXEL_LIMIT}") from exc
    except Exception as exc:  # PIL raises many types for damaged files
        raise LoadError(f"not a readable PNG/JPEG image ({exc})") from exc
    if too_large := image_size_problem(height, width):
        raise LoadError(too_large)
    return height, width


def load_raster(header: SeriesHeader) -> XRayImage:
    """A PNG/JPEG radiograph: grey levels as stored (8 or 16 bit), no spacing, window over the bit depth."""
    path = header.files[0]
    warnings = list(header.warnings)
    raster_size(path)  # the size limit, also for headers built without the scan
    try:
        with PILImage.open(path) as opened:
            image = ImageOps.exif_transpose(opened)
            if image.mode not in ("L", "I", "I;16", "I;16B", "I;16L", "F"):
                warnings.append(f"The image is stored as {image.mode}; it is shown as grey luminance.")
                image = image.convert("L")
            pixels = np.asarray(image).astype(np.float32)
    except Exception as exc:  # PIL raises many types for damaged files
        raise LoadError(f"the image could not be decoded ({exc})") from exc
    # The window spans the bit depth actually used (0..255, or 0..4095 for 12-bit data in a
    # 16-bit PNG), so the image looks as its author saved it.
    top = 255.0 if pixels.max() <= 255 else float(2 ** int(np.ceil(np.log2(pixels.max() + 1))) - 1)
    return XRayImage(
        pixels=np.ascontiguousarray(pixels),
        spacing=None,
        invert=False,
        default_window=Window(width=top, level=top / 2.0),
        uid=header.uid,
        description=header.description,
        info=header.info,
        source_file=str(path),
        photometric="MONOCHROME2",
        warnings=tuple(warnings),
    )


def raster_header(path: str, uid: str) -> SeriesHeader:
    rows, columns = raster_size(path)
    return SeriesHeader(
        uid=uid, modality=Modality.XRAY, description=os.path.basename(path), files=(path,),
        rows=rows, columns=columns, frames=1,
    )
