"""The source images a DICOM result refers to, in the array order of the analysed image."""

from __future__ import annotations

from dataclasses import dataclass

import pydicom
from pydicom.dataset import Dataset

from inference import __version__
from inference.study import CTVolume, Image

MANUFACTURER = "LungLens"
RESEARCH_USE = "research use"
# DICOM Series Numbers of LungLens results: far from a scanner's usual 1..20, one per kind of object.
SERIES_NUMBERS = {"seg": 9001, "cam": 9002, "sr": 9003, "pdf": 9004, "key_images": 9005}
EQUIPMENT = dict(manufacturer=MANUFACTURER, manufacturer_model_name="LungLens", software_versions=__version__,
                 device_serial_number="0")


class DicomOutError(ValueError):
    """A DICOM result cannot be made for this image; the message says why."""


@dataclass(frozen=True)
class SourceImages:
    """The analysed image's DICOM headers, one per array slice (CT) or the radiograph's own."""

    datasets: tuple[Dataset, ...]

    @property
    def first(self) -> Dataset:
        return self.datasets[0]

    @property
    def unique(self) -> list[Dataset]:
        """Each source instance once (an Enhanced CT's frames share one)."""
        return list({ds.SOPInstanceUID: ds for ds in self.datasets}.values())


def series_description(what: str) -> str:
    """A series description saying what the object is and that it is for research use (64 chars at most)."""
    return f"LungLens {what} ({RESEARCH_USE})"[:64]


def read_sources(image: Image) -> SourceImages:
    """The headers (no pixels) of the files behind ``image``, ordered like its array slices."""
    if isinstance(image, CTVolume):
        by_uid: dict[str, Dataset] = {}
        for path in image.source_files:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
            by_uid[str(ds.get("SOPInstanceUID", ""))] = ds
        missing = [uid for uid in image.sop_uids if uid not in by_uid]
        if not image.sop_uids or missing:
            raise DicomOutError("this series was not read from DICOM files (or they moved): DICOM results need them")
        if any(ds.get("NumberOfFrames", 1) not in (None, 1, "1") for ds in by_uid.values()):
            raise DicomOutError("DICOM results for multi-frame (Enhanced) CT are not supported yet")
        return SourceImages(tuple(by_uid[uid] for uid in image.sop_uids))
    if not image.source_file:
        raise DicomOutError("this X-ray is not a DICOM file: DICOM results need a DICOM source")
    try:
        ds = pydicom.dcmread(image.source_file, stop_before_pixels=True)
    except pydicom.errors.InvalidDicomError as exc:
        raise DicomOutError("this X-ray is not a DICOM file: DICOM results need a DICOM source") from exc
    return SourceImages((ds,))
