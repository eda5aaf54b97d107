"""The analysis as a TID 1500 Measurement Report (Comprehensive 3D SR), readable by any SR viewer.

One measurement group per model (its verdict as a qualitative evaluation, the study probability and
the operating threshold as measurements, and the model's id, version and sha256 as the algorithm
identification), one for the consensus, one for the lungs (volumes, HU band shares, severity), and
one per reader measurement (pointing at the slice it was drawn on, with its outline). Concepts no
standard code names are coded in LungLens's own scheme (``99LUNGLENS``); ``inference.dicom_in.report``
reads them back.
"""

from __future__ import annotations

from collections.abc import Sequence

import highdicom as hd
import numpy as np
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from inference.dicom_out.segmentation import LUNGLENS_SCHEME, LUNGS
from inference.dicom_out.sources import EQUIPMENT, MANUFACTURER, SERIES_NUMBERS, SourceImages, series_description
from inference.measurements import Measurement as ReaderMeasurement
from inference.pipelines.results import StudyAnalysis
from inference.study import Modality
from inference.quantification import HU_BANDS

NO_UNITS = Code("1", "UCUM", "no units")
PERCENT = Code("%", "UCUM", "percent")
UNITS = {"mm": Code("mm", "UCUM", "millimeter"), "mm2": Code("mm2", "UCUM", "square millimeter"),
         "px": Code("{pixels}", "UCUM", "pixels"), "px2": Code("{pixels}", "UCUM", "pixels"),
         "HU": Code("[hnsf'U]", "UCUM", "Hounsfield unit"), "": NO_UNITS, "ml": Code("ml", "UCUM", "milliliter"),
         "deg": Code("deg", "UCUM", "degree")}
PROBABILITY = Code("PROBABILITY", LUNGLENS_SCHEME, "Probability of finding")
THRESHOLD = Code("THRESHOLD", LUNGLENS_SCHEME, "Operating threshold")
VERDICT = Code("VERDICT", LUNGLENS_SCHEME, "Model verdict")
CONSENSUS = Code("CONSENSUS", LUNGLENS_SCHEME, "Consensus of models")
POSITIVE_VOTES = Code("POSITIVE-VOTES", LUNGLENS_SCHEME, "Models with a positive verdict")
SEVERITY = Code("SEVERITY", LUNGLENS_SCHEME, "Lung share in -750..0 HU")
WHOLE_LUNGS = Code("39607008", "SCT", "Lung")
READER = {"length": Code("410668003", "SCT", "Length"), "area": Code("42798000", "SCT", "Area"),
          "angle": Code("1483009", "SCT", "Angle"), "value": Code("112031", "DCM", "Attenuation Coefficient"),
          "mean": Code("373098007", "SCT", "Mean"), "sd": Code("386136009", "SCT", "Standard deviation"),
          "minimum": Code("255605001", "SCT", "Minimum"), "maximum": Code("56851009", "SCT", "Maximum")}
CT_CHEST = Code("24627-2", "LN", "CT Chest")
XR_CHEST = Code("36643-5", "LN", "XR Chest 2V")


def label_code(label: str) -> Code:
    return Code(label.upper().replace(" ", "-")[:16], LUNGLENS_SCHEME, label[:64])


def _tracking(identifier: str) -> hd.sr.TrackingIdentifier:
    return hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=identifier[:64])


def _model_groups(analysis: StudyAnalysis) -> list:
    groups = []
    for opinion in analysis.opinions:
        verdict = opinion.verdict
        algorithm = hd.sr.AlgorithmIdentification(name=opinion.model_id, version=opinion.version or "unversioned",
                                                  parameters=[f"sha256 {opinion.sha256}", f"method {opinion.method}"])
        measurements = []
        if verdict.probability is not None and np.isfinite(verdict.probability):
            measurements.append(hd.sr.Measurement(name=PROBABILITY, value=float(verdict.probability), unit=NO_UNITS,
                                                  algorithm_id=algorithm))
        if verdict.threshold is not None:
            measurements.append(hd.sr.Measurement(name=THRESHOLD, value=float(verdict.threshold), unit=NO_UNITS))
        evaluations = [hd.sr.QualitativeEvaluation(VERDICT, label_code(verdict.label))] if verdict.label else []
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=_tracking(f"model {opinion.model_id}"), algorithm_id=algorithm,
            measurements=measurements or None, qualitative_evaluations=evaluations or None,
        ))
    return groups


