"""Which open image a DICOM result refers to: by the SOP instances it cites, so a series the scan
split in two (``uid#1``, ``uid#2``) gets the results of its own slices only."""

from __future__ import annotations

from collections.abc import Sequence

import pydicom

from inference.study import CTVolume, DicomResult, Image


class DicomInError(ValueError):
    """A DICOM result cannot be read or placed; the message says why."""


def image_instances(image: Image) -> set[str]:
    """The SOPInstanceUIDs behind ``image`` (none for a PNG or a volume file)."""
    if isinstance(image, CTVolume):
        return set(image.sop_uids)
    if not image.source_file:
        return set()
    try:
        ds = pydicom.dcmread(image.source_file, stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
    except (OSError, pydicom.errors.InvalidDicomError):
        return set()
    return {str(ds.get("SOPInstanceUID", ""))} - {""}


def cited_instances(result: DicomResult) -> set[str]:
    """The SOPInstanceUIDs a SEG (Referenced Series) or an SR (its evidence) names."""
    try:
        ds = pydicom.dcmread(result.path, stop_before_pixels=True)
    except (OSError, pydicom.errors.InvalidDicomError) as exc:
        raise DicomInError(f"{result.path} cannot be read: {exc}") from exc
    sequences = [*ds.get("ReferencedSeriesSequence", [])]
    for evidence in (*ds.get("CurrentRequestedProcedureEvidenceSequence", []), *ds.get("PertinentOtherEvidenceSequence", [])):
        sequences += evidence.get("ReferencedSeriesSequence", [])
    cited = set()
    for series in sequences:
        items = [*series.get("ReferencedInstanceSequence", []), *series.get("ReferencedSOPSequence", [])]
        cited |= {str(item.get("ReferencedSOPInstanceUID", "")) for item in items}
    return cited - {""}


def referenced_image(result: DicomResult, images: Sequence[Image]) -> Image | None:
    """The open image most of whose instances ``result`` cites; None when it cites none of them."""
    cited = cited_instances(result)
    overlaps = [(len(cited & image_instances(image)), index) for index, image in enumerate(images)]
    best = max(overlaps, default=(0, -1))
    return images[best[1]] if best[0] else None
