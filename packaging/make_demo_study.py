"""Build resources/demo/ from ../shared/data: the bundled demo study the README's first command opens.

- CT: TCIA Lung-PET-CT-Dx Lung_Dx-A0001 (CC BY 4.0), cropped in-plane to the body (plus a margin;
  the table goes) and re-encoded JPEG-LS lossless, so the 33 MB series ships in a few MB with its HU unchanged.
  Cropping changes the pixel data, so every instance gets a new SOP Instance UID (derived
  deterministically from the original) and the series a new Series Instance UID; ImagePositionPatient
  moves with the crop, so patient coordinates stay true.
- X-ray: the real CR chest DICOM of ../shared/data/xray_dicom (Apache-2.0 test file), unchanged.

Run once by a maintainer: python packaging/make_demo_study.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.uid import JPEGLSLossless, generate_uid

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "demo"
BODY_ABOVE_HU = -500
MARGIN_PX = 8


def body_box(datasets: list[pydicom.Dataset]) -> tuple[slice, slice]:
    """In-plane rows/columns of the body: the largest 3D region above -500 HU (the table, apart, is cut)."""
    hu = np.stack([ds.pixel_array.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept) for ds in datasets])
    regions = sitk.RelabelComponent(sitk.ConnectedComponent(sitk.GetImageFromArray((hu > BODY_ABOVE_HU).astype(np.uint8))))
    union = (sitk.GetArrayFromImage(regions) == 1).any(axis=0)
    rows, cols = np.nonzero(union.any(axis=1))[0], np.nonzero(union.any(axis=0))[0]
    top, bottom = max(rows[0] - MARGIN_PX, 0), min(rows[-1] + MARGIN_PX + 1, union.shape[0])
    left, right = max(cols[0] - MARGIN_PX, 0), min(cols[-1] + MARGIN_PX + 1, union.shape[1])
    return slice(top, bottom), slice(left, right)


def crop_series(source: Path, target: Path) -> None:
    datasets = [pydicom.dcmread(path) for path in sorted(source.glob("*.dcm"))]
    rows, cols = body_box(datasets)
    series_uid = generate_uid(entropy_srcs=["lunglens-demo", datasets[0].SeriesInstanceUID])
    target.mkdir(parents=True, exist_ok=True)
    for ds in datasets:
        pixels = np.ascontiguousarray(ds.pixel_array[rows, cols])
        row_dir = np.array([float(v) for v in ds.ImageOrientationPatient[:3]])
        col_dir = np.array([float(v) for v in ds.ImageOrientationPatient[3:]])
        spacing_row, spacing_col = (float(v) for v in ds.PixelSpacing)
        origin = np.array([float(v) for v in ds.ImagePositionPatient])
        ds.ImagePositionPatient = [f"{v:.6f}" for v in origin + row_dir * cols.start * spacing_col + col_dir * rows.start * spacing_row]
        ds.Rows, ds.Columns = pixels.shape
        ds.PixelData = pixels.tobytes()
        original_uid = ds.SOPInstanceUID
        ds.SOPInstanceUID = generate_uid(entropy_srcs=["lunglens-demo", original_uid])
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesInstanceUID = series_uid
        ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
        ds.DerivationDescription = "Cropped in-plane to the body and JPEG-LS lossless compressed for the LungLens demo"
        ds.SeriesDescription = "Lung-PET-CT-Dx A0001 (TCIA, CC BY 4.0), LungLens demo crop"
        ds.compress(JPEGLSLossless)
        ds.save_as(target / f"{int(ds.InstanceNumber):03d}.dcm", enforce_file_format=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    for folder in ("ct", "xray"):
        shutil.rmtree(DEMO / folder, ignore_errors=True)
    crop_series(args.shared / "ct_series" / "Lung_Dx-A0001", DEMO / "ct")
    (DEMO / "xray").mkdir(parents=True)
    real_cr = next(p for p in (args.shared / "xray_dicom").glob("1.2.276*.dcm"))
    shutil.copyfile(real_cr, DEMO / "xray" / "chest_cr.dcm")
    total = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    print(f"demo study written to {DEMO} ({total / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
