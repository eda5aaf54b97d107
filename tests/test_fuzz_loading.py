"""Fuzz: 1,000 damaged DICOM files and 200 damaged PNG/JPEG files, made here from the phantoms, beside a
valid CT series and damaged copies of its slices, loaded in one ``load_path`` in a child process.

Damage is of the kinds a disk, a transfer or a hostile sender produces: truncation, flipped bits in
the element headers (tags, VRs, lengths), lying element and fragment lengths, NaN/inf/huge header
values, huge declared sizes and lying frame counts. What must hold:

- no traceback and no hang; peak memory and wall time under the bounds below;
- the valid series loads whole and exact, whatever its damaged copies (same SOPInstanceUIDs) are;
- every file is part of a loaded image or listed once in ``skipped`` (a multi-frame file whose
  damaged frames were left out is both), with a short printable reason;
- an image made from a damaged file is the intact file's image, or it carries a warning saying what
  was wrong: nothing damaged is shown or judged without a word. (A header edit that leaves a
  plausible, decodable image - a tag renamed by a flipped bit - cannot be told from an intact file
  by any reader; it is what the warning rule is for.)
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage
from pydicom.uid import JPEG2000Lossless, RLELossless, generate_uid

from inference.loading import load_path
from inference.loading.dicom_header import read_instance_header
from inference.phantoms import make_ct_phantom, make_xray_phantom, write_ct_series, write_xray_dicom, write_xray_png
from inference.safe_text import MAX_REASON_CHARS
from tests.test_loading_damaged import _rle_multiframe, jpeg_radiograph

DICOM_FILES, RASTER_FILES, VALID_COPIES = 1000, 200, 24
MAX_RSS_MB, MAX_SECONDS = 1024, 90
SPACING = (5.0, 4.0, 4.0)
LONG_VRS = {b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"OD", b"OL", b"OV", b"UC", b"UR", b"SV", b"UV"}
BAD_NUMBERS = ["nan", "NaN", "inf", "-inf", "1e308", "-1e308", "0", "1e-320", "99999999999999999"]
NUMERIC_TAGS = [
    "RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth", "PixelSpacing", "ImagePositionPatient",
    "ImageOrientationPatient", "SliceThickness", "SpacingBetweenSlices", "InstanceNumber", "NumberOfFrames",
]
SIZE_TAGS = {
    "Rows": [0, 1, 65535], "Columns": [0, 1, 65535], "BitsAllocated": [0, 1, 7, 12, 64, 65535],
    "BitsStored": [0, 17, 64, 65535], "SamplesPerPixel": [0, 2, 3, 65535], "NumberOfFrames": ["0", "-1", "3", "2147483647"],
    "PixelRepresentation": [2, 65535], "HighBit": [0, 64],
}

LOADER = (
    "import json, sys, time\n"
    "from inference.loading import load_path\n"
    "def peak_rss_mb():\n"
    "    # VmHWM is this program's own peak; ru_maxrss would keep the pytest parent's size across the exec.\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            return int(line.split()[1]) / 1024\n"
    "started = time.perf_counter()\n"
    "images, skipped = load_path(sys.argv[1])\n"
    "rows = []\n"
    "for i in images:\n"
    "    files = list(i.source_files)\n"
    "    rows.append({'files': files, 'warnings': list(i.warnings), 'shape': list(i.shape)})\n"
    "print(json.dumps({'images': rows, 'skipped': [[s.path, s.reason] for s in skipped],\n"
    "                  'seconds': time.perf_counter() - started,\n"
    "                  'rss_mb': peak_rss_mb()}))\n"
)


def _element_headers(data: bytes, end: int, implicit_from: int | None) -> list[tuple[int, int, int]]:
    """(start, header length, length-field offset) of each element before ``end``; the meta group is
    explicit VR, the dataset implicit from ``implicit_from`` when given. Stops at an undefined length."""
    found, at = [], 132
    while at + 8 <= end:
        implicit = implicit_from is not None and at >= implicit_from
        vr = data[at + 4 : at + 6]
        if implicit:
            header, length_at, size = 8, at + 4, 4
        elif vr in LONG_VRS:
            header, length_at, size = 12, at + 8, 4
        else:
            header, length_at, size = 8, at + 6, 2
        length = int.from_bytes(data[length_at : length_at + size], "little")
        if length in (0xFFFF_FFFF,) or at + header + length > end:
            break
        found.append((at, header, length_at))
        at += header + length
    return found


class DicomSource:
    """An intact file to damage, and how its dataset is encoded."""

    def __init__(self, path: Path, implicit: bool = False):
        self.path = path
        self.data = path.read_bytes()
        self.implicit = implicit
        self.compressed = read_instance_header(path).pixels.length is None


def _fresh_uids(data: bytes) -> bytes:
    """The same file as its own series (new Series and SOP Instance UIDs), so each damaged file stands alone."""
    ds = pydicom.dcmread(io.BytesIO(data), force=True)
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=False)
    return out.getvalue()


def _edited(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """A header value made NaN/inf/huge, or a size/depth/frame count that lies."""
    ds = pydicom.dcmread(io.BytesIO(data), force=True)
    if rng.random() < 0.5:
        keyword = str(rng.choice(NUMERIC_TAGS))
        # 0 and tiny values are plausible intercepts and window centres: not damage any reader could see
        bad = str(rng.choice(BAD_NUMBERS if keyword not in ("RescaleIntercept", "WindowCenter") else BAD_NUMBERS[:6]))
        count = {"PixelSpacing": 2, "ImagePositionPatient": 3, "ImageOrientationPatient": 6}.get(keyword, 1)
        values = [bad if k == 0 or rng.random() < 0.5 else "1" for k in range(count)]
        tag = pydicom.datadict.tag_for_keyword(keyword)
        ds[tag] = pydicom.DataElement(tag, "LO", "\\".join(values))  # as written, whatever the VR allows
        what = f"value {keyword}={bad}"
    else:
        keyword = str(rng.choice(list(SIZE_TAGS)))
        value = SIZE_TAGS[keyword][int(rng.integers(len(SIZE_TAGS[keyword])))]
        setattr(ds, keyword, value)
        what = f"size {keyword}={value}"
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(out, enforce_file_format=False)
    return out.getvalue(), what


def damage_dicom(source: DicomSource, rng: np.random.Generator) -> tuple[bytes, str]:
    data = bytearray(_fresh_uids(source.data))
    pixels_at = data.rfind(b"\xe0\x7f\x10\x00")
    meta_end = 132 + 12 + int.from_bytes(data[140:144], "little")
    elements = _element_headers(bytes(data), pixels_at, meta_end if source.implicit else None)
    kinds = ["truncate", "flip", "length", "value"] + (["fragment"] if source.compressed else [])
    kind = rng.choice(kinds)
    if kind == "truncate":
        cut = int(rng.integers(0, len(data) - 1))
        return bytes(data[:cut]), f"truncated at {cut}"
    if kind in ("flip", "length"):
        start, header, length_at = elements[int(rng.integers(len(elements)))]
        if kind == "flip":
            for _ in range(int(rng.integers(1, 4))):
                at = start + int(rng.integers(header))
                data[at] ^= 1 << int(rng.integers(8))
            return bytes(data), f"header bits flipped near {start}"
        size = 4 if header == 12 or (source.implicit and start >= meta_end) else 2
        lie = int(rng.choice([0, 1, 3, 0xFFFE, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF, len(data) * 3])) % (1 << (8 * size))
        data[length_at : length_at + size] = lie.to_bytes(size, "little")
        return bytes(data), f"length at {length_at} set to {lie}"
    if kind == "fragment":
        at = data.rfind(b"\xfe\xff\x00\xe0")  # the last fragment's item header
        lie = int(rng.choice([0, 2, 0xFFFF, 0xFFFF_FFFF, 0x7FFF_FFFF]))
        data[at + 4 : at + 8] = struct.pack("<I", lie)
        return bytes(data), f"fragment length set to {lie}"
    return _edited(bytes(data), rng)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def damage_raster(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """PNG: truncation, flipped header bits (its CRCs catch them), sizes it does not hold. JPEG has no
    checksum, and libjpeg fills a short scan with grey with only a warning, so a flipped bit in its
    tables or a slightly larger size decodes to a plausible picture no reader can tell from the
    intact one: JPEG gets truncation and sizes beyond the pixel limit."""
    data = bytearray(data)
    png = data.startswith(b"\x89PNG")
    kind = rng.choice(["truncate", "flip", "size"] if png else ["truncate", "size"])
    if kind == "truncate":
        cut = int(rng.integers(0, len(data) - 12))  # at least the PNG IEND chunk or the JPEG EOI is lost
        return bytes(data[:cut]), f"truncated at {cut}"
    header_end = data.index(b"IDAT") if png else data.index(b"\xff\xda")
    if kind == "flip":
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(8 if png else 2, header_end))
            data[at] ^= 1 << int(rng.integers(8))
        return bytes(data), "header bits flipped"
    if png:
        width, height = (max(int(v), 97) for v in rng.choice([2, 50, 1000, 60000], size=2))  # more than it holds
    else:
        width, height = (int(v) for v in rng.choice([9000, 30000, 65535], size=2))  # beyond the pixel limit
    if png:
        at = data.index(b"IHDR")
        body = struct.pack(">II", width, height) + bytes(data[at + 12 : at + 17])
        data[at - 4 : at + 21] = _chunk(b"IHDR", body)
    else:
        at = data.index(b"\xff\xc0")
        data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data), f"declares {width}x{height}"


@pytest.fixture(scope="module")
def fuzz_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    sources_dir, study = root / "sources", root / "study"
    rng = np.random.default_rng(17)
    hu, _ = make_ct_phantom((8, 48, 48), SPACING, seed=9)
    valid = write_ct_series(study / "valid", hu, SPACING, description="valid series")
    slab = make_ct_phantom((3, 48, 48), SPACING, seed=10)[0]
    xray = make_xray_phantom((96, 96), seed=11)[0]
    dicom = {
        "ct": DicomSource(write_ct_series(sources_dir / "ct", slab, SPACING)[1]),
        "ct-implicit": DicomSource(write_ct_series(sources_dir / "imp", slab, SPACING,
                                                   transfer_syntax=pydicom.uid.ImplicitVRLittleEndian)[1], implicit=True),
        "ct-rle": DicomSource(write_ct_series(sources_dir / "rle", slab, SPACING, transfer_syntax=RLELossless)[1]),
        "ct-j2k": DicomSource(write_ct_series(sources_dir / "j2k", slab, SPACING, transfer_syntax=JPEG2000Lossless)[1]),
        "dx": DicomSource(write_xray_dicom(sources_dir / "dx.dcm", xray)),
        "cr-jpeg": DicomSource(jpeg_radiograph(sources_dir / "cr.dcm", xray)),
        "enhanced": DicomSource(_rle_multiframe(write_ct_series(sources_dir / "enh", slab, SPACING)[0],
                                                sources_dir / "enhanced.dcm", "2")),
    }
    rasters = {
        "png8": write_xray_png(sources_dir / "x8.png", xray).read_bytes(),
        "png16": write_xray_png(sources_dir / "x16.png", xray, bits=16).read_bytes(),
        "jpg": write_xray_png(sources_dir / "x.jpg", xray).read_bytes(),
    }
    records: dict[str, tuple[str, str]] = {}
    damaged = study / "damaged"
    damaged.mkdir()
    names = list(dicom)
    for k in range(DICOM_FILES):
        name = names[k % len(names)]
        data, what = damage_dicom(dicom[name], rng)
        path = damaged / f"{k:04d}-{name}.dcm"
        path.write_bytes(data)
        records[str(path)] = (name, what)
    names = list(rasters)
    for k in range(RASTER_FILES):
        name = names[k % len(names)]
        data, what = damage_raster(rasters[name], rng)
        path = damaged / f"{k:04d}-{name}{'.jpg' if name == 'jpg' else '.png'}"
        path.write_bytes(data)
        records[str(path)] = (name, what)
    for k in range(VALID_COPIES):  # damaged copies of the valid series' own slices: same SOPInstanceUIDs
        data = valid[k % len(valid)].read_bytes()
        path = study / "copies" / f"{k:02d}-copy.dcm"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data[: int(rng.integers(len(data) // 2, len(data) - 1))])
        records[str(path)] = ("valid-copy", "truncated")
    expected = {}
    for name, source in dicom.items():
        [image], _ = load_path(source.path)
        expected[name] = image.values
    for name in rasters:
        [image], _ = load_path(sources_dir / {"png8": "x8.png", "png16": "x16.png", "jpg": "x.jpg"}[name])
        expected[name] = image.values
    return study, hu, valid, records, expected


def test_fuzzed_files_never_break_loading_and_nothing_damaged_passes_silently(fuzz_study):
    study, hu, valid, records, expected = fuzz_study
    assert sum(1 for r in records.values() if r[0] not in ("png8", "png16", "jpg", "valid-copy")) >= 1000
    assert sum(1 for r in records.values() if r[0] in ("png8", "png16", "jpg")) >= 200
    done = subprocess.run([sys.executable, "-c", LOADER, str(study)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["seconds"] < MAX_SECONDS and result["rss_mb"] < MAX_RSS_MB, (result["seconds"], result["rss_mb"])

    [series] = [i for i in result["images"] if set(map(str, valid)) <= set(i["files"])]
    assert series["shape"] == list(hu.shape) and len(series["files"]) == len(valid)

    listed = [path for path, _ in result["skipped"]]
    used = [f for image in result["images"] for f in image["files"]]
    assert len(listed) == len(set(listed)), "a file listed twice"
    for path in records:  # both only for a multi-frame file with some frames left out
        assert path in listed or path in used, (path, records[path])
    for _, reason in result["skipped"]:
        assert reason and len(reason) <= MAX_REASON_CHARS and reason.isprintable(), reason

    silent = []
    for image in result["images"]:
        if image is series:
            continue
        if len(image["files"]) > 1:  # damaged files grouped by folder once their SeriesInstanceUID was lost
            if not image["warnings"]:
                silent.append((image["files"], "grouped"))
            continue
        [path] = image["files"]
        name, what = records[path]
        [loaded], _ = load_path(path)
        pixels = loaded.values
        same = pixels.shape == expected[name].shape and np.array_equal(pixels, expected[name])
        if not same and not image["warnings"]:
            silent.append((Path(path).name, what))
    assert silent == [], f"{len(silent)} damaged images differ from their source without a warning: {silent[:60]}"


def test_the_valid_series_is_exact_beside_its_damaged_copies(fuzz_study):
    study, hu, valid, _, _ = fuzz_study
    images, _ = load_path(study / "valid")
    assert len(images) == 1 and np.array_equal(images[0].hu, hu)
    images, skipped = load_path(study / "copies")
    assert images == [] and len(skipped) == VALID_COPIES
