"""DICOM tags of the file behind the current slice: a tree with collapsible sequences and a filter box.

The header is read lazily (``inference.loading.header_listing``, no pixel data) only while the panel is
shown, and once per file.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from inference.loading.header_listing import HeaderRow, read_file_header


def _add_rows(parent: QTreeWidgetItem | QTreeWidget, rows: tuple[HeaderRow, ...]) -> None:
    for row in rows:
        item = QTreeWidgetItem(parent, [row.tag, row.keyword, row.value, row.vr])
        if row.tag and row.vr != "SQ":
            item.setToolTip(2, f"{row.name}\n{row.value}")
        _add_rows(item, row.children)


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
            header = read_file_header(path)
        except Exception as exc:  # a broken header is shown, not raised
            self.source.setText(f"{path}\ncould not be read: {type(exc).__name__}: {exc}")
            return
        if header.meta:
            meta = QTreeWidgetItem(self.tree, ["", "File meta information", "", Path(path).name])
            _add_rows(meta, header.meta)
        _add_rows(self.tree, header.elements)
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
