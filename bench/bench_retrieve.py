"""Retrieving a CT study from a PACS on loopback against copying the same files, in one run.

    python bench/bench_retrieve.py [--slices 300] [--size 512] [--repeat 3] [--json]

Writes a phantom CT series (default 300 slices of 512 x 512, uncompressed, ~157 MB), starts a real
Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``) on loopback with a temporary storage, stores the
series in it, then alternates ``--repeat`` times: copying the files (``shutil.copytree`` of the
page-cached source folder: the floor any retrieve is compared with), LungLens's C-GET, C-MOVE and
DICOMweb (WADO-RS) retrieves into fresh local study stores. Reports best and median seconds of each,
the retrieve / copy ratio, and the median CPU seconds spent by this process and by Orthanc (steadier
than the wall clock on a shared machine). Every retrieve is checked to be complete.
Goal (issue 18): a 300-slice CT in under 2x the time of copying the files.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inference.pacs.connection import connect  # noqa: E402
from inference.pacs.servers import RetrieveMethod, Transport  # noqa: E402
from inference.pacs.store import stored_study  # noqa: E402
from inference.phantoms import make_ct_phantom, write_ct_series  # noqa: E402
from inference.testing.orthanc import new_orthanc  # noqa: E402

STUDY_UID = "1.2.826.0.1.3680043.8.498.300300"


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(function, server_pid: int) -> tuple[float, float, float]:
    """Wall seconds, this process's CPU seconds and the server's CPU seconds of one call."""
    own, server, started = time.process_time(), process_cpu(server_pid), time.perf_counter()
    function()
    return time.perf_counter() - started, time.process_time() - own, process_cpu(server_pid) - server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if shutil.which("Orthanc") is None:
        print("bench_retrieve: Orthanc is not installed (apt-get install -y orthanc orthanc-dicomweb)", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="lunglens-bench-retrieve-") as tmp:
        tmp = Path(tmp)
        hu, _ = make_ct_phantom((args.slices, args.size, args.size), (1.0, 0.7, 0.7))
        files = [Path(p) for p in write_ct_series(tmp / "source", hu, (1.0, 0.7, 0.7), study_uid=STUDY_UID)]
        megabytes = sum(f.stat().st_size for f in files) / 1e6
        orthanc = new_orthanc(tmp / "orthanc")
        orthanc.start()
        try:
            server = orthanc.server
            connect(server).send(files)
            ways = {
                "copy": None,
                "C-GET": connect(server),
                "C-MOVE": connect(dataclasses.replace(server, retrieve=RetrieveMethod.MOVE)),
                "DICOMweb": connect(dataclasses.replace(server, transport=Transport.DICOMWEB)),
            }
            seconds: dict[str, list[float]] = {name: [] for name in ways}
            cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
            for run in range(args.repeat):
                for name, pacs in ways.items():
                    target = tmp / f"{name}-{run}"
                    if pacs is None:
                        wall, own, orthanc_cpu = timed(lambda: shutil.copytree(tmp / "source", target), orthanc.process.pid)
                    else:
                        store = stored_study(STUDY_UID, target)
                        wall, own, orthanc_cpu = timed(lambda: pacs.retrieve(STUDY_UID, store), orthanc.process.pid)
                    seconds[name].append(wall)
                    cpu[name].append((own, orthanc_cpu))
                    if pacs is None:
                        continue
                    if not store.complete or len(store.instance_uids()) != len(files):
                        raise SystemExit(f"{name}: the retrieve is not complete ({store.status()})")
                    shutil.rmtree(target)
        finally:
            orthanc.stop()

    best = {name: min(values) for name, values in seconds.items()}
    result = {
        "slices": args.slices, "size": args.size, "megabytes": round(megabytes, 1), "repeat": args.repeat,
        "seconds": {name: {"best": round(best[name], 3), "median": round(statistics.median(v), 3)} for name, v in seconds.items()},
        "ratio_to_copy": {name: round(best[name] / best["copy"], 2) for name in seconds if name != "copy"},
        "cpu_seconds": {name: {"lunglens": round(statistics.median(c[0] for c in v), 3),
                               "orthanc": round(statistics.median(c[1] for c in v), 3)} for name, v in cpu.items()},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.slices} slices of {args.size} x {args.size} ({megabytes:.0f} MB), Orthanc on loopback, best / median of {args.repeat}")
    for name, values in seconds.items():
        ratio = "" if name == "copy" else f"  {best[name] / best['copy']:5.2f}x the copy"
        used = result["cpu_seconds"][name]
        print(f"{name:9s} {best[name]:7.3f} s / {statistics.median(values):7.3f} s{ratio:18s}"
              f"  CPU: LungLens {used['lunglens']:.2f} s, Orthanc {used['orthanc']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
