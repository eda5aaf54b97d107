"""DICOM tags of the file behind the current slice: a tree with collapsible sequences and a filter box.

The header is read lazily (pydicom, no pixel data) only while the panel is shown, and once per file.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
from PySide6.QtWidgets import QLabel, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

_MAX_VALUE_CHARS = 160


def _value_text(element: pydicom.DataElement) -> str:
    if element.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN") and not isinstance(element.value, str):
        length = len(element.value) if element.value is not None else 0
        return f"<{length} bytes>"
    text = str(element.value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[:_MAX_VALUE_CHARS] + "\u2026"


def _add_dataset(parent: QTreeWidgetItem | QTreeWidget, dataset: pydicom.Dataset) -> None:
    for element in dataset:
        tag = f"({element.tag.group:04X},{element.tag.element:04X})"
        if element.VR == "SQ":
            item = QTreeWidgetItem(parent, [tag, element.keyword or element.name, f"{len(element.value)} item(s)", "SQ"])
            for number, child in enumerate(element.value, start=1):
                child_item = QTreeWidgetItem(item, ["", f"Item {number}", "", ""])
                _add_dataset(child_item, child)
        else:
            item = QTreeWidgetItem(parent, [tag, element.keyword or element.name, _value_text(element), str(element.VR)])
            item.setToolTip(2, f"{element.name}\n{item.text(2)}")


class TagBrowser(QWidget):
    """Shows one file's header; ``show_file`` is cheap when the file did not change."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path: str | None = None
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter by keyword, tag (0010,0010 or 00100010) or value")
        self.search.setClearButtonEnabled(True)
        self.source = QLabel()
        self.source.setWordWrap(True)
        self.source.setStyleSheet("color: #7d8590;")
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Tag", "Keyword", "Value", "VR"])
        self.tree.setColumnWidth(0, 112)
        self.tree.setColumnWidth(1, 170)
        self.tree.setColumnWidth(2, 220)
        self.tree.setAlternatingRowColors(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.source)
        layout.addWidget(self.tree, 1)
        self.search.textChanged.connect(self.apply_filter)

    def show_file(self, path: str | None) -> None:
        if path == self.path:
            return
        self.path = path
        self.tree.clear()
        if not path:
            self.source.setText("No DICOM file behind this image (opened from memory or a non-DICOM file).")
            return
        self.source.setText(path)
        try:
            dataset = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception as exc:  # a broken header is shown, not raised
            self.source.setText(f"{path}\ncould not be read: {type(exc).__name__}: {exc}")
            return
        if dataset.file_meta:
            meta = QTreeWidgetItem(self.tree, ["", "File meta information", "", Path(path).name])
            _add_dataset(meta, dataset.file_meta)
        _add_dataset(self.tree, dataset)
        self.apply_filter(self.search.text())

    def apply_filter(self, text: str) -> None:
        """Hide rows that do not match; keep the parents of matches visible and expanded."""
        needle = text.strip().lower()
        compact = needle.replace("(", "").replace(")", "").replace(",", "")
        root = self.tree.invisibleRootItem()
        for i in range(root.childCount()):
            self._filter(root.child(i), needle, compact)

    def _filter(self, item: QTreeWidgetItem, needle: str, compact: str) -> bool:
        own = (
            not needle
            or any(needle in item.text(c).lower() for c in range(4))
            or (compact and compact in item.text(0).lower().replace("(", "").replace(")", "").replace(",", ""))
        )
        # Under a matching sequence everything stays visible, so its content can be read.
        show_all = bool(needle) and own
        child_match = False
        for i in range(item.childCount()):
            child_match |= self._filter(item.child(i), "" if show_all else needle, "" if show_all else compact)
        visible = own or child_match
        item.setHidden(not visible)
        item.setExpanded(bool(needle) and child_match)
        return visible

    def visible_keywords(self) -> list[str]:
        """Keywords of the rows left visible by the filter (depth first)."""
        found: list[str] = []

        def walk(item: QTreeWidgetItem) -> None:
            for i in range(item.childCount()):
                child = item.child(i)
                if not child.isHidden():
                    found.append(child.text(1))
                    walk(child)

        walk(self.tree.invisibleRootItem())
        return found
