"""The header-only read of one DICOM file: who it belongs to, where it lies, where its pixels start.

pydicom stops before the pixel data (``stop_before_pixels``) and reads only the tags the loader uses
(``specific_tags``). The file position where it stopped is the start of the Pixel Data element, so
the scan also learns the byte offset of the pixels: loading then hands that offset straight to
pydicom's decoder without parsing the header a second time, and a file cut short is caught here.
"""

from __future__ import annotations

import math
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import UID, CTImageStorage, DeflatedExplicitVRLittleEndian

from inference.loading.control import LoadError
from inference.loading.encapsulated import encapsulated_problem
from inference.loading.geometry import SlicePlacement
from inference.loading.limits import image_size_problem
from inference.safe_text import error_summary, shown_value
from inference.study import Acquisition, PatientStudyInfo

SCAN_KEYWORDS = (
    "SOPClassUID", "SOPInstanceUID", "Modality", "ImageType", "SeriesInstanceUID", "InstanceNumber",
    "AcquisitionNumber", "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
    "SliceThickness", "SpacingBetweenSlices", "GantryDetectorTilt", "RescaleSlope", "RescaleIntercept",
    "ModalityLUTSequence", "Rows", "Columns", "NumberOfFrames", "SamplesPerPixel", "BitsAllocated",
    "BitsStored", "PixelRepresentation", "PhotometricInterpretation", "PlanarConfiguration",
    "SharedFunctionalGroupsSequence", "ExtendedOffsetTable",
)
# Read once per series, from its first file: converting a tag costs pydicom ~10 us, so the scan
# converts per file only what grouping, ordering and decoding need.
SERIES_KEYWORDS = (
    "PatientName", "PatientID", "StudyInstanceUID", "StudyDate", "StudyDescription", "SeriesDescription",
    "ContrastBolusAgent", "BodyPartExamined", "ConvolutionKernel", "AccessionNumber",
)
_SCAN_TAGS = [Tag(k) for k in SCAN_KEYWORDS]
_PIXEL_KEYWORDS = {0x7FE00010: "PixelData", 0x7FE00008: "FloatPixelData", 0x7FE00009: "DoubleFloatPixelData"}
# The VRs Pixel Data can have when written explicitly (then: 2 reserved bytes, 4-byte length).
_PIXEL_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"UN"}
# Well-formed values of the code string and UID VRs (PS3.5 6.2): anything else is a damaged element
# (e.g. a misparsed length that swallowed the rest of the header), not a value to group by or show.
# Rescale beyond this (or a slope below its inverse) turns any stored value into nonsense.
MAX_RESCALE = 1e6
_CODE_STRING = re.compile(r"[A-Za-z0-9 _]{1,16}")
_UID = re.compile(r"[0-9A-Za-z._-]{1,64}")


@dataclass(frozen=True)
class PixelInfo:
    """How the pixel data of a file is encoded and where it starts (byte ``offset``).

    ``length`` is None for encapsulated (compressed) data; ``offset`` is None where the file's bytes
    cannot be addressed directly (deflated datasets), and the decoder then reads the whole file.
    """

    transfer_syntax: str
    rows: int
    columns: int
    frames: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric: str
    planar_configuration: int
    keyword: str = "PixelData"
    offset: int | None = None
    length: int | None = None

    @property
    def expected_bytes(self) -> int:
        values = self.rows * self.columns * self.frames * self.samples_per_pixel
        return (values * self.bits_allocated + 7) // 8

    def decode_options(self) -> dict:
        """The keyword options pydicom's ``Decoder.as_array`` needs when given raw bytes, not a dataset."""
        options = dict(
            rows=self.rows, columns=self.columns, number_of_frames=self.frames,
            samples_per_pixel=self.samples_per_pixel, bits_allocated=self.bits_allocated,
            bits_stored=self.bits_stored, pixel_representation=self.pixel_representation,
            photometric_interpretation=self.photometric, pixel_keyword=self.keyword,
        )
        if self.samples_per_pixel > 1:
            options["planar_configuration"] = self.planar_configuration
        return options


