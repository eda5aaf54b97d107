"""``lunglens split RUN/split.json --out DIR``: a run's held-out parts as folder-per-class trees.

``lunglens evaluate`` and ``lunglens export --int8 --calibration`` read one folder per class; this lays
a run's train / val / test parts out that way (symbolic links, nothing copied), so a model is measured
on exactly the images its training never saw and INT8 is calibrated on training images only.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from inference.training.splits import Split

HELP = "lay out a training run's train/val/test split as folder-per-class links, for evaluate and INT8 calibration"
PARTS = ("train", "val", "test")


def write_split_folders(split: Split, out: Path, parts: tuple[str, ...] = PARTS) -> dict[str, int]:
    """Link every image of each part into ``out/<part>/<class>/``; returns the image count per part."""
    counts = {}
    for part in parts:
        for name in split.classes:
            (out / part / name).mkdir(parents=True, exist_ok=True)
        items = getattr(split, part)
        for item in items:
            source = Path(item.path).resolve()
            if not source.is_file():
                raise FileNotFoundError(f"{source} is listed in the split but missing")
            link = out / part / split.classes[item.label] / source.name
            if link.is_symlink() or link.exists():
                if link.resolve() != source:
                    raise FileExistsError(f"{link} already exists and is not a link to {source}")
                continue
            os.symlink(source, link)
        counts[part] = len(items)
    return counts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("split", help="split.json written by `lunglens train` into its run folder")
    parser.add_argument("--out", required=True, help="folder to create <part>/<class>/ links in (not the data folder)")
    parser.add_argument("--part", action="append", choices=PARTS, help="only these parts (repeatable; default all)")


def run(args: argparse.Namespace) -> int:
    try:
        split = Split.load(Path(args.split))
        counts = write_split_folders(split, Path(args.out), tuple(args.part or PARTS))
    except (OSError, KeyError, ValueError) as exc:
        print(f"lunglens split: {exc}", file=sys.stderr)
        return 1
    for part, count in counts.items():
        print(f"{part}: {count} images in {Path(args.out) / part}")
    return 0
