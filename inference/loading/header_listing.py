"""A DICOM file's header as plain rows (tag, keyword, value, VR; sequences nested), read without pixel
data: what the viewer's tag browser shows, so the viewer never parses DICOM itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pydicom

MAX_VALUE_CHARS = 160
_BULK_VRS = ("OB", "OW", "OF", "OD", "OL", "OV", "UN")


@dataclass(frozen=True)
class HeaderRow:
    """One element, a sequence (``children``: its items) or a sequence item (``children``: its elements)."""

    tag: str
    keyword: str
    value: str
    vr: str
    name: str = ""
    children: tuple[HeaderRow, ...] = ()


@dataclass(frozen=True)
class FileHeader:
    meta: tuple[HeaderRow, ...]
    elements: tuple[HeaderRow, ...]


def _value_text(element: pydicom.DataElement) -> str:
    """Bulk data as its length; long values cut to a line a person can read."""
    if element.VR in _BULK_VRS and not isinstance(element.value, str):
        return f"<{len(element.value) if element.value is not None else 0} bytes>"
    text = str(element.value)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "\u2026"


def _rows(dataset: pydicom.Dataset) -> tuple[HeaderRow, ...]:
    rows = []
    for element in dataset:
        tag = f"({element.tag.group:04X},{element.tag.element:04X})"
        label = element.keyword or element.name
        if element.VR == "SQ":
            items = tuple(HeaderRow("", f"Item {n}", "", "", children=_rows(item)) for n, item in enumerate(element.value, start=1))
            rows.append(HeaderRow(tag, label, f"{len(element.value)} item(s)", "SQ", element.name, items))
        else:
            rows.append(HeaderRow(tag, label, _value_text(element), str(element.VR), element.name))
    return tuple(rows)


def read_file_header(path: str | Path) -> FileHeader:
    """The file meta information and the data set of ``path``; pydicom's errors for a broken file."""
    dataset = pydicom.dcmread(path, stop_before_pixels=True)
    return FileHeader(_rows(dataset.file_meta) if dataset.file_meta else (), _rows(dataset))