@dataclass(frozen=True)
class InstanceHeader:
    """What the header scan read from one DICOM file; enough to group, order and decode it."""

    path: str
    sop_uid: str
    sop_class: str
    modality: str
    series_uid: str
    image_type: tuple[str, ...]
    acquisition_number: int | None
    placement: SlicePlacement
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    has_modality_lut: bool = False
    pixels: PixelInfo | None = None
    unusable: str | None = None
    issues: tuple[str, ...] = ()

    @property
    def frames(self) -> int:
        return self.pixels.frames if self.pixels else 0

    @property
    def is_image(self) -> bool:
        return self.pixels is not None or self.unusable is not None


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else [value]


_TEXT_VRS = {"UI", "CS", "DS", "IS"}
_BINARY_VRS = {"US": "H", "SS": "h"}


def fast_values(element: RawDataElement, tag: int) -> list | None:
    """The values of a not-yet-converted element of a plain VR, decoded straight from its bytes.

    pydicom's generic conversion costs about 10 us per element, as much as reading the header, so
    the scan decodes the few plain VRs it needs (UI, CS, DS, IS, US, SS) itself. Anything else, or
    any surprise (another VR than the dictionary's, non-ASCII text), returns None and goes to pydicom.
    """
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return None
    if element.VR not in (None, vr) or element.value is None:
        return None
    if vr in _TEXT_VRS:
        try:
            text = element.value.decode("ascii")
        except UnicodeDecodeError:
            return None
        return [v.strip(" \x00") for v in text.split("\\")] if text.strip(" \x00") else []
    code = _BINARY_VRS.get(vr)
    if code is None or len(element.value) % 2:
        return None
    order = "<" if element.is_little_endian else ">"
    return list(struct.unpack(f"{order}{len(element.value) // 2}{code}", element.value))


def _to_int(value) -> int:
    try:
        return int(value)
    except ValueError:
        number = float(value)
        if not number.is_integer():
            raise
        return int(number)


class TagReader:
    """Tolerant tag access: a malformed value becomes None plus a note, never an exception."""

    def __init__(self, ds: Dataset, name: str):
        self.ds = ds
        self.name = name
        self.issues: list[str] = []

    def raw(self, keyword: str, source: Dataset | None = None):
        """The value as pydicom converts it (sequences, person names, anything not plain)."""
        source = self.ds if source is None else source
        try:
            element = source.get(keyword)
        except Exception as exc:  # pydicom raises many types on a malformed value
            self.issues.append(f"{self.name}: {keyword} could not be read ({type(exc).__name__})")
            return None
        if element is None or element == "":
            return None
        return element

    def values(self, keyword: str, source: Dataset | None = None) -> list | None:
        """The element's values as a list (None when absent or empty), decoded fast where plain."""
        source = self.ds if source is None else source
        tag = tag_for_keyword(keyword)
        if tag not in source:
            return None
        element = source.get_item(tag)
        if isinstance(element, RawDataElement):
            fast = fast_values(element, tag)
            if fast is not None:
                return fast if any(v != "" for v in fast) else None
        value = self.raw(keyword, source)
        return None if value is None else _as_list(value)

    def number(self, keyword: str, cast=float, source: Dataset | None = None):
        """The first value as a finite number; None (and a note) when absent, malformed, NaN or infinite."""
        values = self.values(keyword, source)
        if values is None:
            return None
        try:
            number = (_to_int if cast is int else cast)(values[0])
        except (TypeError, ValueError, OverflowError):
            number = None
        if number is None or not math.isfinite(number):
            self.issues.append(f"{self.name}: {keyword} {shown_value(values[0])} is not a finite number")
            return None
        return number

    def numbers(self, keyword: str, count: int, source: Dataset | None = None) -> tuple[float, ...] | None:
        """``count`` finite numbers; None (and a note) when absent, malformed, NaN, infinite or miscounted."""
        values = self.values(keyword, source)
        if values is None:
            return None
        try:
            numbers = tuple(float(v) for v in values)
        except (TypeError, ValueError):
            numbers = None
        if numbers is None or not all(math.isfinite(n) for n in numbers):
            shown = ", ".join(shown_value(v) for v in values[:count])
            self.issues.append(f"{self.name}: {keyword} [{shown}] is not {count} finite numbers")
            return None
        if len(numbers) != count:
            self.issues.append(f"{self.name}: {keyword} has {len(numbers)} values, expected {count}")
            return None
        return numbers

    def text(self, keyword: str) -> str:
        values = self.values(keyword)
        return "" if values is None else "\\".join(str(v) for v in values).strip()

    def checked(self, keyword: str, form: re.Pattern) -> str:
        """A code string or UID when well formed; "" (and a note, without the value) when not."""
        value = self.text(keyword)
        if value and not form.fullmatch(value):
            self.issues.append(f"{self.name}: {keyword} is malformed and was ignored")
            return ""
        return value


