"""The lung mask and the Grad-CAM maps as DICOM Segmentations on the source images' grid.

The lung mask is a BINARY SEG with two segments, right and left lung, coded in SNOMED CT as the
segmentation IOD asks. Each model's Grad-CAMs are one FRACTIONAL SEG with a segment per class (a
map in [0, 1] stored as 0..255, the resolution the viewer keeps them at); slices the model did not
look at are left out as empty frames. The mask is 1 bit per pixel (binary SEG is never compressed);
the CAMs are JPEG-LS lossless: a CAM is smooth, so it packs several times smaller than raw bytes.
"""

from __future__ import annotations

import highdicom as hd
import numpy as np
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import JPEGLSLossless

from inference.dicom_out.sources import EQUIPMENT, SERIES_NUMBERS, SourceImages, series_description
from inference.pipelines.results import LungMask, ModelOpinion

ANATOMICAL_STRUCTURE = Code("91723000", "SCT", "Anatomical Structure")
LUNGS = {1: ("Right lung", Code("3341006", "SCT", "Right lung")), 2: ("Left lung", Code("44029006", "SCT", "Left lung"))}
# Where a model looked is no anatomy and no finding: a LungLens code says what the map is.
SALIENCY_CATEGORY = Code("130400", "DCM", "Geometric Figure")
LUNGLENS_SCHEME = "99LUNGLENS"


def _algorithm(name: str, version: str) -> hd.AlgorithmIdentificationSequence:
    return hd.AlgorithmIdentificationSequence(name=name[:64], version=version[:64] or "unversioned",
                                              family=codes.cid7162.ArtificialIntelligence)


def _projection_fixes(seg: hd.seg.Segmentation, sources: SourceImages) -> hd.seg.Segmentation:
    """A SEG on a radiograph has no frame of reference: the IOD then wants PatientOrientation (type
    2C), and highdicom cannot read back a Pixel Measures item without a SliceThickness, which a
    projection has none of; the spacing stays in the source image it refers to."""
    if "FrameOfReferenceUID" not in seg:
        seg.PatientOrientation = sources.first.get("PatientOrientation", "")
        shared = seg.SharedFunctionalGroupsSequence[0]
        if "PixelMeasuresSequence" in shared and "SliceThickness" not in shared.PixelMeasuresSequence[0]:
            del shared.PixelMeasuresSequence
    return seg


def _frames(sources: SourceImages, array: np.ndarray) -> np.ndarray:
    """(slices, rows, columns[, segments]) for CT, (1, rows, columns[, ...]) for a radiograph."""
    return array if len(sources.datasets) > 1 or array.ndim == 4 else array[None]


def lung_mask_segmentation(mask: LungMask, sources: SourceImages) -> hd.seg.Segmentation:
    """The lung mask (labels 1 right, 2 left) as a BINARY SEG referencing every source image."""
    algorithm = _algorithm(mask.model_id or f"{mask.source} lung segmentation", mask.version)
    present = [label for label in LUNGS if (mask.labels == label).any()]
    segments = [
        hd.seg.SegmentDescription(
            segment_number=number, segment_label=LUNGS[label][0], segmented_property_category=ANATOMICAL_STRUCTURE,
            segmented_property_type=LUNGS[label][1], algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
        )
        for number, label in enumerate(present, start=1)
    ]
    labels = np.zeros(mask.labels.shape, dtype=np.uint8)
    for number, label in enumerate(present, start=1):
        labels[mask.labels == label] = number
    return _projection_fixes(hd.seg.Segmentation(
        source_images=list(sources.datasets), pixel_array=_frames(sources, labels),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=segments,
        series_instance_uid=hd.UID(), series_number=SERIES_NUMBERS["seg"], sop_instance_uid=hd.UID(), instance_number=1,
        series_description=series_description("lung mask"), content_label="LUNGMASK",
        **EQUIPMENT,
    ), sources)


def cam_segmentation(opinion: ModelOpinion, sources: SourceImages, series_uid: str, instance_number: int = 1) -> hd.seg.Segmentation:
    """One model's Grad-CAM of every class as a FRACTIONAL SEG (a segment per class), an instance of
    the Grad-CAM series ``series_uid`` that all models of one analysis share."""
    algorithm = _algorithm(opinion.model_id, opinion.version)
    segments = [
        hd.seg.SegmentDescription(
            segment_number=k, segment_label=f"Grad-CAM {cls}"[:64], segmented_property_category=SALIENCY_CATEGORY,
            segmented_property_type=Code(f"GRADCAM-{k}", LUNGLENS_SCHEME, f"Grad-CAM of class {cls}"[:64]),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm_identification=algorithm,
        )
        for k, cls in enumerate(opinion.classes, start=1)
    ]
    maps = np.stack([opinion.cam_volume(k) for k in range(len(opinion.classes))], axis=-1).astype(np.float32) / 255.0
    return _projection_fixes(hd.seg.Segmentation(
        source_images=list(sources.datasets), pixel_array=_frames(sources, maps),
        segmentation_type=hd.seg.SegmentationTypeValues.FRACTIONAL, segment_descriptions=segments,
        series_instance_uid=series_uid, series_number=SERIES_NUMBERS["cam"], sop_instance_uid=hd.UID(),
        instance_number=instance_number, series_description=series_description("Grad-CAM maps"),
        content_label="GRADCAM", content_description=f"Grad-CAM of {opinion.model_id} {opinion.version}"[:64],
        transfer_syntax_uid=JPEGLSLossless, **EQUIPMENT,
    ), sources)
