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
beside wall time the script reports the CPU seconds LungLens itself spent (children's user + system
time: what a study costs, whatever else runs) and the CPU seconds other processes took meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
    lunglens_cpu_s: float  # user + system of every LungLens process of this configuration
    others_cpu_s: float  # what the rest of the machine used meanwhile (a training job, say)
    load_before: float

    @property
    def per_minute(self) -> float:
        return 60.0 * self.studies / self.wall_s

    @property
    def cpu_s_per_study(self) -> float:
        return self.lunglens_cpu_s / self.studies


def _cpu_of_all_processes() -> float:
    """CPU seconds (user + system) used so far by every process alive now."""
    total = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(name: str, studies: int, commands: list[list[str]], env: dict[str, str]) -> Measurement:
    load = os.getloadavg()[0]
    others_before, ours_before = _cpu_of_all_processes(), _children_cpu()
    started = time.perf_counter()
    for command in commands:
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    ours = _children_cpu() - ours_before
    # /proc counts only processes alive now: finished LungLens processes are in ``ours`` instead.
    others = max(0.0, _cpu_of_all_processes() - others_before)
    return Measurement(name, studies, wall, ours, others, load)


def study_paths(root: Path) -> list[Path]:
    """One path per study, as a user would loop over them: a CT series folder or an X-ray file."""
    return sorted(p for p in root.iterdir() if p.is_dir() or p.suffix in (".png", ".dcm"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=50)
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
        results = []
        for name, commands in configurations:
            env = dict(os.environ, LUNGLENS_CACHE_DIR=str(work / name / "cache"), LUNGLENS_INDEX=str(work / name / "index.sqlite"))
            result = measure(name, len(paths), commands, env)
            results.append(result)
            print(f"{name:<10} {result.wall_s:7.1f} s  {result.per_minute:6.1f} studies/min  "
                  f"LungLens CPU {result.cpu_s_per_study:5.2f} s/study  others' CPU meanwhile {result.others_cpu_s:6.1f} s  "
                  f"load {result.load_before:.1f}", flush=True)

    by_name = {r.name: r for r in results}
    loop = by_name["loop"]
    best_local = max((r for r in results if r.name.startswith("local")), key=lambda r: r.per_minute)
    ratios = {f"{r.name} / loop": r.per_minute / loop.per_minute for r in results if r is not loop}
    if "ray 2x1" in by_name:
        ratios[f"ray 2x1 / {best_local.name}"] = by_name["ray 2x1"].per_minute / best_local.per_minute
    for label, value in ratios.items():
        print(f"{label:<24} {value:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({
            "studies": args.studies,
            "measurements": [asdict(r) | {"per_minute": r.per_minute, "cpu_s_per_study": r.cpu_s_per_study} for r in results],
            "ratios": ratios,
            "fastest_local": best_local.name,
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