def _functional_group_orientation(reader: TagReader) -> tuple[float, ...] | None:
    """ImageOrientationPatient of an Enhanced CT, which lives in the shared functional groups."""
    shared = reader.raw("SharedFunctionalGroupsSequence")
    if not shared:
        return None
    planes = reader.raw("PlaneOrientationSequence", shared[0])
    return reader.numbers("ImageOrientationPatient", 6, planes[0]) if planes else None


def _pixel_element(head: bytes, at: int, little: bool) -> tuple[str, int, int | None] | None:
    """(keyword, value offset, length or None if undefined) of the element starting at ``at``.

    Explicit or implicit VR is read from the element itself: some files declare one and use the
    other, which pydicom tolerates while reading (with a warning) but does not report back.
    """
    if len(head) < 8:
        return None
    order = "<" if little else ">"
    group, element = struct.unpack(order + "HH", head[:4])
    keyword = _PIXEL_KEYWORDS.get(group << 16 | element)
    if keyword is None:
        return None
    if head[4:6] in _PIXEL_VRS and head[6:8] == b"\x00\x00" and len(head) >= 12:
        length, offset = struct.unpack(order + "I", head[8:12])[0], at + 12
    else:
        length, offset = struct.unpack(order + "I", head[4:8])[0], at + 8
    return keyword, offset, None if length == 0xFFFFFFFF else length


def _pixel_info(reader: TagReader, syntax: UID, element, file_size: int, fp: BinaryIO) -> tuple[PixelInfo | None, str | None]:
    rows, columns = reader.number("Rows", int), reader.number("Columns", int)
    bits_allocated = reader.number("BitsAllocated", int)
    has_pixels = element is not None or (syntax == DeflatedExplicitVRLittleEndian and rows)
    if not has_pixels:
        return None, ("the file has image attributes but no pixel data (it may be truncated)" if rows else None)
    if not rows or not columns or not bits_allocated:
        return None, "Rows, Columns or BitsAllocated is missing, so the pixel data cannot be interpreted"
    keyword, offset, length = element if element else ("PixelData", None, None)
    info = PixelInfo(
        transfer_syntax=str(syntax),
        rows=rows,
        columns=columns,
        frames=max(1, reader.number("NumberOfFrames", int) or 1),
        samples_per_pixel=_required(reader, "SamplesPerPixel", 1),
        bits_allocated=bits_allocated,
        bits_stored=_required(reader, "BitsStored", bits_allocated),
        pixel_representation=_required(reader, "PixelRepresentation", 0),
        photometric=reader.text("PhotometricInterpretation") or _required(reader, "PhotometricInterpretation", "MONOCHROME2"),
        planar_configuration=reader.number("PlanarConfiguration", int) or 0,
        keyword=keyword,
        offset=None if syntax == DeflatedExplicitVRLittleEndian or "ExtendedOffsetTable" in reader.ds else offset,
        length=length,
    )
    if problem := image_size_problem(info.rows, info.columns, info.frames) or _format_problem(info):
        return info, problem
    if offset is not None and syntax.is_compressed != (length is None):
        encoding = "compressed" if syntax.is_compressed else "uncompressed"
        return info, f"the transfer syntax is {encoding} but the pixel data is {'not ' if length is not None else ''}encapsulated"
    if offset is not None and length is None:
        return info, encapsulated_problem(fp, offset, file_size, reader.ds.original_encoding[1], syntax, info.frames)
    if offset is not None and length is not None:
        if offset + length > file_size:
            return info, f"truncated: pixel data has {max(0, file_size - offset)} of {length} bytes"
        # Native data is exactly the declared image (plus one byte that pads it to an even length):
        # more or less means the header's size, depth or frame count is wrong, and any image read would be too.
        needed = info.expected_bytes
        if not syntax.is_compressed and length not in (needed, needed + needed % 2):
            size = f"{info.rows}x{info.columns}x{info.frames}"
            return info, f"pixel data has {length} bytes but {size} pixels need {needed}: the header does not describe it"
    return info, None


