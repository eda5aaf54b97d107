"""Helpers shared by the DICOM results and PACS tests: a written phantom study analysed by tiny
models, and the external validators (which CI installs, so there their absence fails, not skips)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from inference.dicom_out.write import write_dicom_results
from inference.loading import load_path
from inference.measurements import Measurement
from inference.phantoms import write_ct_series, write_xray_dicom, make_xray_phantom
from inference.pipelines.analysis import analyze_study, choose_models
from inference.registry import discover_models
from tests.inference.synthetic import chest_phantom
from inference.testing.tiny_models import classifier_onnx, install, install_ct_models


def require_tool(name: str) -> str:
    """The path of a Debian tool the test needs; missing fails in CI (CI=true), skips on a laptop."""
    path = shutil.which(name)
    if path is None:
        package = {"dciodvfy": "dicom3tools", "openssl": "openssl"}.get(name, "orthanc orthanc-dicomweb")
        message = f"{name} is not installed (apt-get install -y {package})"
        if os.environ.get("CI"):
            pytest.fail(f"CI expects it: {message}")
        pytest.skip(message)
    return path


def dciodvfy_errors(path: Path) -> list[str]:
    """dciodvfy's 'Error' lines for one file (warnings are allowed)."""
    result = subprocess.run([require_tool("dciodvfy"), str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]


def install_models(models: Path) -> None:
    install_ct_models(models)
    install(models, classifier_onnx(32, [-1.0, 1.0, 0.5]), "xr_cls", modality="XR", classes=("Normal", "Viral", "COVID"))


def phantom_ct_study(folder: Path, study_uid: str | None = None) -> Path:
    hu, _ = chest_phantom((12, 64, 64), (10.0, 6.0, 6.0))
    write_ct_series(folder, np.clip(hu, -1024, None), (10.0, 6.0, 6.0), study_uid=study_uid)
    return folder


def analysed(path: Path):
    images, _ = load_path(path)
    image = images[0]
    choice = choose_models(discover_models(), image.modality.value, lung_mask="classical")
    return image, analyze_study(image, choice)


def reader_measurements() -> list[Measurement]:
    return [
        Measurement("length", "axial", 6, ((10.0, 12.0), (40.0, 52.0)), "mm", length=300.0),
        Measurement("ellipse", "axial", 6, ((10.0, 30.0), (30.0, 30.0), (20.0, 25.0), (20.0, 35.0)), "mm",
                    area=942.5, mean=-820.0, sd=40.0, minimum=-990.0, maximum=-600.0, value_unit="HU"),
        Measurement("length", "coronal reformat", 30, ((1.0, 1.0), (5.0, 5.0)), "mm", length=33.9),
        Measurement("angle", "axial", 6, ((10.0, 10.0), (20.0, 20.0), (30.0, 10.0)), "mm", angle=90.0),
        Measurement("freehand", "axial", 6, ((10.0, 10.0), (20.0, 10.0), (15.0, 18.0), (10.0, 10.0)), "mm",
                    area=28.0, mean=-700.0, sd=20.0, minimum=-750.0, maximum=-650.0, value_unit="HU"),
        Measurement("point", "axial", 6, ((12.0, 14.0),), "mm", value=-845.0, value_unit="HU"),
        Measurement("text", "axial", 6, ((12.0, 14.0),), "mm", note="nodule?"),
    ]


def phantom_xray(path: Path) -> Path:
    image, _ = make_xray_phantom((128, 128))
    return write_xray_dicom(path, image)


def studies_with_results(root: Path):
    """A CT study and an X-ray, each with LungLens's DICOM results in a folder beside its images (as a
    retrieve from a PACS brings them): ``root/ct/{images,results}``, ``root/xr/{images,results}``.
    Returns the CT and X-ray analyses the results were made from."""
    with pytest.MonkeyPatch.context() as patch:
        install_models(root / "models")
        patch.setenv("LUNGLENS_MODEL_DIR", str(root / "models"))
        patch.setenv("LUNGLENS_CACHE_DIR", str(root / "cache"))
        ct, ct_analysis = analysed(phantom_ct_study(root / "ct" / "images"))
        write_dicom_results(ct_analysis, ct, root / "ct" / "results", reader_measurements())
        xr, xr_analysis = analysed(phantom_xray(root / "xr" / "images" / "cxr.dcm"))
        write_dicom_results(xr_analysis, xr, root / "xr" / "results")
    return ct_analysis, xr_analysis
