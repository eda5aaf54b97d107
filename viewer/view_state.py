"""What every pane of one open image shares: the image, the window, inversion, the cursor, the layers
and the reader's annotations.

Panes of one image stay in step through this object (MPR crosshair, synced window/level). A compare
mode can give several panes one ViewState but each pane its own LayerList.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PySide6.QtCore import QObject, Signal

from inference.slice_numbers import SliceNumbering, slice_numbering
from inference.study import CTVolume, Image, Window, XRayImage
from viewer.logic.annotations.model import AnnotationList
from viewer.logic.display import full_range_window
from viewer.logic.layers import LayerList


@dataclass(frozen=True)
class HoverInfo:
    """The voxel under the mouse: array index, its value, for CT its patient (LPS) position in mm and the
    number of its axial slice as the panes and a PACS show it. Shown 1-based, like every number on screen."""

    plane: str
    index: tuple[int, ...]
    value: float
    unit: str
    patient_mm: tuple[float, float, float] | None = None
    slice_number: int | None = None

    def text(self) -> str:
        value = f"{self.value:.0f} {self.unit}" if self.unit else f"{self.value:g}"
        row, column = self.index[-2:]
        where = f"row {row + 1}, column {column + 1}"
        if self.slice_number is not None:
            where = f"slice {self.slice_number}, {where}"
        text = f"{value}   {where}"
        if self.patient_mm is not None:
            lps = ", ".join(f"{v:.1f}" for v in self.patient_mm)
            text += f"   LPS ({lps}) mm"
        return text


class ImageSource:
    """An opened image seen the same way for CT and X-ray: values, spacing, default window, unit."""

    def __init__(self, image: Image) -> None:
        self.image = image
        self.is_ct = isinstance(image, CTVolume)
        self.values: np.ndarray = image.values
        self.spacing: tuple[float, ...] | None = image.spacing
        self.unit = "HU" if self.is_ct else ""
        self.header_window: Window | None = image.header_window
        # the series opens in its header's window where it has one (preset 0), else the loader's default
        self.default_window: Window = image.header_window or image.default_window
        self.default_invert = bool(image.invert) if isinstance(image, XRayImage) else False

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    @property
    def spacing_known(self) -> bool:
        return self.spacing is not None and all(s > 0 for s in self.spacing)

    @cached_property
    def full_range(self) -> Window:
        return full_range_window(self.values)

    def patient_mm(self, index: tuple[int, ...]) -> tuple[float, float, float] | None:
        """LPS position of a voxel; the slice's own ImagePositionPatient is used so uneven spacing is honoured."""
        if not isinstance(self.image, CTVolume):
            return None
        z, y, x = index
        volume = self.image
        positions = np.asarray(volume.slice_positions, dtype=float)
        if positions.shape == (volume.shape[0], 3):
            sy, sx = volume.spacing[1], volume.spacing[2]
            in_plane = np.asarray(volume.direction, dtype=float)[:, :2] @ np.array([x * sx, y * sy])
            return tuple(float(v) for v in positions[z] + in_plane)  # type: ignore[return-value]
        return tuple(float(v) for v in volume.voxel_to_patient(z, y, x))  # type: ignore[return-value]

    @cached_property
    def numbering(self) -> SliceNumbering:
        """The slice numbers a PACS shows (InstanceNumber, else head to foot), per array slice."""
        return slice_numbering(self.image)

    def value_at(self, index: tuple[int, ...]) -> float:
        return float(self.values[index])

    @property
    def patient_orientation(self) -> tuple[str, ...]:
        """A radiograph's PatientOrientation as the loader read it, () when unknown (and for CT)."""
        return () if self.is_ct else self.image.patient_orientation


class ViewState(QObject):
    imageChanged = Signal()
    windowChanged = Signal()
    cursorChanged = Signal()

    def __init__(self, layers: LayerList | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.source: ImageSource | None = None
        self.layers = layers if layers is not None else LayerList()
        self.annotations = AnnotationList()
        self.window = Window(1500.0, -600.0)
        self.invert = False
        self.cursor: tuple[int, ...] = (0, 0, 0)

    @property
    def image(self) -> Image | None:
        """The image shown (a loading series' quick look too), None when there is none."""
        return self.source.image if self.source is not None else None

    def set_image(self, image: Image | None) -> None:
        """Show a new image: default window, cursor at its centre, layers and annotations dropped (they
        belonged to the old one; ``viewer.annotations.session`` brings back what was kept for this one)."""
        self.source = ImageSource(image) if image is not None else None
        if self.source is not None:
            self.window = self.source.default_window
            self.invert = self.source.default_invert
            self.cursor = tuple(n // 2 for n in self.source.shape)
        self.layers.reset(self.source.shape if self.source else None)
        self.annotations.reset()
        self.imageChanged.emit()

    def set_window(self, window: Window) -> None:
        self.window = Window(max(float(window.width), 1e-3), float(window.level))
        self.windowChanged.emit()

    def set_invert(self, invert: bool) -> None:
        self.invert = bool(invert)
        self.windowChanged.emit()

    def set_cursor(self, index: tuple[int, ...]) -> None:
        if self.source is None:
            return
        clipped = tuple(int(min(max(i, 0), n - 1)) for i, n in zip(index, self.source.shape))
        if clipped != self.cursor:
            self.cursor = clipped
            self.cursorChanged.emit()