def _required(reader: TagReader, keyword: str, default):
    """A Type 1 Image Pixel attribute, or ``default`` with a note when the file lacks it (or a flipped bit renamed it)."""
    value = reader.text(keyword) if isinstance(default, str) else reader.number(keyword, int)
    if value is None or value == "":
        reader.issues.append(f"{keyword} is missing: taken as {default}")
        return default
    return value


def _format_problem(info: PixelInfo) -> str | None:
    """Why the Image Pixel attributes cannot describe real pixel data (PS3.3 C.7.6.3), or None."""
    if info.bits_allocated not in (1, 8, 16, 32, 64):
        return f"BitsAllocated {info.bits_allocated} is not 1, 8, 16, 32 or 64"
    if not 1 <= info.bits_stored <= info.bits_allocated:
        return f"BitsStored {info.bits_stored} does not fit BitsAllocated {info.bits_allocated}"
    if info.pixel_representation not in (0, 1):
        return f"PixelRepresentation {info.pixel_representation} is not 0 or 1"
    if info.samples_per_pixel not in (1, 3, 4):
        return f"SamplesPerPixel {info.samples_per_pixel} is not 1 or 3"
    return None


def _rescale_problem(reader: TagReader, slope: float | None, intercept: float | None) -> str | None:
    """Why the stored values cannot become HU / display values: a rescale that is present but not a finite number."""
    for keyword, value in (("RescaleSlope", slope), ("RescaleIntercept", intercept)):
        if value is None and reader.values(keyword) is not None:
            return f"{keyword} is not a finite number, so the pixel values cannot be converted"
    if (slope is not None and (abs(slope) > MAX_RESCALE or 0 < abs(slope) < 1 / MAX_RESCALE)) or abs(intercept or 0) > MAX_RESCALE:
        return f"RescaleSlope {slope:g} or RescaleIntercept {intercept or 0:g} is implausible (beyond {MAX_RESCALE:g})"
    return None


def _rescale_issues(slope: float | None, intercept: float | None, sop_class: str, modality: str) -> tuple[str, ...]:
    """Notes on a CT rescale that is absent or zero; worded without file names so a series shows each once."""
    if slope == 0:
        return ("RescaleSlope is 0 in some files; it is taken as 1.",)
    # Enhanced CT keeps its rescale in the functional groups; only single-frame CT needs it at the top.
    single_frame_ct = sop_class == CTImageStorage or (not sop_class and modality.upper() == "CT")
    if single_frame_ct and slope is None and intercept is None:
        return ("RescaleSlope and RescaleIntercept are missing: stored values are taken as HU.",)
    if single_frame_ct and (slope is None or intercept is None):
        return (f"{'RescaleSlope' if slope is None else 'RescaleIntercept'} is missing: taken as {1 if slope is None else 0}.",)
    return ()


def _transfer_syntax(ds: Dataset, meta: Dataset | None) -> UID:
    """The stated transfer syntax, else the encoding pydicom found; LoadError when it names no known one."""
    stated = meta.get("TransferSyntaxUID") if meta is not None else None
    implicit, little = ds.original_encoding
    if implicit is None:
        raise LoadError("not a DICOM dataset: no data elements could be read")
    if stated is None:
        return pydicom.uid.ImplicitVRLittleEndian if implicit else (
            pydicom.uid.ExplicitVRLittleEndian if little else pydicom.uid.ExplicitVRBigEndian
        )
    syntax = UID(str(stated).strip())
    if not syntax.is_transfer_syntax:
        raise LoadError(f"the file names an unknown transfer syntax {shown_value(syntax)}, so its pixel data cannot be read")
    return syntax


