"""``lunglens info PATH``: what a file or folder holds, as LungLens will show it.

Every series is loaded (its shape and geometry warnings need the pixels and positions); series or
files that cannot be used are listed with the reason. Patient names are never printed.
Exit code: 0 when at least one series loaded, 1 when none did, 2 when PATH does not exist.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from inference.safe_text import printable
from inference.study import Image, SkippedFile

HELP = "list the series (shape, spacing, warnings) and the skipped files found in a DICOM folder or image file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="a DICOM file or folder (searched recursively), PNG/JPEG, NIfTI, MHA or NRRD")
    parser.add_argument("--json", action="store_true", help="print a JSON document instead of a table")


def series_json(image: Image) -> dict:
    """The JSON row of one loaded series: shape and spacing are [z, y, x] for CT, [y, x] for X-ray."""
    return {
        "uid": image.uid,
        "modality": image.modality,
        "description": image.description,
        "shape": [int(n) for n in image.shape],
        "spacing_mm": None if image.spacing is None else [round(float(s), 6) for s in image.spacing],
        "window": {"width": image.default_window.width, "level": image.default_window.level},
        "warnings": list(image.warnings),
    }


def _shown_path(path: str, root: Path) -> str:
    base = root if root.is_dir() else root.parent
    try:
        relative = os.path.relpath(path, base)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


class _StderrProgress:
    """A progress line on stderr, redrawn in place on a terminal and every quarter otherwise."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.interactive = stream.isatty()
        self.last_draw = 0.0
        self.last_quarter = -1

    def __call__(self, done: int, total: int) -> None:
        if total <= 0:
            return
        if self.interactive:
            now = time.monotonic()
            if now - self.last_draw > 0.1 or done >= total:
                self.stream.write(f"\rreading {done}/{total}")
                self.stream.flush()
                self.last_draw = now
        elif (quarter := 4 * done // total) > self.last_quarter:
            self.last_quarter = quarter
            self.stream.write(f"reading {done}/{total}\n")
            self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _number(values) -> str:
    return " x ".join(f"{v:.3g}" for v in values)


def _table(rows: list[dict], skipped: list[SkippedFile], root: Path) -> str:
    lines = [f"{root}: {len(rows)} series, {len(skipped)} skipped"]
    if rows:
        header = ("#", "modality", "shape", "spacing (mm)", "description", "uid")
        cells = [
            (str(i), r["modality"], " x ".join(map(str, r["shape"])),
             _number(r["spacing_mm"]) if r["spacing_mm"] else "unknown", r["description"] or "-", r["uid"])
            for i, r in enumerate(rows, start=1)
        ]
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
        for cell, row in zip(cells, rows):
            lines.append("  ".join(c.ljust(w) for c, w in zip(cell, widths)).rstrip())
            lines += [f"    warning: {w}" for w in row["warnings"]]
    if skipped:
        lines.append("skipped:")
        lines += [f"  {_shown_path(s.path, root)}: {s.reason}" for s in skipped]
    return "\n".join(lines)


def _results(readings: list, root: Path) -> list[str]:
    """The DICOM SEG and SR results: what each is, the series it belongs to, its segments or findings."""
    from inference.dicom_in.reading import image_uid

    lines = ["results:"] if readings else []
    for r in readings:
        where = f"on series {image_uid(r.image)}" if r.image is not None and not r.problem else f"({r.problem})"
        lines.append(f"  {_shown_path(r.result.path, root)}: {r.result.kind.value} '{r.title}' {where}")
        lines += [f"    {line}" for line in r.lines]
    return lines


def run(args: argparse.Namespace) -> int:
    from inference.dicom_in.reading import read_result
    from inference.loading import LoadCancelled, load_study

    root: Path = args.path
    if not root.exists():
        print(printable(f"lunglens info: {root} does not exist"), file=sys.stderr)
        return 2
    progress = None if args.json else _StderrProgress(sys.stderr)
    try:
        study = load_study(root, progress=progress)
    except (KeyboardInterrupt, LoadCancelled):
        print("lunglens info: interrupted", file=sys.stderr)
        return 1
    finally:
        if progress is not None:
            progress.close()
    images, skipped = study.images, study.skipped
    readings = [read_result(result, images) for result in study.results]
    rows = [series_json(image) for image in images]
    if args.json:
        document = {
            "path": str(root),
            "series": rows,
            "skipped": [{"path": s.path, "reason": s.reason} for s in skipped],
            "results": [r.as_json() for r in readings],
        }
        print(json.dumps(document, indent=2))
    else:
        print(printable("\n".join([_table(rows, skipped, root), *_results(readings, root)])))
    return 0 if images else 1
