"""Deterministic, leakage-aware train/validation/test splits.

The COVID-19 Radiography Database holds the same X-ray at other crops or contrasts, and the CT slices
come several per paper (often per patient). A random per-image split puts near-copies on both sides
and makes validation optimistic. So images are first grouped (perceptual-hash neighbours, plus a
source key such as the paper a CT figure came from), and whole groups are assigned to one side.
Assignment is a stable hash of the group, so adding images does not reshuffle the old ones.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
# CT figures are named "<paper>-p<page>-<figure>[_<panel>].png": one paper is one source.
_PAPER_PAGE = re.compile(r"^(?P<source>.+?)-p\d+-\d+")


@dataclass(frozen=True)
class LabelledImage:
    path: str
    label: int
    group: str


@dataclass(frozen=True)
class Split:
    classes: tuple[str, ...]
    train: tuple[LabelledImage, ...]
    val: tuple[LabelledImage, ...]
    test: tuple[LabelledImage, ...]
    rule: str

    def save(self, path: Path) -> None:
        payload = {
            "classes": list(self.classes),
            "rule": self.rule,
            **{name: [asdict(item) for item in getattr(self, name)] for name in ("train", "val", "test")},
        }
        path.write_text(json.dumps(payload, indent=1))

    @classmethod
    def load(cls, path: Path) -> "Split":
        data = json.loads(Path(path).read_text())
        parts = {name: tuple(LabelledImage(**item) for item in data[name]) for name in ("train", "val", "test")}
        return cls(classes=tuple(data["classes"]), rule=data["rule"], **parts)

    def summary(self) -> dict[str, dict[str, int]]:
        return {
            name: {c: sum(1 for item in getattr(self, name) if item.label == i) for i, c in enumerate(self.classes)}
            for name in ("train", "val", "test")
        }


def list_class_folders(root: Path, classes: tuple[str, ...] | None = None) -> tuple[tuple[str, ...], list[tuple[str, int]]]:
    """Folder-per-class images -> (class names, [(path, label)]); classes default to sorted folder names."""
    root = Path(root)
    if classes is None:
        classes = tuple(sorted(p.name for p in root.iterdir() if p.is_dir()))
    if not classes:
        raise ValueError(f"{root} has no class folders")
    items = []
    for label, name in enumerate(classes):
        folder = root / name
        if not folder.is_dir():
            raise ValueError(f"class folder {folder} is missing")
        items += [(str(p), label) for p in sorted(folder.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
    return classes, items


def source_key(path: str) -> str | None:
    """The paper a CT figure came from, when its file name says so."""
    match = _PAPER_PAGE.match(Path(path).stem)
    return match.group("source") if match else None


def perceptual_hashes(paths: list[str]) -> np.ndarray:
    """64-bit pHash of each image as uint64; robust to resizing, mild contrast change and re-encoding."""
    hashes = np.empty(len(paths), dtype=np.uint64)
    for i, path in enumerate(paths):
        with Image.open(path) as img:
            bits = imagehash.phash(img.convert("L")).hash.flatten()
        hashes[i] = np.packbits(bits).view(">u8")[0]
    return hashes


def _popcount64(values: np.ndarray) -> np.ndarray:
    return np.unpackbits(values.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)


def near_duplicate_groups(hashes: np.ndarray, max_distance: int = 4) -> np.ndarray:
    """Group ids such that images within ``max_distance`` pHash bits share a group (transitively)."""
    parent = np.arange(len(hashes))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(hashes) - 1):
        distances = _popcount64(np.bitwise_xor(hashes[i + 1 :], hashes[i]))
        for j in np.nonzero(distances <= max_distance)[0] + i + 1:
            root_i, root_j = find(i), find(int(j))
            if root_i != root_j:
                parent[root_j] = root_i
    return np.array([find(i) for i in range(len(hashes))])


def _fraction(key: str, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def make_split(
    items: list[tuple[str, int]],
    classes: tuple[str, ...],
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    max_distance: int = 4,
    salt: str = "lunglens-1",
) -> Split:
    """Group near-duplicates and same-source images, then hash whole groups onto train/val/test."""
    paths = [p for p, _ in items]
    hash_groups = near_duplicate_groups(perceptual_hashes(paths), max_distance)
    # Merge pHash groups with source groups so both kinds of leakage are closed.
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for path, hash_group in zip(paths, hash_groups):
        anchor = find(f"phash:{hash_group}")
        source = source_key(path)
        if source is not None:
            other = find(f"source:{source}")
            if other != anchor:
                parent[other] = anchor
    groups = {path: find(f"phash:{g}") for path, g in zip(paths, hash_groups)}
    # A group's name is its alphabetically first member: stable across runs and machines.
    group_names: dict[str, str] = {}
    for path in sorted(paths):
        group_names.setdefault(groups[path], Path(path).name)
    parts: dict[str, list[LabelledImage]] = {"train": [], "val": [], "test": []}
    for path, label in items:
        name = group_names[groups[path]]
        u = _fraction(name, salt)
        side = "test" if u < test_fraction else "val" if u < test_fraction + val_fraction else "train"
        parts[side].append(LabelledImage(path=path, label=label, group=name))
    rule = (
        f"pHash (64-bit) neighbours within {max_distance} bits and same-source figures grouped transitively; "
        f"groups assigned by sha256('{salt}:group') to test {test_fraction:.0%} / val {val_fraction:.0%} / rest train"
    )
    return Split(classes=classes, rule=rule, **{k: tuple(v) for k, v in parts.items()})