def read_instance_header(path: str | Path) -> InstanceHeader:
    """Read one file's header (no pixels); raises LoadError when it is not a readable DICOM dataset."""
    path = str(path)
    name = os.path.basename(path)
    try:
        file_size = os.path.getsize(path)
        with open(path, "rb") as fp:
            ds = pydicom.dcmread(fp, stop_before_pixels=True, specific_tags=_SCAN_TAGS, force=True)
            at = fp.tell()
            head = fp.read(12)
            meta = getattr(ds, "file_meta", None)
            syntax = _transfer_syntax(ds, meta)
            reader = TagReader(ds, name)
            sop_class = reader.checked("SOPClassUID", _UID) or str((meta or {}).get("MediaStorageSOPClassUID", "")).strip()
            if not sop_class and reader.raw("Rows") is None:
                no_syntax = meta is not None and "TransferSyntaxUID" not in meta
                missing = " (its file meta information lacks the Transfer Syntax UID)" if no_syntax else ""
                raise LoadError(f"not a DICOM image: no SOP Class UID and no image attributes{missing}")
            element = _pixel_element(head, at, ds.original_encoding[1]) if syntax != DeflatedExplicitVRLittleEndian else None
            pixels, unusable = _pixel_info(reader, syntax, element, file_size, fp)
    except LoadError:
        raise
    except OSError as exc:
        raise LoadError(f"cannot read the file: {exc.strerror or type(exc).__name__}") from exc
    except Exception as exc:  # pydicom signals malformed files with many exception types
        raise LoadError(f"not a readable DICOM file ({error_summary(exc)})") from exc

    placement = SlicePlacement(
        label=name,
        position=reader.numbers("ImagePositionPatient", 3),
        orientation=reader.numbers("ImageOrientationPatient", 6) or _functional_group_orientation(reader),
        pixel_spacing=reader.numbers("PixelSpacing", 2),
        instance_number=reader.number("InstanceNumber", int),
        slice_thickness=reader.number("SliceThickness"),
        spacing_between_slices=reader.number("SpacingBetweenSlices"),
        gantry_tilt=reader.number("GantryDetectorTilt"),
    )
    slope = reader.number("RescaleSlope")
    intercept = reader.number("RescaleIntercept")
    modality = reader.checked("Modality", _CODE_STRING).upper()
    image_type = reader.values("ImageType") or ()
    if pixels is not None and unusable is None:
        unusable = _rescale_problem(reader, slope, intercept)
    return InstanceHeader(
        path=path,
        sop_uid=reader.checked("SOPInstanceUID", _UID),
        sop_class=sop_class,
        modality=modality,
        series_uid=reader.checked("SeriesInstanceUID", _UID),
        image_type=tuple(str(v).upper() for v in image_type),
        acquisition_number=reader.number("AcquisitionNumber", int),
        placement=placement,
        rescale_slope=1.0 if slope is None or slope == 0 else slope,
        rescale_intercept=intercept or 0.0,
        has_modality_lut="ModalityLUTSequence" in ds,
        pixels=pixels,
        unusable=unusable,
        issues=tuple(reader.issues) + _rescale_issues(slope, intercept, sop_class, modality),
    )


@dataclass(frozen=True)
class SeriesDetails:
    """Per-series facts shown in the study browser, read from one file of the series."""

    info: PatientStudyInfo
    description: str
    acquisition: Acquisition = Acquisition()


def read_series_details(path: str | Path) -> SeriesDetails:
    """Patient, study and series description from one file; empty values when unreadable."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(SERIES_KEYWORDS), force=True)
    except Exception:  # the file passed the scan once; a failure now only costs the labels
        return SeriesDetails(PatientStudyInfo(), "")
    reader = TagReader(ds, os.path.basename(str(path)))
    return SeriesDetails(
        info=PatientStudyInfo(
            patient_name=reader.text("PatientName"),
            patient_id=reader.text("PatientID"),
            study_uid=reader.text("StudyInstanceUID"),
            study_date=reader.text("StudyDate"),
            study_description=reader.text("StudyDescription"),
            accession_number=reader.text("AccessionNumber"),
        ),
        description=reader.text("SeriesDescription"),
        acquisition=Acquisition(
            contrast_agent=reader.text("ContrastBolusAgent")[:64],
            body_part=reader.text("BodyPartExamined").upper()[:32],
            kernel=reader.text("ConvolutionKernel")[:32],
        ),
    )
