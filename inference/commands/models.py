"""``lunglens models``: which models are installed, and which of them can run."""

from __future__ import annotations

import argparse
import json

from inference.registry import discover_models, model_dirs

HELP = "list the installed models (bundled and user), with their status and the reason when one is skipped"
COLUMNS = ("id", "version", "task", "modality", "method", "classes", "status")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON document instead of a table")


def _table(rows: list[dict]) -> str:
    cells = [[", ".join(r[c]) if c == "classes" else str(r[c] or "-") for c in COLUMNS] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths))]
    for row, data in zip(cells, rows):
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
        for text in ([f"skipped: {data['reason']}"] if data["reason"] else []) + [f"note: {n}" for n in data["notes"]]:
            lines.append(f"    {text}")
        lines.append(f"    {data['path']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    rows = [status.to_json() for status in discover_models()]
    directories = [{"source": source, "path": str(path), "exists": path.is_dir()} for source, path in model_dirs()]
    if args.json:
        print(json.dumps({"model_dirs": directories, "models": rows}, indent=2))
        return 0
    for d in directories:
        print(f"{d['source']} models: {d['path']}{'' if d['exists'] else ' (none yet)'}")
    print(_table(rows) if rows else "no models installed")
    return 0
