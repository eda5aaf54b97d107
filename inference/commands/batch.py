"""``lunglens batch PATH...``: analyse every study under some folders, rank them, keep the list.

Every series under the paths is a study (an X-ray file is one each). Each is analysed with the same
pipeline as ``lunglens analyze`` (results go to the result cache) and listed in the study index that
the viewer's worklist shows. A progress bar with the time left runs on stderr; the summary counts
what was analysed, skipped (with the reason) and failed (with the reason). Ctrl-C or a killed
process loses only the studies in flight: ``--resume`` then does exactly what is missing.
``--json FILE`` / ``--csv FILE`` ('-' for stdout) write the batch's studies in triage order.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from inference.batch.analyst import DEFAULT_THREADS, BatchSettings
from inference.batch.engines import ENGINES, default_workers, make_engine
from inference.batch.run import BatchPlan, BatchSummary, plan_batch, run_batch
from inference.output_paths import output_problem, write_atomically
from inference.runtime import Device
from inference.safe_text import printable
from inference.worklist.index import StudyIndex
from inference.worklist.ranking import ranked_csv, ranked_json

HELP = "analyse every study under some folders (in parallel, or on Ray), rank them for reading, keep the worklist"
LISTED_REASONS = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="folders or files holding studies (DICOM, PNG/JPEG X-rays, NIfTI...)")
    parser.add_argument("--models", action="extend", type=lambda text: [i for i in text.split(",") if i], metavar="ID[,ID...]",
                        help="run only these models (comma-separated or repeated; default: every installed one for each modality)")
    parser.add_argument("--lung-mask", default="auto", metavar="auto|classical|ID", help="lung segmentation to use (as in 'analyze')")
    parser.add_argument("--device", type=Device, choices=list(Device), default=Device.AUTO, help="as in 'analyze'")
    parser.add_argument("--engine", choices=ENGINES, default="local", help="local: worker processes here; ray: a Ray cluster (pip install 'lunglens[scale]')")
    parser.add_argument("--workers", type=int, metavar="N", help="worker processes (default: one per core)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, metavar="N", help=f"threads per worker (default {DEFAULT_THREADS})")
    parser.add_argument("--address", metavar="HOST:PORT", help="with --engine ray: join this cluster instead of starting a private one on loopback")
    parser.add_argument("--resume", action="store_true", help="skip studies the index says are done with these models (after Ctrl-C, a crash, or new studies)")
    parser.add_argument("--json", metavar="FILE", help="write the ranked list as JSON ('-': stdout)")
    parser.add_argument("--csv", metavar="FILE", help="write the ranked list as CSV ('-': stdout)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the result cache")


def _fail(message: str, code: int = 2) -> int:
    print(printable(f"lunglens batch: {message}"), file=sys.stderr)
    return code


def _grouped(reasons: list[str]) -> list[str]:
    """'reason (N)' lines, most frequent first, at most LISTED_REASONS of them."""
    counted = Counter(reasons).most_common()
    lines = [f"    {reason}" + (f" ({n})" if n > 1 else "") for reason, n in counted[:LISTED_REASONS]]
    if len(counted) > LISTED_REASONS:
        lines.append(f"    ... and {len(counted) - LISTED_REASONS} other reason(s)")
    return lines


def summary_text(plan: BatchPlan, summary: BatchSummary, index: Path) -> str:
    minutes = summary.seconds / 60
    rate = f", {summary.done / minutes:.1f} studies/min" if minutes > 0 and summary.done else ""
    lines = [f"{summary.done} of {len(plan.tasks)} studies done in {summary.seconds:.0f} s{rate}"]
    lines.append(f"  analysed: {len(summary.analysed)}")
    lines.append(f"  skipped: {len(plan.skipped)}")
    lines += _grouped([s.reason for s in plan.skipped])
    lines.append(f"  failed: {len(summary.failed)}")
    lines += _grouped([r.reason for r in summary.failed])
    if plan.not_studies:
        lines.append(f"  files that are no study: {len(plan.not_studies)}")
        lines += _grouped([s.reason for s in plan.not_studies])
    if summary.interrupted:
        left = len(plan.tasks) - summary.done
        lines.append(f"interrupted: {left} studies not analysed yet; run the same command with --resume to do only those")
    lines.append(f"worklist: {index} (lunglens view shows it)")
    return "\n".join(lines)


def _write(target: str, text: str) -> None:
    if target == "-":
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        write_atomically(Path(target), lambda tmp: tmp.write_text(text, encoding="utf-8"), mode=0o666)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    missing = [p for p in args.paths if not p.exists()]
    if missing:
        return _fail(f"{missing[0]} does not exist")
    for option, target in (("--json", args.json), ("--csv", args.csv)):
        if target not in (None, "-"):
            for path in args.paths:
                if problem := output_problem(Path(target), path, "file"):
                    return _fail(f"{option}: {problem}")
    if args.address and args.engine != "ray":
        return _fail("--address needs --engine ray")
    threads = max(1, args.threads)
    workers = args.workers if args.workers else default_workers(threads)
    settings = BatchSettings(tuple(args.models) if args.models else None, args.lung_mask, args.device, threads, not args.no_cache)
    with StudyIndex() as index:
        print("scanning for studies...", file=sys.stderr)
        try:
            plan = plan_batch(args.paths, settings, index, args.resume)
        except LookupError as exc:
            return _fail(str(exc))
        except KeyboardInterrupt:
            return _fail("interrupted while looking for studies; nothing was analysed", 130)
        print(f"{len(plan.tasks)} studies to analyse, {len(plan.skipped)} skipped; "
              f"{workers} {args.engine} worker(s) x {threads} thread(s)", file=sys.stderr)
        try:
            engine = make_engine(args.engine, settings, workers, args.address)
        except (ImportError, ConnectionError, RuntimeError) as exc:
            return _fail(str(exc))
        with tqdm(total=len(plan.tasks), unit="study", desc="analysing", file=sys.stderr, dynamic_ncols=True) as bar:
            summary = run_batch(plan, engine, index, on_result=lambda _result: bar.update())
        print(printable(summary_text(plan, summary, index.path)), file=sys.stderr)
        rows = index.rows(plan.installed, plan.keys)
    try:
        if args.json:
            _write(args.json, ranked_json(rows))
        if args.csv:
            _write(args.csv, ranked_csv(rows))
    except OSError as exc:
        return _fail(f"the ranked list could not be written ({exc.strerror or exc})", 1)
    return 130 if summary.interrupted else 0
