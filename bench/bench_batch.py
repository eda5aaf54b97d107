"""Studies per minute of ``lunglens batch`` against a shell loop of ``lunglens analyze``, on one study set.

    python bench/bench_batch.py [--studies 50] [--json FILE]

The set: phantom chest studies (``inference.phantom_archive``), about one CT in eight as in a
department's day (300 CTs beside 2000 radiographs), CT series of 32 slices of 256 x 256 and
radiographs of 512 x 512, analysed by the installed model pack. Configurations, each through the
command line as a user runs it, each with a fresh result cache and index so every study is really
analysed, in one run so the ratios compare like with like:

- ``loop``: ``for study in ...; do lunglens analyze $study; done`` (a process per study)
- ``local 1x2``: ``lunglens batch --workers 1 --threads 2``
- ``local 2x1``: ``lunglens batch --workers 2 --threads 1``
- ``ray 2x1``: ``lunglens batch --engine ray --workers 2 --threads 1`` on a private 2-CPU cluster
  (its start-up is inside the time: the overhead is measured, not assumed)

The machine may be shared (here a training job runs at high priority on one of the two cores), so
the configurations run in ``--rounds`` rounds, the order reversed every other round, and each keeps
its fastest round; beside wall time the script reports the CPU seconds the rest of the machine took
meanwhile (processes alive before and after: a training job, say) and the CPU LungLens used (the
machine's busy time less that), and, from the index of each batch, the median seconds a worker
spent per CT and per X-ray study: the per-study cost that sizes a larger installation.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inference.phantom_archive import write_phantom_archive  # noqa: E402

LUNGLENS = [sys.executable, "-m", "inference.cli"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Measurement:
    name: str
    studies: int
    wall_s: float
    lunglens_cpu_s: float  # the machine's busy CPU time less ``others_cpu_s``
    others_cpu_s: float  # processes alive before and after (a training job, say)
    load_before: float
    worker_s_per_study: dict[str, float]  # modality -> median seconds in a worker (batch runs only)

    @property
    def per_minute(self) -> float:
        return 60.0 * self.studies / self.wall_s

    @property
    def cpu_s_per_study(self) -> float:
        return self.lunglens_cpu_s / self.studies


def _machine_busy() -> float:
    """CPU seconds every core has spent busy since boot (/proc/stat: all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK


def _cpu_by_process() -> dict[int, float]:
    cpu = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return cpu


def _worker_seconds(index: Path) -> dict[str, float]:
    if not index.exists():
        return {}
    with sqlite3.connect(index) as db:
        rows = db.execute("SELECT s.modality, a.seconds FROM analyses a JOIN studies s ON s.key = a.key").fetchall()
    by_modality: dict[str, list[float]] = {}
    for modality, seconds in rows:
        by_modality.setdefault(modality, []).append(seconds)
    return {m: statistics.median(v) for m, v in sorted(by_modality.items())}


def measure(name: str, studies: int, commands: list[list[str]], env: dict[str, str]) -> Measurement:
    load = os.getloadavg()[0]
    before, busy_before = _cpu_by_process(), _machine_busy()
    started = time.perf_counter()
    for command in commands:
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    busy, after = _machine_busy() - busy_before, _cpu_by_process()
    others = sum(after[pid] - before[pid] for pid in before.keys() & after.keys() if pid != os.getpid())
    return Measurement(name, studies, wall, busy - others, others, load, _worker_seconds(Path(env["LUNGLENS_INDEX"])))


def study_paths(root: Path) -> list[Path]:
    """One path per study, as a user would loop over them: a CT series folder or an X-ray file."""
    return sorted(p for p in root.iterdir() if p.is_dir() or p.suffix in (".png", ".dcm"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2, help="each configuration's fastest round counts")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--skip-ray", action="store_true", help="when Ray (the [scale] extra) is not installed")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lunglens-bench-batch-") as tmp:
        work = Path(tmp)
        archive = write_phantom_archive(work / "studies", args.studies, ct_share=0.125, ct_shape=(32, 256, 256),
                                        xray_shape=(512, 512), broken=False)
        paths = study_paths(archive.root)
        assert len(paths) == args.studies, f"{len(paths)} study paths for {args.studies} studies"
        configurations = [("loop", [[*LUNGLENS, "analyze", str(p)] for p in paths])]
        batch = [*LUNGLENS, "batch", str(archive.root)]
        configurations += [
            ("local 1x2", [[*batch, "--workers", "1", "--threads", "2"]]),
            ("local 2x1", [[*batch, "--workers", "2", "--threads", "1"]]),
        ]
        if not args.skip_ray:
            configurations.append(("ray 2x1", [[*batch, "--engine", "ray", "--workers", "2", "--threads", "1"]]))
        best: dict[str, Measurement] = {}
        for round_number in range(args.rounds):
            order = configurations if round_number % 2 == 0 else configurations[::-1]
            for name, commands in order:
                folder = work / f"{name}-{round_number}"
                env = dict(os.environ, LUNGLENS_CACHE_DIR=str(folder / "cache"), LUNGLENS_INDEX=str(folder / "index.sqlite"))
                result = measure(name, len(paths), commands, env)
                workers = ", ".join(f"{m} {s:.2f} s" for m, s in result.worker_s_per_study.items())
                print(f"round {round_number + 1} {name:<10} {result.wall_s:7.1f} s  {result.per_minute:6.1f} studies/min  "
                      f"LungLens CPU {result.cpu_s_per_study:5.2f} s/study  others' CPU {result.others_cpu_s:6.1f} s  "
                      f"load {result.load_before:.1f}" + (f"  worker per study: {workers}" if workers else ""), flush=True)
                if name not in best or result.wall_s < best[name].wall_s:
                    best[name] = result
        results = [best[name] for name, _ in configurations]

    by_name = {r.name: r for r in results}
    loop = by_name["loop"]
    best_local = max((r for r in results if r.name.startswith("local")), key=lambda r: r.per_minute)
    ratios = {f"{r.name} / loop": r.per_minute / loop.per_minute for r in results if r is not loop}
    if "ray 2x1" in by_name:
        ratios[f"ray 2x1 / {best_local.name}"] = by_name["ray 2x1"].per_minute / best_local.per_minute
    print("fastest round of each:")
    for r in results:
        print(f"  {r.name:<10} {r.per_minute:6.1f} studies/min ({r.wall_s:.1f} s, others' CPU {r.others_cpu_s:.0f} s)")
    for label, value in ratios.items():
        print(f"{label:<24} {value:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({
            "studies": args.studies,
            "rounds": args.rounds,
            "measurements": [asdict(r) | {"per_minute": r.per_minute, "cpu_s_per_study": r.cpu_s_per_study} for r in results],
            "ratios": ratios,
            "fastest_local": best_local.name,
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
