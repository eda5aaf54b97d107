"""A DICOM SEG placed on the image it segments: array slice by array slice, matched by the source
SOPInstanceUID each frame cites (not by position), so it lands exactly where it was drawn.

A BINARY or LABELMAP SEG becomes one label array (segment numbers as values; the right and left
lung, whatever their numbers, take the lung-mask contract's 1 and 2, so they keep their colours);
a FRACTIONAL SEG (e.g. LungLens's Grad-CAMs) gives one [0, 1] map per segment as uint8 steps
(255 = 1.0). Segments are decoded when asked for: maps of many classes would cost gigabytes at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import highdicom as hd
import numpy as np

from inference.dicom_in.objects import DicomInError, image_instances
from inference.dicom_out.sources import MANUFACTURER
from inference.study import CTVolume, DicomResult, Image

# SNOMED CT right and left lung -> the lung-mask contract's labels.
LUNG_LABELS = {"3341006": 1, "44029006": 2}


@dataclass(frozen=True)
class Segment:
    number: int
    label: str
    code: str  # the segmented property type's code value (SNOMED CT for anatomy)


class PlacedSegmentation:
    """One SEG on one open image. Use it on the thread that made it: highdicom indexes the frames in
    an SQLite table that cannot cross threads (``segment_fraction`` reads on the caller's thread)."""

    def __init__(self, result: DicomResult, image: Image) -> None:
        self.result = result
        try:
            self.seg = hd.seg.segread(result.path)
        except Exception as exc:  # highdicom raises many kinds on a damaged or foreign SEG
            raise DicomInError(f"{result.path} is not a SEG LungLens can read ({type(exc).__name__}: {exc})") from exc
        self.image = image
        order = list(image.sop_uids) if isinstance(image, CTVolume) else sorted(image_instances(image))
        cited = {uids[2] for uids in self.seg.get_source_image_uids()}
        self.rows = [index for index, uid in enumerate(order) if uid in cited]
        self.uids = [order[index] for index in self.rows]
        if not self.uids:
            raise DicomInError(f"{result.path} segments none of the open image's slices")
        size = (int(self.seg.Rows), int(self.seg.Columns))
        if size != tuple(image.shape[-2:]):
            raise DicomInError(f"{result.path} is {size[1]} x {size[0]} pixels but the image is "
                               f"{image.shape[-1]} x {image.shape[-2]}")
        self.segments = tuple(
            Segment(int(item.SegmentNumber), str(item.get("SegmentLabel", "")),
                    str(item.SegmentedPropertyTypeCodeSequence[0].CodeValue) if item.get("SegmentedPropertyTypeCodeSequence") else "")
            for item in self.seg.SegmentSequence
        )
        self.title = str(self.seg.get("SeriesDescription") or self.seg.get("ContentLabel") or "DICOM SEG")
        # What this instance holds; a series of Grad-CAM SEGs says per model in its content description.
        self.name = str(self.seg.get("ContentDescription") or self.title)
        self.by_lunglens = self.seg.get("Manufacturer") == MANUFACTURER

    @property
    def fractional(self) -> bool:
        return self.seg.SegmentationType == "FRACTIONAL"

    def _frames(self, segment_numbers: list[int]) -> np.ndarray:
        """(cited slices, rows, columns, segments)."""
        try:
            return self.seg.get_pixels_by_source_instance(
                self.uids, segment_numbers=segment_numbers, ignore_spatial_locations=True,
                assert_missing_frames_are_empty=True, dtype=np.float32 if self.fractional else np.uint8,
            )
        except (ValueError, RuntimeError, KeyError) as exc:
            raise DicomInError(f"the SEG's frames cannot be placed on the image: {exc}") from exc

    def _on_image(self, frames: np.ndarray) -> np.ndarray:
        placed = np.zeros(self.image.shape, dtype=np.uint8)
        if placed.ndim == 3:
            placed[self.rows] = frames
        else:
            placed[...] = frames[0]
        return placed

    def labels(self) -> tuple[np.ndarray, dict[int, str]]:
        """All segments as one label array on the image grid, and what each value means; where
        segments overlap, the later one is shown."""
        values = {s.number: LUNG_LABELS.get(s.code, s.number) for s in self.segments}
        if len(set(values.values())) < len(values):  # two right lungs, or a lung code beside a segment 1 or 2
            values = {s.number: s.number for s in self.segments}
        frames = self._frames([s.number for s in self.segments])
        combined = np.zeros(frames.shape[:-1], dtype=np.uint8)
        for channel, segment in enumerate(self.segments):
            combined[frames[..., channel] > 0] = values[segment.number]
        return self._on_image(combined), {values[s.number]: s.label for s in self.segments}

    def fraction(self, number: int) -> np.ndarray:
        """Segment ``number`` of a FRACTIONAL SEG as uint8 steps on the image grid (255 = 1.0)."""
        frames = self._frames([number])[..., 0]
        return self._on_image(np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8))


def segment_fraction(result: DicomResult, image: Image, number: int) -> np.ndarray:
    """Segment ``number`` of a fractional SEG on ``image``, read on the calling thread (a layer shown
    later decodes it then, wherever that is)."""
    return PlacedSegmentation(result, image).fraction(number)
