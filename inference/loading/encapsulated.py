"""Is a compressed (encapsulated) Pixel Data element whole? Checked from its item headers, before decoding.

Decoders fill a stream that ends early with grey and report success (a radiograph cut in half
decoded to 1024x1024 without a word), so the structure is checked first (PS3.5 A.4): a Basic Offset
Table item, fragment items each lying wholly inside the file, then the sequence delimiter; at least
as many fragments as NumberOfFrames claims; and in the JPEG family (JPEG, JPEG-LS, JPEG 2000) each
frame's stream closes with its end marker (FFD9). Only item headers and the last bytes of frames
are read, never the compressed data itself.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from pydicom.uid import JPEG2000TransferSyntaxes, JPEGLSTransferSyntaxes, JPEGTransferSyntaxes

from inference.loading.control import LoadError

_ITEM, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE0DD
_END_MARKED = {*JPEGTransferSyntaxes, *JPEGLSTransferSyntaxes, *JPEG2000TransferSyntaxes}
_END_OF_IMAGE = b"\xff\xd9"
MAX_FRAGMENTS = 100_000


def fragments(fp: BinaryIO, offset: int, file_size: int, little: bool) -> list[tuple[int, int]]:
    """(start, length) of each fragment after the Basic Offset Table; LoadError when the structure is broken."""
    order = "<" if little else ">"
    items: list[tuple[int, int]] = []
    position = offset
    while True:
        fp.seek(position)
        head = fp.read(8)
        if len(head) < 8:
            raise LoadError("truncated: the compressed pixel data ends before its closing delimiter")
        group, element, length = struct.unpack(order + "HHI", head)
        tag = group << 16 | element
        if tag == _SEQUENCE_END:
            break
        if tag != _ITEM:
            raise LoadError("the compressed pixel data is malformed (an item header is missing)")
        if length == 0xFFFFFFFF or position + 8 + length > file_size:
            raise LoadError("truncated: a compressed fragment runs past the end of the file")
        if len(items) > MAX_FRAGMENTS:
            raise LoadError(f"the compressed pixel data has more than {MAX_FRAGMENTS} fragments")
        items.append((position + 8, length))
        position += 8 + length
    if not items:
        raise LoadError("the compressed pixel data has no items")
    return items[1:]


def _ends_with_marker(fp: BinaryIO, start: int, length: int) -> bool:
    fp.seek(start + max(0, length - 4))
    return fp.read(min(length, 4)).rstrip(b"\x00").endswith(_END_OF_IMAGE)


def encapsulated_problem(fp: BinaryIO, offset: int, file_size: int, little: bool, syntax: str, frames: int) -> str | None:
    """Why the encapsulated pixel data starting at ``offset`` (its first item) cannot be whole, or None."""
    try:
        parts = fragments(fp, offset, file_size, little)
    except LoadError as exc:
        return str(exc)
    if len(parts) < frames:
        return f"NumberOfFrames is {frames} but the compressed pixel data holds {len(parts)} fragment(s)"
    if syntax in _END_MARKED:
        # One fragment per frame is the usual layout; otherwise only the stream's last byte is known to end a frame.
        ends = parts if len(parts) == frames else parts[-1:]
        if not all(_ends_with_marker(fp, start, length) for start, length in ends):
            return "truncated: a compressed frame ends without its end-of-image marker"
    return None
