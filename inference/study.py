"""The Qt-free data model of what a user opens: CT volumes, X-ray images and what was skipped.

A CT series stays int16 Hounsfield units (a float32 copy of a 500-slice study is 0.5 GB) and always
travels with its geometry, so a mask or a measurement can be placed back in patient space.
Arrays are (z, y, x) for CT and (y, x) for X-ray; spacing tuples follow the array axes. Both
follow ``StudyImage`` (uid, values, source files, ...), so code that serves either never guesses names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from inference.safe_text import one_line

if TYPE_CHECKING:
    from inference.loading.dicom_header import InstanceHeader


class Modality(StrEnum):
    """What a study is, as manifests, the JSON and the cache spell it."""

    CT = "CT"
    XRAY = "XR"


@dataclass(frozen=True)
class SkippedFile:
    """A file the loader looked at and did not use, with a reason a user can act on.

    The reason is kept to one short printable line: it may quote a damaged file's header.
    """

    path: str
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", one_line(self.reason))


@dataclass(frozen=True)
class Window:
    """A display window (VOI) in the image's own values: HU for CT, stored values after the Modality LUT for X-ray."""

    width: float
    level: float

    @property
    def low(self) -> float:
        return self.level - self.width / 2.0

    @property
    def high(self) -> float:
        return self.level + self.width / 2.0


WINDOW_PRESETS: dict[str, Window] = {
    "lung": Window(1500.0, -600.0),
    "mediastinum": Window(350.0, 50.0),
    "bone": Window(2000.0, 500.0),
    "soft_tissue": Window(400.0, 40.0),
}


@dataclass(frozen=True)
class PatientStudyInfo:
    """Who and what the series belongs to; shown in the browser, never written to logs."""

    patient_name: str = ""
    patient_id: str = ""
    study_uid: str = ""
    study_date: str = ""
    study_description: str = ""
    accession_number: str = ""


@dataclass(frozen=True)
class Acquisition:
    """How a series was acquired, as far as its header says: what decides whether a model has seen
    images like it (contrast phase, body region, reconstruction kernel)."""

    contrast_agent: str = ""
    body_part: str = ""
    kernel: str = ""


@dataclass(frozen=True, eq=False)
class CTVolume:
    """A CT series as one int16 HU array (z, y, x) plus its patient-space geometry.

    ``direction`` is the 3x3 matrix whose columns are the patient-space (LPS) unit vectors of the
    array's x, y and z axes; ``slice_positions`` are the ImagePositionPatient of each slice in
    array order, so non-uniform spacing stays visible instead of being averaged away.
    """

    hu: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray
    slice_positions: np.ndarray
    uid: str  # the SeriesInstanceUID ("UID#2" for the second part of a series the scan split)
    description: str = ""
    info: PatientStudyInfo = field(default_factory=PatientStudyInfo)
    sop_uids: tuple[str, ...] = ()
    source_files: tuple[str, ...] = ()
    # InstanceNumber of each slice in array order (None where a file has none): a PACS numbers slices by it.
    instance_numbers: tuple[int | None, ...] = ()
    slice_thickness_mm: float | None = None
    warnings: tuple[str, ...] = ()
    default_window: Window = WINDOW_PRESETS["lung"]
    # The window the series' own header asks for (WindowCenter/Width, the first if several); None without one.
    header_window: Window | None = None
    acquisition: Acquisition = Acquisition()
    # Files (or frames) of the series that are not in the volume, with why: listed with the skipped files.
    left_out: tuple[SkippedFile, ...] = ()

    modality = Modality.CT

    @property
    def values(self) -> np.ndarray:
        """The HU array (``StudyImage.values``)."""
        return self.hu

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.hu.shape)  # type: ignore[return-value]

    def voxel_to_patient(self, z: float, y: float, x: float) -> np.ndarray:
        """Patient (LPS, mm) coordinates of a voxel index (z, y, x)."""
        sz, sy, sx = self.spacing
        offset = self.direction @ np.array([x * sx, y * sy, z * sz])
        return np.asarray(self.origin, dtype=float) + offset


@dataclass(frozen=True, eq=False)
class XRayImage:
    """A projection radiograph after the Modality LUT, ready for windowing.

    ``pixels`` keeps the stored dynamic range (float32 after rescale); ``invert`` is True for
    MONOCHROME1, and is applied after the VOI window so low values display bright.
    ``spacing`` is None where the file gives no usable PixelSpacing or ImagerPixelSpacing.
    ``patient_orientation`` is the header's PatientOrientation (read at load time), () when unknown.
    """

    pixels: np.ndarray
    spacing: tuple[float, float] | None
    invert: bool
    default_window: Window
    uid: str
    description: str = ""
    info: PatientStudyInfo = field(default_factory=PatientStudyInfo)
    source_file: str = ""
    photometric: str = "MONOCHROME2"
    warnings: tuple[str, ...] = ()
    # The window the file's header asks for (then also ``default_window``); None without one.
    header_window: Window | None = None
    patient_orientation: tuple[str, ...] = ()

    modality = Modality.XRAY

    @property
    def values(self) -> np.ndarray:
        """The pixels after the Modality LUT (``StudyImage.values``)."""
        return self.pixels

    @property
    def source_files(self) -> tuple[str, ...]:
        return (self.source_file,) if self.source_file else ()

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.pixels.shape)  # type: ignore[return-value]


class StudyImage(Protocol):
    """What every opened image offers, CT volume or radiograph: code that serves both reads only
    these (and branches on ``modality``), never a type's own names (``hu``, ``pixels``)."""

    modality: Modality
    uid: str
    description: str
    info: PatientStudyInfo
    warnings: tuple[str, ...]
    default_window: Window
    header_window: Window | None

    @property
    def values(self) -> np.ndarray: ...

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def spacing(self) -> tuple[float, ...] | None: ...

    @property
    def source_files(self) -> tuple[str, ...]: ...


Image = CTVolume | XRayImage


@dataclass(frozen=True)
class SeriesHeader:
    """What the fast header-only scan knows about one series before any pixel is decoded.

    ``instances`` holds the scan's per-file DICOM headers (position, rescale, pixel data offset), so
    loading the pixels does not parse the headers again; it is empty for PNG/NIfTI sources and for
    headers built by hand, and the loader then reads what it needs from ``files``.
    """

    uid: str
    modality: Modality
    description: str
    files: tuple[str, ...]
    rows: int
    columns: int
    frames: int
    info: PatientStudyInfo = PatientStudyInfo()
    warnings: tuple[str, ...] = ()
    instances: tuple[InstanceHeader, ...] = field(default=(), repr=False)
    acquisition: Acquisition = Acquisition()

    @property
    def is_volume(self) -> bool:
        return self.frames > 1 or len(self.files) > 1


class ResultKind(StrEnum):
    SEGMENTATION = "SEG"
    REPORT = "SR"


@dataclass(frozen=True)
class DicomResult:
    """A DICOM SEG or SR found beside the images: shown on the image it refers to, not as an image
    (``inference.dicom_in`` reads it)."""

    path: str
    kind: ResultKind
    series_uid: str


@dataclass(frozen=True)
class ScanResult:
    """What a path holds: series found by the header scan, SEG/SR results, and files skipped with a reason."""

    root: Path
    series: tuple[SeriesHeader, ...]
    skipped: tuple[SkippedFile, ...]
    results: tuple[DicomResult, ...] = ()
