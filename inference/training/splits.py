"""Deterministic, leakage-aware train/validation/test splits.

The COVID-19 Radiography Database holds the same X-ray at other crops or contrasts, and the CT slices
come several per paper (often per patient). A random per-image split puts near-copies on both sides
and makes validation optimistic. So images are first grouped (perceptual-hash neighbours, plus a
source key such as the paper a CT figure came from), and whole groups are assigned to one side.
Assignment is a stable hash of the group, so adding images does not reshuffle the old ones.

Sources with no patient ids whose files run patient after patient (``ordered_sources``) are also
cut into blocks of consecutive files, only where the picture changes a lot (a likely new patient),
so one patient's slices cannot land on both sides. The same image in two sources (Kermany normals
copied into the Radiography Database) is kept once. ``holdout`` puts one whole source in test and
trains on the others: the leave-one-source-out figure.
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
    source: str = ""


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

    def sources(self) -> list[str]:
        """The sources of every part, in first-seen order."""
        return list(dict.fromkeys(item.source for part in (self.train, self.val, self.test) for item in part if item.source))


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


# Sequence blocks (``ordered_sources``): a block holds at least this many consecutive files and ends
# only where consecutive images differ by more than SEQUENCE_CUT_BITS pHash bits (measured on the
# scanner slices: consecutive files differ by a median 10-12 bits, random pairs by 24).
SEQUENCE_MIN_BLOCK = 25
SEQUENCE_CUT_BITS = 20
# Images from two sources this close (pHash bits) with the same label are one image: kept once.
DUPLICATE_BITS = 2


def _sequence_blocks(paths: list[str], hashes: np.ndarray) -> list[int]:
    """Block number of each file (already in file order within one folder)."""
    blocks, block, size = [], 0, 0
    for i in range(len(paths)):
        if i and size >= SEQUENCE_MIN_BLOCK and int(_popcount64(hashes[i - 1 : i] ^ hashes[i : i + 1])[0]) > SEQUENCE_CUT_BITS:
            block, size = block + 1, 0
        blocks.append(block)
        size += 1
    return blocks


def _cross_source_duplicates(items: list[tuple[str, int, str]], hashes: np.ndarray) -> set[int]:
    """Indices of images that repeat an image of an earlier-listed source with the same label."""
    order = list(dict.fromkeys(source for _, _, source in items))
    rank = np.array([order.index(source) for _, _, source in items])
    labels = np.array([label for _, label, _ in items])
    dropped = set()
    for i in np.flatnonzero(rank > 0):
        earlier = np.flatnonzero((rank < rank[i]) & (labels == labels[i]))
        if len(earlier) and _popcount64(hashes[earlier] ^ hashes[i]).min() <= DUPLICATE_BITS:
            dropped.add(int(i))
    return dropped


def _side(u: float, val_fraction: float, test_fraction: float) -> str:
    return "test" if u < test_fraction else "val" if u < test_fraction + val_fraction else "train"


def _stratified_sides(triples, group_of: list[str], val_fraction: float, test_fraction: float, salt: str) -> dict[str, str]:
    """Per (source, class) cell, groups in hash order fill test, then val, then train, by image count."""
    cells: dict[tuple[str, int], dict[str, int]] = {}
    for (_, label, source), name in zip(triples, group_of):
        cell = cells.setdefault((source, label), {})
        cell[name] = cell.get(name, 0) + 1
    sides: dict[str, str] = {}
    for cell in cells.values():
        total, filled = sum(cell.values()), 0
        for name in sorted(cell, key=lambda n: _fraction(n, salt)):
            if name not in sides:
                sides[name] = _side(filled / total, val_fraction, test_fraction)
            filled += cell[name]
    return sides


def make_split(
    items: list,
    classes: tuple[str, ...],
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    max_distance: int = 4,
    salt: str = "lunglens-1",
    ordered_sources: frozenset[str] = frozenset(),
    holdout: str | None = None,
    stratify: bool = False,
) -> Split:
    """Group near-duplicates and same-source images, then hash whole groups onto train/val/test.

    ``items``: (path, label) pairs, or (path, label, source) triples / ``SourcedItem``s.
    ``stratify``: fill each (source, class) cell's test and val shares exactly, taking whole groups
    in the order of their hash, instead of hashing each group independently (with a few dozen
    patient blocks per cell, independent hashing can leave a cell out of validation altogether).
    """
    triples = [(i[0], i[1], i[2] if len(i) > 2 else "") if isinstance(i, tuple) else (i.path, i.label, i.source) for i in items]
    hashes = perceptual_hashes([p for p, _, _ in triples])
    duplicates = _cross_source_duplicates(triples, hashes) if len({s for _, _, s in triples}) > 1 else set()
    keep = [i for i in range(len(triples)) if i not in duplicates]
    triples, hashes = [triples[i] for i in keep], hashes[keep]
    paths = [p for p, _, _ in triples]
    hash_groups = near_duplicate_groups(hashes, max_distance)
    # Merge pHash groups with source groups so both kinds of leakage are closed.
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def union(anchor: str, key: str) -> None:
        other = find(key)
        if other != anchor:
            parent[other] = anchor

    sequence_key: dict[int, str] = {}
    for source in ordered_sources:
        by_folder: dict[str, list[int]] = {}
        for i, (path, _, src) in enumerate(triples):
            if src == source:
                by_folder.setdefault(str(Path(path).parent), []).append(i)
        for folder, members in by_folder.items():
            members.sort(key=lambda i: paths[i])
            for i, block in zip(members, _sequence_blocks([paths[i] for i in members], hashes[members])):
                sequence_key[i] = f"sequence:{folder}:{block}"
    # In ordered sources the blocks alone hold a patient together: pHash links between blocks chain
    # whole classes (similar-looking lungs of different patients). A near-exact copy of an image in
    # another block is dropped instead, so no image is on two sides.
    keys = [sequence_key.get(i, f"phash:{hash_groups[i]}") for i in range(len(paths))]
    if sequence_key:
        strict = near_duplicate_groups(hashes, DUPLICATE_BITS)
        first_block: dict[int, str] = {}
        for i in sorted(sequence_key, key=lambda i: paths[i]):
            if first_block.setdefault(int(strict[i]), keys[i]) != keys[i]:
                duplicates.add(keep[i])
    for i, path in enumerate(paths):
        anchor = find(keys[i])
        figure_source = source_key(path)
        if figure_source is not None:
            union(anchor, f"source:{figure_source}")
        if i in sequence_key:
            union(find(keys[i]), sequence_key[i])
    groups = {path: find(key) for path, key in zip(paths, keys)}
    # A group's name is its alphabetically first member: stable across runs and machines.
    group_names: dict[str, str] = {}
    for path in sorted(paths):
        group_names.setdefault(groups[path], Path(path).name)
    dropped_copies = {i for i, original in enumerate(keep) if original in duplicates}
    group_of = [group_names[groups[path]] for path in paths]
    sides = (
        _stratified_sides(triples, group_of, val_fraction, test_fraction, salt)
        if stratify
        else {name: _side(_fraction(name, salt), val_fraction, test_fraction) for name in set(group_of)}
    )
    parts: dict[str, list[LabelledImage]] = {"train": [], "val": [], "test": []}
    for i, ((path, label, source), name) in enumerate(zip(triples, group_of)):
        if i in dropped_copies:
            continue
        side = sides[name]
        if holdout is not None:
            side = "test" if source == holdout else None if side == "test" else side
        if side is not None:
            parts[side].append(LabelledImage(path=path, label=label, group=name, source=source))
    rule = (
        f"pHash (64-bit) neighbours within {max_distance} bits and same-source figures grouped transitively; "
        f"groups assigned by sha256('{salt}:group') to test {test_fraction:.0%} / val {val_fraction:.0%} / rest train"
        + (" (stratified: per source and class, groups in hash order fill those shares by image count)" if stratify else "")
    )
    if ordered_sources:
        rule += (
            f"; {', '.join(sorted(ordered_sources))}: files in name order cut into blocks of at least "
            f"{SEQUENCE_MIN_BLOCK} consecutive images, cut only where neighbours differ by more than "
            f"{SEQUENCE_CUT_BITS} pHash bits (a likely new patient), each block one group; a near-exact copy "
            f"(within {DUPLICATE_BITS} bits) of an image in an earlier block is dropped"
        )
    if duplicates:
        rule += f"; {len(duplicates)} images repeating another image (within {DUPLICATE_BITS} bits; another source's with the same label, or another block's) dropped"
    if holdout is not None:
        rule += f"; leave-one-source-out: all of {holdout} is the test set, the other sources' test groups are unused"
    return Split(classes=classes, rule=rule, **{k: tuple(v) for k, v in parts.items()})
