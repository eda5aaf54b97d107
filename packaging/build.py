"""The one command that builds the standalone LungLens desktop bundle for this platform.

    python packaging/build.py                 # -> dist/lunglens/lunglens (lunglens.exe on Windows)

Run it with the Python of a virtual environment that holds LungLens' run-time dependencies; PyInstaller
(the ``[package]`` extra) is installed into it from PyPI when missing. torch and the other training
packages may be installed too: the spec leaves them out. What goes in and why: packaging/lunglens.spec.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "lunglens.spec"


def ensure_pyinstaller() -> None:
    if importlib.util.find_spec("PyInstaller") is None:
        print("PyInstaller is missing: installing the [package] extra into", sys.prefix, flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", f"{ROOT}[package]"], check=True)


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def largest_parts(bundle: Path, count: int = 6) -> list[tuple[int, str]]:
    """The biggest top-level entries of the bundle's contents folder: what dominates its size."""
    contents = bundle / "_internal" if (bundle / "_internal").is_dir() else bundle
    sizes = [(folder_size(p) if p.is_dir() else p.stat().st_size, p.name) for p in contents.iterdir() if not p.is_symlink()]
    return sorted(sizes, reverse=True)[:count]


def build(dist: Path, work: Path) -> Path:
    """Run PyInstaller on the spec; returns the bundle folder (``dist/lunglens``)."""
    ensure_pyinstaller()
    subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
         "--distpath", str(dist), "--workpath", str(work), str(SPEC)],
        cwd=ROOT,
        check=True,
    )
    return dist / "lunglens"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where the bundle goes (default: dist/)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller", help="PyInstaller's scratch folder")
    args = parser.parse_args(argv)
    start = time.monotonic()
    bundle = build(args.dist.resolve(), args.work.resolve())
    executable = bundle / ("lunglens.exe" if os.name == "nt" else "lunglens")
    print(f"built {executable} in {time.monotonic() - start:.0f} s; {folder_size(bundle) / 2**20:.0f} MB, largest parts:")
    for size, name in largest_parts(bundle):
        print(f"  {size / 2**20:7.1f} MB  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
