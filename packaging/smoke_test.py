"""Smoke test of the built bundle, run as a machine without Python would run it (Linux).

    python packaging/smoke_test.py [--bundle dist/lunglens]     (packaging/smoke_test.sh builds first)

The bundle is copied outside the repository and started with an empty environment (PATH=/usr/bin:/bin,
a fresh HOME, QT_QPA_PLATFORM=offscreen) from a scratch folder, so nothing of the build venv or the
source tree can help it. Checked:
- contents: no torch, torchvision, timm or inference.training; no unused Qt modules; every
  subcommand but the training ones, the DICOM decoders with their dist metadata, all of resources/;
- ``demo --screenshot`` opens the bundled demo study and writes a non-blank PNG equal to the one the
  source tree renders; the same through the xcb platform plugin under Xvfb when Xvfb is installed;
- model discovery frozen: tiny ONNX models in the default user model directory and in the bundled
  pack (a tiny one is added to the copy while the real pack is absent), ``$LUNGLENS_MODEL_DIR``;
- ``info`` decodes phantom series in JPEG 2000, JPEG-LS, RLE and JPEG Lossless;
- ``analyze`` and ``view --analyze --report`` run the models on a phantom and on the demo study.
The fixtures (phantoms, tiny models) are written with this venv's Python, which needs the [test] extra.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inference.cli import COMMANDS  # noqa: E402
from inference.phantoms import make_ct_phantom, write_ct_series  # noqa: E402
from inference.testing.tiny_models import CT_SPEC, classifier_onnx, install, install_ct_models  # noqa: E402

EXCLUDED_MODULES = ("torch", "torchvision", "timm", "inference.training")
UNUSED_QT = ("QtWebEngine", "QtQml", "QtQuick", "Qt3D", "QtMultimedia", "QtNetwork", "QtPdf", "QtCharts")
DECODERS = {"pylibjpeg_libjpeg": "libjpeg", "pylibjpeg_openjpeg": "openjpeg", "pylibjpeg_rle": "rle", "pyjpegls": "jpeg_ls"}
SYNTAXES = ("JPEG2000Lossless", "JPEGLSLossless", "RLELossless", "JPEGLosslessSV1")
PHANTOM_SHAPE, PHANTOM_SPACING = (24, 96, 96), (6.0, 4.0, 4.0)
BUNDLED_TINY_MODEL = "bundled_ct_plain"


class SmokeFailure(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


def nonblank(png: Path) -> None:
    """A rendered study, not an empty or flat window: many grey levels, no colour covering 90 %."""
    check(png.is_file(), f"{png.name} was not written")
    grey = np.asarray(Image.open(png).convert("L"))
    _, counts = np.unique(grey, return_counts=True)
    check(len(counts) >= 64 and counts.max() < 0.9 * grey.size,
          f"{png.name} looks blank: {len(counts)} grey levels, most common covers {counts.max() / grey.size:.0%}")


def internal(bundle: Path) -> Path:
    return bundle / "_internal"


def bundled_modules(executable: Path) -> set[str]:
    from PyInstaller.archive.readers import CArchiveReader

    return set(CArchiveReader(str(executable)).open_embedded_archive("PYZ.pyz").toc)


def check_contents(bundle: Path) -> str:
    modules = bundled_modules(bundle / "lunglens")
    unwanted = sorted(m for m in modules if any(m == x or m.startswith(x + ".") for x in EXCLUDED_MODULES))
    check(not unwanted, f"training modules in the bundle: {unwanted[:5]}")
    files = [p.relative_to(bundle).as_posix() for p in bundle.rglob("*")]
    heavy = [f for f in files if re.search(r"(^|/)(lib)?(torch|torchvision|timm)([-_./]|$)", f)]
    check(not heavy, f"training files in the bundle: {heavy[:5]}")
    qt = [m for m in modules if m.startswith("PySide6.") and m.split(".")[1].startswith(UNUSED_QT)]
    qt += [f for f in files if re.search(r"libQt6(" + "|".join(q[2:] for q in UNUSED_QT) + r")", f)]
    check(not qt, f"unused Qt modules in the bundle: {qt[:5]}")
    commands = [m for m in COMMANDS.values() if not m.startswith("inference.training")]
    wanted = commands + list(DECODERS.values()) + ["onnxruntime", "SimpleITK", "pydicom", "pyqtgraph", "viewer.main_window"]
    missing = [m for m in wanted if m not in modules]
    check(not missing, f"modules missing from the bundle: {missing}")
    no_metadata = [d for d in DECODERS if not list(internal(bundle).glob(f"{d}-*.dist-info"))]
    check(not no_metadata, f"decoder dist metadata missing (pylibjpeg finds plugins through it): {no_metadata}")
    sources = [p for p in (ROOT / "resources").rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")
               and "__pycache__" not in p.parts]
    for source in sources:
        copy = internal(bundle) / source.relative_to(ROOT)
        check(copy.is_file() and copy.stat().st_size == source.stat().st_size, f"{source.relative_to(ROOT)} not bundled")
    return f"{len(modules)} modules, no training code, no unused Qt; {len(sources)} resource files"


class Frozen:
    """Runs the copied bundle with an empty environment from a scratch folder outside the repository."""

    def __init__(self, executable: Path, scratch: Path) -> None:
        self.executable, self.scratch = executable, scratch

    def run(self, *args: str, home: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
        clean = {"PATH": "/usr/bin:/bin", "HOME": str(home), "QT_QPA_PLATFORM": "offscreen", **env}
        done = subprocess.run([str(self.executable), *args], env=clean, cwd=self.scratch, capture_output=True,
                              text=True, timeout=timeout)
        check(done.returncode == 0, f"lunglens {' '.join(args)} exited {done.returncode}:\n"
                                    f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        return done


def fresh_home(scratch: Path, name: str) -> Path:
    home = scratch / name
    home.mkdir()
    return home


def check_demo(app: Frozen, scratch: Path) -> str:
    """The frozen demo renders the study, pixel for pixel as the source tree does."""
    frozen_png, source_png = scratch / "demo-frozen.png", scratch / "demo-source.png"
    app.run("demo", "--screenshot", str(frozen_png), home=fresh_home(scratch, "home-demo"))
    nonblank(frozen_png)
    reference = {"PATH": "/usr/bin:/bin", "HOME": str(fresh_home(scratch, "home-source")), "QT_QPA_PLATFORM": "offscreen"}
    subprocess.run([sys.executable, "-m", "inference.cli", "demo", "--screenshot", str(source_png)], env=reference,
                   cwd=ROOT, check=True, capture_output=True, timeout=600)
    frozen, source = (np.asarray(Image.open(p).convert("RGB")) for p in (frozen_png, source_png))
    check(frozen.shape == source.shape, f"frozen demo is {frozen.shape}, the source tree's {source.shape}")
    differ = float(np.any(frozen != source, axis=-1).mean())
    check(differ < 0.005, f"frozen demo differs from the source tree's render in {differ:.1%} of pixels")
    return f"demo screenshot non-blank, {differ:.2%} of pixels differ from the source tree's render"


def check_xcb(app: Frozen, scratch: Path) -> str:
    """The xcb platform plugin and the X libraries it needs load from the bundle (Xvfb stands in for X)."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        return "SKIPPED: xcb (no Xvfb here; install the xvfb package to check it)"
    read, write = os.pipe()
    server = subprocess.Popen([xvfb, "-displayfd", str(write), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as announced:
            display = ":" + announced.readline().strip()
        png = scratch / "demo-xcb.png"
        app.run("demo", "--screenshot", str(png), home=fresh_home(scratch, "home-xcb"), QT_QPA_PLATFORM="xcb",
                DISPLAY=display)
        nonblank(png)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return f"demo through the xcb plugin on Xvfb {display}: non-blank"


def write_fixtures(scratch: Path, app_dir: Path) -> dict:
    """Phantoms, tiny models in the default user model dir, and a tiny bundled model while the pack is absent."""
    home = fresh_home(scratch, "home-models")
    user_models = home / ".local" / "share" / "LungLens" / "models"
    install_ct_models(user_models)
    hu, _ = make_ct_phantom(PHANTOM_SHAPE, PHANTOM_SPACING, seed=3)
    write_ct_series(scratch / "phantom", hu, PHANTOM_SPACING)
    from pydicom import uid

    for number, name in enumerate(SYNTAXES):
        write_ct_series(scratch / "syntaxes" / name, hu[:4], PHANTOM_SPACING, transfer_syntax=getattr(uid, name),
                        series_number=10 + number)
    pack = internal(app_dir) / "resources" / "models"
    bundled = sorted(p.stem for p in pack.glob("*.json")) if pack.is_dir() else []
    if not bundled:
        install(pack, classifier_onnx(32, [1.0, -1.0]), BUNDLED_TINY_MODEL, spec=CT_SPEC)
        bundled = [BUNDLED_TINY_MODEL]
    manifests = {p.stem: json.loads(p.read_text()) for folder in (user_models, pack) for p in folder.glob("*.json")}
    return {"home": home, "user": sorted(p.stem for p in user_models.glob("*.json")), "bundled": bundled,
            "manifests": manifests}


def check_models(app: Frozen, fixtures: dict, app_dir: Path, scratch: Path) -> str:
    listing = json.loads(app.run("models", "--json", home=fixtures["home"]).stdout)
    found = {(m["id"], m["source"]): m for m in listing["models"]}
    for source in ("user", "bundled"):
        for model_id in fixtures[source]:
            model = found.get((model_id, source))
            check(model is not None and model["status"] == "ok", f"{source} model {model_id} not usable frozen: {model}")
    dirs = {d["source"]: Path(d["path"]) for d in listing["model_dirs"]}
    check(dirs["bundled"].resolve() == (internal(app_dir) / "resources" / "models").resolve(),
          f"bundled models looked for in {dirs['bundled']}")
    override = scratch / "site-models"
    listing = json.loads(app.run("models", "--json", home=fixtures["home"], LUNGLENS_MODEL_DIR=str(override)).stdout)
    check({d["source"]: d["path"] for d in listing["model_dirs"]}["user"] == str(override),
          "LUNGLENS_MODEL_DIR is not the user model dir in the frozen app")
    return f"{len(fixtures['user'])} user + {len(fixtures['bundled'])} bundled models usable; LUNGLENS_MODEL_DIR honoured"


def check_info(app: Frozen, fixtures: dict, scratch: Path) -> str:
    report = json.loads(app.run("info", str(scratch / "syntaxes"), "--json", home=fixtures["home"]).stdout)
    check(len(report["series"]) == len(SYNTAXES) and not report["skipped"],
          f"compressed phantoms not all decoded: {len(report['series'])} series, skipped {report['skipped']}")
    return f"info decoded {', '.join(SYNTAXES)}"


def classifiers(fixtures: dict) -> set[str]:
    """The CT classifiers, the models a CT study must be analysed with (X-ray models skip CT)."""
    manifests = fixtures["manifests"]
    return {m for m in fixtures["user"] + fixtures["bundled"]
            if manifests[m]["task"] == "classification" and manifests[m]["modality"] == "CT"}


def check_analyze(app: Frozen, fixtures: dict, scratch: Path) -> str:
    out = scratch / "analysis"
    report = json.loads(app.run("analyze", str(scratch / "phantom"), "--json", "--out", str(out),
                                home=fixtures["home"]).stdout)
    missing = classifiers(fixtures) - set(report["results"])
    check(not missing, f"analyze did not run {sorted(missing)}: {report.get('warnings')}")
    check(report["lung_mask"]["source"] == "model", f"lung mask not from a U-Net: {report['lung_mask']}")
    check((out / "lung_mask.nii.gz").is_file(), "analyze --out wrote no lung mask")
    return f"analyze ran {len(report['results'])} models on the phantom, lung mask by {report['lung_mask']['model']}"


def check_viewer_analysis(app: Frozen, fixtures: dict, app_dir: Path, scratch: Path) -> str:
    demo = internal(app_dir) / "resources" / "demo"
    study = demo if demo.is_dir() else scratch / "phantom"
    png, report = scratch / "view.png", scratch / "report" / "report.html"
    app.run("view", str(study), "--analyze", "--screenshot", str(png), "--report", str(report), home=fixtures["home"])
    nonblank(png)
    analysis = json.loads(report.with_name("report-analysis.json").read_text())
    missing = classifiers(fixtures) - {m["id"] for m in analysis["models"]}
    check(not missing, f"the viewer did not run {sorted(missing)}")
    return f"viewer analysed {study.relative_to(scratch)} with {len(analysis['models'])} models, report written"


def check_training_absent(app: Frozen, scratch: Path) -> str:
    done = subprocess.run([str(app.executable), "train", "--help"], env={"PATH": "/usr/bin:/bin", "HOME": str(scratch)},
                          cwd=scratch, capture_output=True, text=True, timeout=120)
    check(done.returncode == 2 and "lunglens[train]" in done.stderr, f"train in the bundle answered: {done.stderr}")
    return "train says it needs lunglens[train]"


def smoke(bundle: Path, keep: bool = False) -> list[str]:
    notes = [check_contents(bundle)]
    scratch = Path(tempfile.mkdtemp(prefix="lunglens-smoke-"))
    try:
        app_dir = scratch / "lunglens"
        shutil.copytree(bundle, app_dir, symlinks=True)
        app = Frozen(app_dir / "lunglens", scratch)
        notes.append(check_demo(app, scratch))
        notes.append(check_xcb(app, scratch))
        notes.append(check_training_absent(app, scratch))
        fixtures = write_fixtures(scratch, app_dir)
        notes.append(check_models(app, fixtures, app_dir, scratch))
        notes.append(check_info(app, fixtures, scratch))
        notes.append(check_analyze(app, fixtures, scratch))
        notes.append(check_viewer_analysis(app, fixtures, app_dir, scratch))
    finally:
        if keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / "lunglens", help="the built bundle folder")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (screenshots, reports)")
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        notes = smoke(args.bundle.resolve(), args.keep)
    except SmokeFailure as failure:
        print(f"SMOKE TEST FAILED after {time.monotonic() - start:.0f} s: {failure}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"  ok  {note}")
    print(f"SMOKE TEST PASSED in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
