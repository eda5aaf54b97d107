"""What a PACS is asked (StudyQuery) and what it answers (StudyRow, SeriesRow), the same for DIMSE
and DICOMweb: both answer with DICOM attributes, read here once into typed rows."""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset

STUDY_KEYS = ("PatientName", "PatientID", "StudyDate", "StudyDescription", "AccessionNumber", "ModalitiesInStudy",
              "NumberOfStudyRelatedInstances")
SERIES_KEYS = ("Modality", "SeriesNumber", "SeriesDescription", "NumberOfSeriesRelatedInstances")


@dataclass(frozen=True)
class StudyQuery:
    """Matching keys: DICOM wildcards in names (``DOE*``), a date range ``20200101-20201231``."""

    patient_name: str = ""
    patient_id: str = ""
    study_date: str = ""
    modality: str = ""
    study_uid: str = ""


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return "" if value is None else str(value)


def _count(ds: Dataset, keyword: str) -> int | None:
    try:
        return int(ds.get(keyword))
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class StudyRow:
    study_uid: str
    patient_name: str
    patient_id: str
    study_date: str
    description: str
    accession_number: str
    modalities: str
    instances: int | None

    @classmethod
    def from_dataset(cls, ds: Dataset) -> "StudyRow":
        return cls(_text(ds, "StudyInstanceUID"), _text(ds, "PatientName"), _text(ds, "PatientID"), _text(ds, "StudyDate"),
                   _text(ds, "StudyDescription"), _text(ds, "AccessionNumber"), _text(ds, "ModalitiesInStudy"),
                   _count(ds, "NumberOfStudyRelatedInstances"))


@dataclass(frozen=True)
class SeriesRow:
    series_uid: str
    modality: str
    number: str
    description: str
    instances: int | None

    @classmethod
    def from_dataset(cls, ds: Dataset) -> "SeriesRow":
        return cls(_text(ds, "SeriesInstanceUID"), _text(ds, "Modality"), _text(ds, "SeriesNumber"),
                   _text(ds, "SeriesDescription"), _count(ds, "NumberOfSeriesRelatedInstances"))
