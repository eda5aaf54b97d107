"""The report as an Encapsulated PDF and key images as Secondary Capture, in the source study.

highdicom has no Encapsulated PDF class, so that one is built on its ``SOPClass`` base (which fills
the patient, study, series and equipment modules from the source) plus the Encapsulated Document
module; the Secondary Capture is highdicom's ``SCImage``.
"""

from __future__ import annotations

import datetime

import highdicom as hd
import numpy as np
from pydicom.uid import EncapsulatedPDFStorage, ExplicitVRLittleEndian

from inference.dicom_out.sources import EQUIPMENT, SERIES_NUMBERS, SourceImages, series_description

REPORT_TITLE = "LungLens report (research use)"
_PATIENT_STUDY = ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
                  "StudyDate", "StudyTime", "ReferringPhysicianName")


def _patient_and_study(source) -> dict:
    names = {"PatientID": "patient_id", "PatientName": "patient_name", "PatientBirthDate": "patient_birth_date",
             "PatientSex": "patient_sex", "AccessionNumber": "accession_number", "StudyID": "study_id",
             "StudyDate": "study_date", "StudyTime": "study_time", "ReferringPhysicianName": "referring_physician_name"}
    return {names[k]: source.get(k) or None for k in _PATIENT_STUDY}


def encapsulated_pdf(pdf: bytes, sources: SourceImages) -> hd.SOPClass:
    """``pdf`` as an Encapsulated PDF instance of the source study, in a new series."""
    source = sources.first
    now = datetime.datetime.now()
    ds = hd.SOPClass(
        study_instance_uid=source.StudyInstanceUID, series_instance_uid=hd.UID(), series_number=SERIES_NUMBERS["pdf"],
        sop_instance_uid=hd.UID(), sop_class_uid=EncapsulatedPDFStorage, instance_number=1, modality="DOC",
        transfer_syntax_uid=ExplicitVRLittleEndian, series_description=series_description("report"),
        content_date=now.date(), content_time=now.time(), **EQUIPMENT, **_patient_and_study(source),
    )
    ds.ConversionType = "WSD"
    ds.BurnedInAnnotation = "YES"  # the report names the patient
    ds.DocumentTitle = REPORT_TITLE
    ds.ConceptNameCodeSequence = [hd.sr.CodedConcept(value="18748-4", scheme_designator="LN", meaning="Diagnostic imaging report")]
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.SourceInstanceSequence = [hd.ReferencedImageSequence(referenced_images=sources.unique[:1])[0]] if sources.unique else []
    return ds


def key_image(picture: np.ndarray, sources: SourceImages, series_uid: str, instance_number: int, caption: str) -> hd.sc.SCImage:
    """An RGB picture (a key slice with its Grad-CAM, as the report shows it) as a Secondary Capture."""
    source = sources.first
    image = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=source, pixel_array=np.ascontiguousarray(picture, dtype=np.uint8),
        photometric_interpretation=hd.PhotometricInterpretationValues.RGB, bits_allocated=8,
        coordinate_system=hd.CoordinateSystemNames.PATIENT, series_instance_uid=series_uid,
        series_number=SERIES_NUMBERS["key_images"], sop_instance_uid=hd.UID(), instance_number=instance_number,
        manufacturer=EQUIPMENT["manufacturer"], series_description=series_description("key images"),
        patient_orientation=("L", "P"),
    )
    image.ImageComments = caption[:10240]
    image.DerivationDescription = caption[:1024]
    image.BurnedInAnnotation = "NO"
    image.Laterality = ""  # type 2C: a chest is not a paired organ, but the attribute must be there
    return image
