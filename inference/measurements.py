"""A reader's measurements and annotations (lengths, angles, ROIs, probes, arrows, text) as plain records, so the report, the JSON and the DICOM
SR can carry them without knowing anything about the viewer that drew them.

Points are image pixel coordinates (column, row) on one array slice, the convention of DICOM
SCOORD; ``plane`` says which pane they were drawn on (only axial and projection measurements lie on
a source image and can point at it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from inference.slice_numbers import SliceNumbering

KINDS = ("length", "angle", "ellipse", "rectangle", "freehand", "arrow", "text", "point")
ON_SOURCE_IMAGE = ("axial", "projection")


@dataclass(frozen=True)
class Measurement:
    kind: str
    plane: str
    slice_index: int
    points: tuple[tuple[float, float], ...]
    unit: str  # "mm", or "px" where the pixel spacing is unknown
    length: float | None = None
    angle: float | None = None  # degrees, at the middle of three points
    value: float | None = None  # under a point probe
    area: float | None = None
    mean: float | None = None
    sd: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    value_unit: str = ""  # "HU" for CT
    note: str = ""  # the reader's words on a text annotation or an arrow

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown measurement {self.kind!r}; one of {', '.join(KINDS)}")

    @property
    def on_source_image(self) -> bool:
        return self.plane in ON_SOURCE_IMAGE

    def where(self, numbering: SliceNumbering) -> str:
        if self.plane == "projection":
            return "image"
        if self.plane == "axial":
            return f"slice {numbering.label(self.slice_index)}"
        return self.plane

    def text(self) -> str:
        if self.kind == "length":
            return f"{self.length:.1f} {self.unit}"
        if self.kind == "angle":
            return f"{self.angle:.1f}\u00b0"
        if self.kind == "point":
            return f"{self.value:.0f} {self.value_unit}".rstrip() if self.value_unit else f"value {self.value:g}"
        if self.kind in ("arrow", "text"):
            return f"{self.kind}: {self.note}" if self.note else self.kind
        stats = "" if self.mean is None or math.isnan(self.mean) else (
            f", mean {self.mean:.1f} SD {self.sd:.1f} {self.value_unit}".rstrip() + f", min {self.minimum:.0f} max {self.maximum:.0f}"
        )
        return f"{self.kind} area {self.area:.1f} {self.unit}\u00b2{stats}"

    def to_json(self, numbering: SliceNumbering) -> dict:
        on_slice = self.plane == "axial" and self.slice_index < numbering.count
        return {
            "kind": self.kind,
            "plane": self.plane,
            "slice": numbering.number(self.slice_index) if on_slice else None,
            "sop_instance_uid": numbering.sop_uids[self.slice_index] if on_slice and numbering.sop_uids else None,
            "points_column_row": [list(p) for p in self.points],
            "unit": self.unit,
            "length": self.length,
            "angle_deg": self.angle,
            "value": self.value,
            "area": self.area,
            "mean": self.mean,
            "sd": self.sd,
            "min": self.minimum,
            "max": self.maximum,
            "value_unit": self.value_unit or None,
            "note": self.note or None,
        }
