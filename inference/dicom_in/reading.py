"""One line-by-line reading of each SEG or SR in a study, for ``lunglens info`` and the viewer's
panel: what it is, which open image it belongs to, and its segments or findings. A result that
cannot be read or placed is listed with why, never raised."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from inference.dicom_in.objects import DicomInError, referenced_image
from inference.dicom_in.report import read_report
from inference.dicom_in.segmentation import PlacedSegmentation
from inference.study import DicomResult, Image, ResultKind


def image_uid(image: Image) -> str:
    return image.uid


@dataclass(frozen=True)
class ResultReading:
    result: DicomResult
    title: str
    image: Image | None  # the open image it refers to
    lines: tuple[str, ...]  # its segments, or its findings
    by_lunglens: bool = False
    problem: str = ""  # why it was not read or placed

    def as_json(self) -> dict:
        return {"path": self.result.path, "kind": self.result.kind.value, "title": self.title,
                "series": image_uid(self.image) if self.image is not None else None, "by_lunglens": self.by_lunglens,
                "lines": list(self.lines), "problem": self.problem}


def read_result(result: DicomResult, images: Sequence[Image]) -> ResultReading:
    kind = "DICOM SEG" if result.kind == ResultKind.SEGMENTATION else "DICOM SR"
    try:
        image = referenced_image(result, images)
        if result.kind == ResultKind.REPORT:
            report = read_report(result.path)
            problem = "" if image is not None else "refers to no open image"
            return ResultReading(result, report.title, image, tuple(report.lines()), report.by_lunglens, problem)
        if image is None:
            return ResultReading(result, kind, None, (), problem="segments no open image")
        placed = PlacedSegmentation(result, image)
        kind_of = "fractional" if placed.fractional else "binary"
        lines = tuple(f"segment {s.number}: {s.label} ({kind_of})" for s in placed.segments)
        return ResultReading(result, placed.name, image, lines, placed.by_lunglens)
    except DicomInError as exc:
        return ResultReading(result, kind, None, (), problem=str(exc))
