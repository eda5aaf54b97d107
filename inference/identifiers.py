"""The identifiers a radiologist matches a result with the PACS by: patient ID, accession number,
study date, Study and Series Instance UIDs. Shown in the report and JSON, copied into DICOM results.

The patient's name is deliberately not here: the JSON and the logs never carry it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from inference.study import Image


def formatted_date(dicom_date: str) -> str:
    """'20200131' -> '2020-01-31'; anything that is not a DICOM date comes back as written."""
    try:
        return datetime.datetime.strptime(dicom_date.strip(), "%Y%m%d").date().isoformat()
    except ValueError:
        return dicom_date.strip()


def dicom_uid(uid: str) -> str:
    """The UID as in the files: the scan marks a split series 'UID#2', and a PNG's stand-in is no UID at all."""
    base = uid.split("#", 1)[0]
    return "" if base.startswith(("file-", "no-series-uid")) else base


@dataclass(frozen=True)
class StudyIdentifiers:
    patient_id: str
    accession_number: str
    study_date: str
    study_uid: str
    series_uid: str

    def to_json(self) -> dict:
        return {
            "patient_id": self.patient_id or None,
            "accession_number": self.accession_number or None,
            "study_date": formatted_date(self.study_date) or None,
            "study_instance_uid": self.study_uid or None,
            "series_instance_uid": self.series_uid or None,
        }

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for a report, a dash where the header says nothing."""
        dash = "\u2014"
        return [
            ("Patient ID", self.patient_id or dash),
            ("Accession number", self.accession_number or dash),
            ("Study date", formatted_date(self.study_date) or dash),
            ("Study Instance UID", self.study_uid or dash),
            ("Series Instance UID", self.series_uid or dash),
        ]


def study_identifiers(image: Image) -> StudyIdentifiers:
    info = image.info
    series = image.uid
    return StudyIdentifiers(info.patient_id, info.accession_number, info.study_date, info.study_uid, dicom_uid(series))
