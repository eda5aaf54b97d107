"""Pixel data to numbers: decoding stored values and the CT Modality LUT into int16 HU.

Decoding starts at the byte offset the header scan found, so no header is parsed twice. Compressed
and unusual data go through pydicom's decoders (pylibjpeg, GDCM, pyjpegls plugins). Plain
uncompressed monochrome data, nearly every CT slice, is read with one ``np.frombuffer``: pydicom's
``Decoder.as_array`` does the same work with about ten times the per-call overhead, which at 500
slices is most of the load time. The unused-bits correction follows pydicom's (tests compare both).

The Modality LUT for CT is RescaleSlope/RescaleIntercept; pydicom's ``apply_modality_lut`` returns
float64, four times the memory of the int16 result, so the same linear map is done in int16/int32
(integer slope and intercept, the usual case) or float32 and rounded. A Modality LUT Sequence goes
through ``apply_modality_lut`` itself.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, get_decoder
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from inference.loading.control import LoadError
from inference.loading.dicom_header import PixelInfo

# pydicom only warns when an RLE segment decodes to more bytes than the header's rows x columns: the
# header's size is then wrong, so the image is too. Made an error (caught per file) before each decode,
# since a caller's warnings.catch_warnings() may have dropped a filter set once at import.
_RLE_OVERRUN = "The decoded RLE segment contains non-conformant padding"
_NATIVE = {ImplicitVRLittleEndian: "<", ExplicitVRLittleEndian: "<", ExplicitVRBigEndian: ">"}
# Decoder plugins in the order they are trusted with damaged data (found by tests/test_fuzz_loading.py):
# GDCM, first in pydicom's own order, aborts the whole process on some damaged JPEG streams (an
# uncaught C++ exception) and pylibjpeg-rle panics (Rust) on damaged RLE, where pydicom's own RLE
# decoder raises. One plugin is used per file: a failure is a reason, never a retry in GDCM.
PLUGIN_PREFERENCE = ("pydicom", "pylibjpeg", "pyjpegls", "pillow", "gdcm")
_INT16 = np.iinfo(np.int16)


def transfer_syntax_name(syntax: str) -> str:
    """'JPEG 2000 Image Compression (1.2.840.10008.1.2.4.91)': name and UID, as support desks ask."""
    uid = UID(syntax)
    return f"{uid.name} ({uid})" if uid.name != str(uid) else f"transfer syntax {uid}"


def _decoder(syntax: UID):
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as exc:
        raise LoadError(f"no decoder exists for {transfer_syntax_name(syntax)}") from exc
    if not decoder.is_available:
        needs = "; ".join(decoder.missing_dependencies) or "a pixel data plugin"
        raise LoadError(f"no installed decoder for {transfer_syntax_name(syntax)}: install {needs}")
    return decoder


def _plugin(decoder) -> str:
    """The preferred available plugin; "" (pydicom's choice) where none is needed, as for native data."""
    return next((name for name in PLUGIN_PREFERENCE if name in decoder.available_plugins), "")


def _plain_native(pixels: PixelInfo) -> bool:
    return (
        pixels.transfer_syntax in _NATIVE
        and pixels.offset is not None
        and pixels.length is not None
        and pixels.keyword == "PixelData"
        and pixels.samples_per_pixel == 1
        and pixels.bits_allocated in (8, 16, 32)
        and pixels.photometric in ("MONOCHROME1", "MONOCHROME2")
    )


def _read_native(path: str, pixels: PixelInfo, frame: int | None) -> np.ndarray:
    endian = _NATIVE[pixels.transfer_syntax]
    kind = "i" if pixels.pixel_representation else "u"
    dtype = np.dtype(f"{endian}{kind}{pixels.bits_allocated // 8}")
    frame_bytes = pixels.rows * pixels.columns * dtype.itemsize
    count = frame_bytes if frame is not None else frame_bytes * pixels.frames
    with open(path, "rb") as fp:
        fp.seek(pixels.offset + (frame or 0) * frame_bytes)
        data = fp.read(count)
    if len(data) < count:
        raise LoadError(f"truncated: pixel data has {len(data)} of {count} bytes")
    shape = (pixels.rows, pixels.columns)
    if frame is None and pixels.frames > 1:
        shape = (pixels.frames, *shape)
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    if endian == ">":
        array = array.astype(dtype.newbyteorder("="))
    shift = pixels.bits_allocated - pixels.bits_stored
    if shift > 0:
        # Bits above BitsStored may hold overlays or garbage (PS3.5 8.1.1): shift them out,
        # sign-extending signed data, exactly as pydicom's decoders do.
        array = np.right_shift(np.left_shift(array, shift), shift)
    return array


def decode_stored(path: str | Path, pixels: PixelInfo, frame: int | None = None) -> np.ndarray:
    """Stored values (before any LUT) of one frame, or of all frames when ``frame`` is None."""
    path = str(path)
    if _plain_native(pixels):
        return _read_native(path, pixels, frame)
    syntax = UID(pixels.transfer_syntax)
    decoder = _decoder(syntax)
    warnings.filterwarnings("error", message=_RLE_OVERRUN)  # idempotent: an existing identical filter is replaced
    try:
        plugin = _plugin(decoder)
        if pixels.offset is None:
            return pydicom.pixels.pixel_array(pydicom.dcmread(path, force=True), index=frame, decoding_plugin=plugin)
        with open(path, "rb") as fp:
            fp.seek(pixels.offset)
            array, _ = decoder.as_array(fp, index=frame, decoding_plugin=plugin, **pixels.decode_options())
        return array
    except Exception as exc:  # decoder plugins raise their own exception types
        raise LoadError(f"the {transfer_syntax_name(syntax)} pixel data could not be decoded: {exc}") from exc
    except BaseException as exc:  # pylibjpeg-rle (Rust) panics on damaged data with pyo3's PanicException
        if type(exc).__name__ != "PanicException":
            raise
        raise LoadError(f"the {transfer_syntax_name(syntax)} pixel data could not be decoded (the decoder failed on damaged data)") from exc


def _clip_into(values: np.ndarray, out: np.ndarray) -> int:
    """Copy HU ``values`` into the int16 slot ``out``, clipping; returns how many values were clipped."""
    clipped = 0
    if values.min() < _INT16.min or values.max() > _INT16.max:
        clipped = int(np.count_nonzero((values < _INT16.min) | (values > _INT16.max)))
        np.clip(values, _INT16.min, _INT16.max, out=values)
    np.copyto(out, values, casting="unsafe")
    return clipped


def rescale_into(stored: np.ndarray, slope: float, intercept: float, out: np.ndarray) -> int:
    """HU = stored * slope + intercept written into int16 ``out``; returns the number of clipped voxels."""
    if slope == 1.0 and float(intercept).is_integer():
        offset = np.int32(intercept)
        if _INT16.min <= int(stored.min()) + offset and int(stored.max()) + offset <= _INT16.max:
            np.add(stored, offset, out=out, casting="unsafe")
            return 0
        return _clip_into(stored.astype(np.int32) + offset, out)
    values = stored.astype(np.float32)
    values *= np.float32(slope)
    values += np.float32(intercept)
    return _clip_into(np.rint(values, out=values), out)


def modality_lut_into(stored: np.ndarray, header: Dataset, out: np.ndarray) -> int:
    """HU through a Modality LUT Sequence (pydicom's apply_modality_lut) into int16 ``out``."""
    return _clip_into(np.rint(np.asarray(apply_modality_lut(stored, header), dtype=np.float64)), out)
