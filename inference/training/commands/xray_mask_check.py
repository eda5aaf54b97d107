"""``lunglens xray-mask-check RUN --model U-NET.json --data DIR...``: plausibility figures and a contact
sheet of an X-ray lung U-Net's masks (``inference.training.xray_mask_check`` says why and how), written
beside the run (``external.json``, ``mask-contact-sheet.png``) and printed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from inference.training.xray_mask_check import check

HELP = "plausibility figures and a contact sheet of an X-ray lung U-Net's masks on images without masks"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN", type=Path, help="the U-Net's run folder (the sheet and figures go here)")
    parser.add_argument("--model", required=True, type=Path, help="the exported U-Net's manifest (.json)")
    parser.add_argument("--data", required=True, nargs="+", type=Path, help="image folders without masks (e.g. adult X-rays)")


def run(args: argparse.Namespace) -> int:
    figures, sheet = check(args.model, args.data)
    sheet.save(args.run_dir / "mask-contact-sheet.png")
    external = args.run_dir / "external.json"
    report = {**(json.loads(external.read_text()) if external.exists() else {}), "plausibility": figures}
    external.write_text(json.dumps(report, indent=1))
    json.dump(figures, sys.stdout, indent=1)
    print()
    return 0
