"""What kind of file a path holds, decided from its first bytes, never from its name.

PACS exports name DICOM files ``IM0001``, ``1.2.840...`` or ``.txt``; a PNG may be called ``.dcm``.
Only the volume formats whose header sits in a separate file (MetaImage ``.mhd``, detached NRRD,
Analyze-style NIfTI pairs) need the companion file's name, which their header states.
"""

from __future__ import annotations

import gzip
import struct
from enum import Enum
from pathlib import Path

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_GZIP = b"\x1f\x8b"
# The first elements of a DICOM dataset written without preamble (no "DICM"): group 0002 or 0008.
_FIRST_GROUPS = {0x0002, 0x0008}


class FileKind(str, Enum):
    DICOM = "DICOM"
    RASTER = "PNG/JPEG image"
    VOLUME = "NIfTI/MetaImage/NRRD volume"
    UNKNOWN = "unknown"


def _nifti_magic(head: bytes) -> bool:
    if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return struct.unpack("<i", head[:4])[0] == 348 or struct.unpack(">i", head[:4])[0] == 348
    return len(head) >= 8 and head[4:8] in (b"n+2\x00", b"ni2\x00")


def _metaimage_or_nrrd(head: bytes) -> bool:
    text = head[:64]
    return text.startswith(b"NRRD000") or text.startswith(b"ObjectType") or text.startswith(b"NDims")


def _headerless_dicom(head: bytes) -> bool:
    """A dataset starting right at byte 0 with a group 0002/0008 element, little or big endian."""
    if len(head) < 8:
        return False
    for order in "<>":
        group, element = struct.unpack(order + "HH", head[:4])
        if group in _FIRST_GROUPS and element < 0x0200:
            explicit_vr = head[4:6].isalpha() and head[4:6].isupper()
            implicit_length = struct.unpack(order + "I", head[4:8])[0]
            if explicit_vr or implicit_length < 1024:
                return True
    return False


def sniff(path: str | Path) -> FileKind:
    """The kind of ``path`` from its content; raises OSError when it cannot be read."""
    with open(path, "rb") as fp:
        head = fp.read(552)
    if len(head) >= 132 and head[128:132] == b"DICM":
        return FileKind.DICOM
    if head.startswith(_PNG) or head.startswith(_JPEG):
        return FileKind.RASTER
    if _nifti_magic(head) or _metaimage_or_nrrd(head):
        return FileKind.VOLUME
    if head.startswith(_GZIP):
        try:
            with gzip.open(path, "rb") as fp:
                inner = fp.read(552)
        except (OSError, EOFError):
            return FileKind.UNKNOWN
        return FileKind.VOLUME if _nifti_magic(inner) else FileKind.UNKNOWN
    if _headerless_dicom(head):
        return FileKind.DICOM
    return FileKind.UNKNOWN


def companion_files(path: str | Path) -> list[Path]:
    """Data files that belong to a volume header (``.mhd`` -> ``.raw``, ``.nhdr`` -> data, ``.hdr`` -> ``.img``).

    They are part of that volume, so the scan must not list them as unreadable files.
    """
    path = Path(path)
    with open(path, "rb") as fp:
        head = fp.read(4096)
    if _nifti_magic(head) and head[344:348] == b"ni1\x00":
        return [path.with_suffix(".img")]
    if not _metaimage_or_nrrd(head):
        return []
    found = []
    for line in head.decode("latin-1").splitlines():
        key, _, value = line.partition("=") if "=" in line else line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key in ("elementdatafile", "data file", "datafile") and value and value.upper() not in ("LOCAL", "LIST"):
            found.append(path.parent / value)
    return found
