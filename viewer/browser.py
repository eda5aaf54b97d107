"""The study browser: patient > study > series, each series with a thumbnail, its geometry and warnings."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

from inference.study import CTVolume, Image, PatientStudyInfo, SeriesHeader

_KEY = Qt.ItemDataRole.UserRole
_WARNING_COLOUR = QColor("#f0a030")


def _icon(grey: np.ndarray) -> QIcon:
    grey = np.ascontiguousarray(grey, dtype=np.uint8)
    qimage = QImage(grey.data, grey.shape[1], grey.shape[0], grey.shape[1], QImage.Format.Format_Grayscale8)
    return QIcon(QPixmap.fromImage(qimage.copy()))


def series_summary(image: Image) -> str:
    """'CT  120 slices  0.70 x 0.70 x 1.25 mm' or 'XR  2048 x 2500' / '0.14 mm' (spacing unknown said so)."""
    if isinstance(image, CTVolume):
        z, y, x = image.spacing
        return f"{image.modality}  {image.shape[0]} slices\n{x:.2f} x {y:.2f} x {z:.2f} mm"
    rows, cols = image.shape
    spacing = f"{image.spacing[1]:.3f} x {image.spacing[0]:.3f} mm" if image.spacing else "spacing unknown"
    return f"{image.modality}  {cols} x {rows}\n{spacing}"


class StudyBrowser(QTreeWidget):
    """Series keyed by an int the main window assigns; activating a loaded series asks to show it."""

    seriesActivated = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(2)
        self.setHeaderLabels(["Series", "\u26a0"])
        self.setIconSize(QSize(64, 64))
        self.setUniformRowHeights(False)
        self.setRootIsDecorated(True)
        self.header().setStretchLastSection(False)
        self.header().resizeSection(1, 36)
        self.header().setSectionResizeMode(0, self.header().ResizeMode.Stretch)
        self._series: dict[int, QTreeWidgetItem] = {}
        self._loaded: set[int] = set()
        self.itemActivated.connect(self._on_item)
        self.itemClicked.connect(self._on_item)

    def clear_studies(self) -> None:
        self.clear()
        self._series.clear()
        self._loaded.clear()

    def is_loaded(self, key: int) -> bool:
        return key in self._loaded

    def add_header(self, key: int, header: SeriesHeader) -> None:
        """A series known from the header scan, pixels still loading."""
        frames = max(header.frames, len(header.files))
        item = self._series_item(key, header.info)
        item.setText(0, f"{header.description or '(no description)'}\n{header.modality}  {frames} images  loading\u2026")
        item.setForeground(0, QBrush(QColor("#7d8590")))
        self._set_warnings(item, header.warnings)

    def set_loaded(self, key: int, image: Image, thumbnail: np.ndarray) -> None:
        item = self._series_item(key, image.info)
        item.setText(0, f"{image.description or '(no description)'}\n{series_summary(image)}")
        item.setForeground(0, QBrush(QColor("#d5d9de")))
        item.setIcon(0, _icon(thumbnail))
        item.setToolTip(0, f"{image.description}\n{series_summary(image)}\nUID {image.uid}")
        self._set_warnings(item, image.warnings)
        self._loaded.add(key)

    def set_failed(self, key: int, message: str) -> None:
        item = self._series[key]
        item.setText(0, item.text(0).split("\n")[0] + "\nnot loaded")
        item.setForeground(0, QBrush(QColor("#e06060")))
        self._set_warnings(item, (message,))

    def set_current(self, key: int) -> None:
        if key in self._series:
            self.setCurrentItem(self._series[key])

    def warning_text(self, key: int) -> str:
        return self._series[key].toolTip(1)

    def _series_item(self, key: int, info: PatientStudyInfo) -> QTreeWidgetItem:
        if key in self._series:
            return self._series[key]
        patient = self._child(self.invisibleRootItem(), f"{info.patient_name or 'Anonymous'}"
                              + (f"  ({info.patient_id})" if info.patient_id else ""))
        study_text = "  ".join(t for t in (_date(info.study_date), info.study_description) if t) or "Study"
        study = self._child(patient, study_text, info.study_uid)
        item = QTreeWidgetItem(study)
        item.setData(0, _KEY, key)
        self._series[key] = item
        self.expandAll()
        return item

    def _child(self, parent: QTreeWidgetItem, text: str, uid: str = "") -> QTreeWidgetItem:
        for i in range(parent.childCount()):
            child = parent.child(i)
            if child.text(0) == text and child.data(0, _KEY) is None and child.data(1, _KEY) == uid:
                return child
        child = QTreeWidgetItem(parent, [text])
        child.setData(1, _KEY, uid)
        return child

    def _set_warnings(self, item: QTreeWidgetItem, warnings: tuple[str, ...]) -> None:
        item.setText(1, f"\u26a0 {len(warnings)}" if warnings else "")
        item.setForeground(1, QBrush(_WARNING_COLOUR))
        item.setToolTip(1, "\n".join(f"\u2022 {w}" for w in warnings))

    def _on_item(self, item: QTreeWidgetItem) -> None:
        key = item.data(0, _KEY)
        if key is not None and key in self._loaded:
            self.seriesActivated.emit(int(key))


def _date(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 and value.isdigit() else value
