"""``lunglens evaluate-run RUN``: the figures a model's card needs beyond its own test split
(``inference.training.run_evaluation`` says what they are), written to ``RUN/external.json`` and printed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from inference.training.run_evaluation import evaluate_run

HELP = "leave-one-source-out, no-learning baseline, real DICOM series and Grad-CAM-in-lung figures for a CT run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN", type=Path, help="a CT pack run folder (best.pt, split.json); siblings RUN-loso-* are read too")
    parser.add_argument("--series", type=Path, help="a folder of real CT series folders (no COVID) to read")


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    report = evaluate_run(args.run_dir, args.series)
    (args.run_dir / "external.json").write_text(json.dumps(report, indent=1, default=float))
    json.dump(report, sys.stdout, indent=1, default=float)
    print()
    return 0
