"""Is an X-ray lung U-Net any good on images without masks? (``lunglens xray-mask-check`` asks.)

The only X-ray lung masks here are children's; the U-Net must work on adults. With no adult truth,
two checks stand in for Dice: plausibility figures over every image of the given folders (does the
mask pass ``pipelines.xray.mask_problem``: two lungs, sensible sizes, side ratio, height, one piece
each; the spread of the right/left area ratio and of the lungs' share of the image), and a contact
sheet of masks drawn over images, for a person to look at. Both are written beside the run
(``external.json`` for the card, ``mask-contact-sheet.png``), from the exported U-Net file, through
the inference code the viewer runs.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from inference.pipelines.xray import mask_problem, segment_image
from inference.registry import inspect_model
from inference.runtime import load_session
from inference.training.datasets import load_grey_uint8
from inference.training.splits import IMAGE_SUFFIXES

SHEET_COLUMNS, SHEET_TILE = 10, 160
COLOURS = {1: (230, 80, 80), 2: (80, 160, 240)}


def _outline(labels: np.ndarray, label: int) -> np.ndarray:
    inside = labels == label
    edge = inside.copy()
    edge[1:-1, 1:-1] &= ~(inside[:-2, 1:-1] & inside[2:, 1:-1] & inside[1:-1, :-2] & inside[1:-1, 2:])
    return edge


def tile(image: np.ndarray, labels: np.ndarray, note: str) -> Image.Image:
    rgb = np.repeat(image[..., None], 3, axis=2)
    for label, colour in COLOURS.items():
        rgb[_outline(labels, label)] = colour
    picture = Image.fromarray(rgb).resize((SHEET_TILE, SHEET_TILE))
    if note:
        ImageDraw.Draw(picture).text((3, SHEET_TILE - 12), note[:28], fill=(255, 220, 0))
    return picture


def check(manifest: Path, folders: list[Path], sheet_count: int = 50, seed: int = 0) -> tuple[dict, Image.Image]:
    status = inspect_model(manifest)
    if not status.usable:
        raise ValueError(f"{manifest}: {status.problem}")
    session = load_session(status.manifest, status.onnx_path, "cpu")
    files = sorted(p for folder in folders for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    chosen = set(np.random.default_rng(seed).choice(len(files), size=min(sheet_count, len(files)), replace=False).tolist())
    problems: Counter[str] = Counter()
    ratios, shares, tiles = [], [], []
    for index, path in enumerate(files):
        image = load_grey_uint8(path)
        labels = segment_image(image, session)
        problem = mask_problem(labels)
        problems[problem.split(" (")[0] if problem else "plausible"] += 1
        right, left = np.mean(labels == 1), np.mean(labels == 2)
        if right and left:
            ratios.append(right / left)
        shares.append(right + left)
        if index in chosen:
            tiles.append(tile(image, labels, problem))
        if index % 500 == 0:
            print(f"{index}/{len(files)}", file=sys.stderr)
    sheet = Image.new("RGB", (SHEET_COLUMNS * SHEET_TILE, -(-len(tiles) // SHEET_COLUMNS) * SHEET_TILE))
    for n, picture in enumerate(tiles):
        sheet.paste(picture, ((n % SHEET_COLUMNS) * SHEET_TILE, (n // SHEET_COLUMNS) * SHEET_TILE))
    figures = {
        "images": len(files),
        "folders": [f"{folder.parent.name}/{folder.name}" for folder in folders],
        "plausible_share": problems["plausible"] / max(len(files), 1),
        "problems": dict(problems.most_common()),
        "right_left_area_ratio_p5_p50_p95": np.percentile(ratios, [5, 50, 95]).tolist() if ratios else None,
        "lungs_image_share_p5_p50_p95": np.percentile(shares, [5, 50, 95]).tolist() if shares else None,
    }
    return figures, sheet