def _consensus_group(analysis: StudyAnalysis) -> list:
    consensus = analysis.consensus
    if consensus is None or not consensus.voters or consensus.label is None:
        return []
    return [hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking("consensus"),
        measurements=[hd.sr.Measurement(name=POSITIVE_VOTES, value=float(consensus.positive_votes), unit=NO_UNITS)],
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(CONSENSUS, label_code(consensus.label))],
    )]


def _lung_group(analysis: StudyAnalysis) -> list:
    lung = analysis.lung
    if lung is None:
        return []
    sites = {"right": LUNGS[1][1], "left": LUNGS[2][1], "total": WHOLE_LUNGS}
    measurements = []
    for side, site in sites.items():
        where = [hd.sr.FindingSite(anatomic_location=site)]
        if np.isfinite(lung.volume_ml[side]):
            measurements.append(hd.sr.Measurement(name=codes.SCT.Volume, value=float(lung.volume_ml[side]),
                                                  unit=UNITS["ml"], finding_sites=where))
        for band in HU_BANDS:
            share = lung.hu_bands[band][side]
            if np.isfinite(share):
                name = Code(f"HU{band}"[:16], LUNGLENS_SCHEME, f"Lung share in {band} HU")
                measurements.append(hd.sr.Measurement(name=name, value=100.0 * float(share), unit=PERCENT, finding_sites=where))
    if np.isfinite(lung.severity_percent):
        measurements.append(hd.sr.Measurement(name=SEVERITY, value=float(lung.severity_percent), unit=PERCENT))
    return [hd.sr.MeasurementsAndQualitativeEvaluations(tracking_identifier=_tracking("lungs"), measurements=measurements)]


_GRAPHIC = {"length": hd.sr.GraphicTypeValues.POLYLINE, "angle": hd.sr.GraphicTypeValues.POLYLINE,
            "ellipse": hd.sr.GraphicTypeValues.ELLIPSE, "rectangle": hd.sr.GraphicTypeValues.POLYLINE,
            "freehand": hd.sr.GraphicTypeValues.POLYLINE, "point": hd.sr.GraphicTypeValues.POINT}


def _reader_group(index: int, measurement: ReaderMeasurement, sources: SourceImages) -> hd.sr.MeasurementsAndQualitativeEvaluations | None:
    """A group per measured annotation; arrows and text measure nothing (the report and JSON keep them): None."""
    values = {"length": (measurement.length, measurement.unit), "angle": (measurement.angle, "deg"),
              "value": (measurement.value if measurement.value_unit == "HU" else None, "HU"),
              "area": (measurement.area, f"{measurement.unit}2"),
              "mean": (measurement.mean, measurement.value_unit), "sd": (measurement.sd, measurement.value_unit),
              "minimum": (measurement.minimum, measurement.value_unit), "maximum": (measurement.maximum, measurement.value_unit)}
    measured = {key: (value, unit) for key, (value, unit) in values.items() if value is not None and np.isfinite(value)}
    if not measured:
        return None
    coordinates = None
    if measurement.on_source_image and measurement.slice_index < len(sources.datasets):
        source = hd.sr.SourceImageForRegion.from_source_image(sources.datasets[measurement.slice_index])
        coordinates = [hd.sr.CoordinatesForMeasurement(
            graphic_type=_GRAPHIC[measurement.kind], graphic_data=np.asarray(measurement.points, dtype=float), source_image=source,
        )]
    items = [
        hd.sr.Measurement(name=READER[key], value=float(value), unit=UNITS[unit], referenced_coordinates=coordinates)
        for key, (value, unit) in measured.items()
    ]
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(f"reader measurement {index} ({measurement.kind})"), measurements=items,
    )


def measurement_report(
    analysis: StudyAnalysis, sources: SourceImages, measurements: Sequence[ReaderMeasurement] = ()
) -> hd.sr.Comprehensive3DSR:
    """The TID 1500 report of ``analysis`` and the reader's ``measurements``, citing the source images."""
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="LungLens", manufacturer_name=MANUFACTURER, model_name=EQUIPMENT["manufacturer_model_name"],
        ),
    )
    groups = [*_model_groups(analysis), *_consensus_group(analysis), *_lung_group(analysis)]
    groups += [g for i, m in enumerate(measurements, start=1) if (g := _reader_group(i, m, sources)) is not None]
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=CT_CHEST if analysis.modality == Modality.CT else XR_CHEST,
        imaging_measurements=groups,
    )
    return hd.sr.Comprehensive3DSR(
        evidence=sources.unique, content=report[0], series_instance_uid=hd.UID(), series_number=SERIES_NUMBERS["sr"],
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer=MANUFACTURER,
        series_description=series_description("measurement report"), is_complete=True,
    )

