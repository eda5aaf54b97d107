"""What an .onnx file pulls in from beside it: the external-data files its initializers name.

A model file can keep its weights in other files ("external data", ONNX's format for models over
2 GB), named by relative path inside the protobuf. ONNX Runtime opens whatever they name, so the
registry must see those names before a session exists: a site's model must not read files outside
its folder, and its sha256 must cover them. The ``onnx`` package is a training dependency only,
so this reads the few protobuf fields involved directly from the wire format (ModelProto.graph = 7,
GraphProto.initializer = 5, TensorProto.external_data = 13, StringStringEntryProto key = 1,
value = 2); the large raw weight fields are skipped by their length, never read into memory.
"""

from __future__ import annotations

import mmap
from pathlib import Path

_GRAPH, _INITIALIZER, _EXTERNAL_DATA, _KEY, _VALUE = 7, 5, 13, 1, 2


class OnnxFileError(ValueError):
    """The file is not a well-formed ONNX protobuf."""


def _varint(buffer, at: int, end: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= end or shift > 63:
            raise OnnxFileError("truncated or malformed protobuf varint")
        byte = buffer[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(buffer, start: int, end: int):
    """(field number, start, end) of each length-delimited field of a message; others skipped."""
    at = start
    while at < end:
        key, at = _varint(buffer, at, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, at = _varint(buffer, at, end)
        elif wire == 1:
            at += 8
        elif wire == 5:
            at += 4
        elif wire == 2:
            length, at = _varint(buffer, at, end)
            if at + length > end:
                raise OnnxFileError("truncated protobuf field")
            yield number, at, at + length
            at += length
        else:
            raise OnnxFileError(f"unsupported protobuf wire type {wire}")
        if at > end:
            raise OnnxFileError("truncated protobuf field")


def external_data_locations(path: Path) -> list[str]:
    """The ``location`` of every external-data entry of the graph's initializers (may be empty)."""
    locations: list[str] = []
    with open(path, "rb") as handle:
        if Path(path).stat().st_size == 0:
            raise OnnxFileError("empty file")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
            for number, start, end in _fields(buffer, 0, len(buffer)):
                if number != _GRAPH:
                    continue
                for inner, t_start, t_end in _fields(buffer, start, end):
                    if inner != _INITIALIZER:
                        continue
                    for field, e_start, e_end in _fields(buffer, t_start, t_end):
                        if field != _EXTERNAL_DATA:
                            continue
                        entry = {n: bytes(buffer[a:b]) for n, a, b in _fields(buffer, e_start, e_end)}
                        if entry.get(_KEY) == b"location":
                            locations.append(entry.get(_VALUE, b"").decode("utf-8", "replace"))
    return list(dict.fromkeys(locations))
