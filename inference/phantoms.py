"""Synthetic chest studies with a known truth, for tests, benchmarks and the demo.

A phantom is drawn in patient millimetres (DICOM LPS: +x patient's left, +y posterior, +z superior)
and then sampled on the requested grid, so a coarse test volume and a 500-slice benchmark volume show
the same chest. Array index 0 along x is the patient's right, so the right lung (label 1) sits at low
x indices, i.e. on the image's left in radiological display.

The writers produce real DICOM files (CT Image Storage, Digital X-Ray) with the geometry traps a
loader must survive: gantry tilt, missing or duplicated slices, shuffled files, negative
SpacingBetweenSlices, per-slice rescale and compressed transfer syntaxes.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from PIL import Image as PILImage
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    BasicTextSRStorage,
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    GrayscaleSoftcopyPresentationStateStorage,
    ImplicitVRLittleEndian,
    JPEGLossless,
    JPEGLosslessSV1,
    PYDICOM_IMPLEMENTATION_UID,
    generate_uid,
)

AIR_HU = -1000
FAT_HU = -100
SOFT_TISSUE_HU = 40
LUNG_HU = -850
GROUND_GLASS_HU = -500
CONSOLIDATION_HU = 20
BONE_HU = 700

BACKGROUND, RIGHT_LUNG, LEFT_LUNG = 0, 1, 2

PHANTOM_PATIENT_NAME = "Phantom^Chest"
PHANTOM_PATIENT_ID = "LUNGLENS-PHANTOM"

# pydicom has no JPEG Lossless encoder; GDCM transcodes these after writing.
_GDCM_ONLY = {JPEGLosslessSV1: "JPEGLosslessProcess14_1", JPEGLossless: "JPEGLosslessProcess14"}


def _ellipse(x: np.ndarray, y: np.ndarray, cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
    return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1.0


@dataclass(frozen=True)
class _Lesion:
    centre: tuple[float, float, float]
    radius: float
    hu: int


def _lesions(rng: np.random.Generator) -> tuple[_Lesion, ...]:
    """A peripheral posterior ground-glass opacity (right lung), a consolidation (left lung), and a
    pleural-based consolidation in the posterior right base: dense disease against the chest wall,
    which an air-threshold lung mask cuts out and a lung mask must keep (it is lung in the truth)."""
    jitter = rng.uniform(-8.0, 8.0, size=(3, 3))
    ggo = _Lesion((-95.0 + jitter[0, 0], 30.0 + jitter[0, 1], -20.0 + jitter[0, 2]), 20.0, GROUND_GLASS_HU)
    consolidation = _Lesion((95.0 + jitter[1, 0], 25.0 + jitter[1, 1], 40.0 + jitter[1, 2]), 12.0, CONSOLIDATION_HU)
    pleural = _Lesion((-95.0 + jitter[2, 0] / 2, 68.0, -60.0 + jitter[2, 2]), 18.0, CONSOLIDATION_HU)
    return ggo, consolidation, pleural


def _lung_profile(z: float) -> float:
    """Scale of the lung cross-section at height z (mm): full at the base, narrowing to the apex."""
    apex = 140.0
    return float(np.sqrt(np.clip((apex - z) / 70.0, 0.0, 1.0)))


def _chest_slice(x: np.ndarray, y: np.ndarray, z: float, lesions: Sequence[_Lesion]) -> tuple[np.ndarray, np.ndarray]:
    """HU (float32, noise-free) and lung labels of one axial slice at height z (mm)."""
    hu = np.full(x.shape, AIR_HU, dtype=np.float32)
    labels = np.zeros(x.shape, dtype=np.uint8)

    body = _ellipse(x, y, 0.0, 0.0, 170.0, 120.0)
    hu[body] = FAT_HU
    hu[_ellipse(x, y, 0.0, 0.0, 158.0, 108.0)] = SOFT_TISSUE_HU

    scale = _lung_profile(z)
    if scale > 0:
        for label, cx in ((RIGHT_LUNG, -75.0), (LEFT_LUNG, 75.0)):
            lung = _ellipse(x, y, cx, -5.0, 55.0 * scale, 85.0 * scale)
            # Diaphragm dome: the lung base rises towards the middle of each hemithorax.
            dome = -120.0 + 35.0 * (1.0 - ((x - cx) / 60.0) ** 2 - ((y + 5.0) / 90.0) ** 2)
            labels[lung & (z > dome)] = label
    heart = ((x - 20.0) / 65.0) ** 2 + ((y + 35.0) / 55.0) ** 2 + ((z + 60.0) / 60.0) ** 2 <= 1.0
    labels[heart] = BACKGROUND
    hu[heart] = SOFT_TISSUE_HU + 5

    in_lung = labels > 0
    # Dependent lungs are denser posteriorly (+y): about -880 anteriorly to -820 posteriorly.
    hu[in_lung] = LUNG_HU + 30.0 * np.clip(y[in_lung] / 85.0, -1.0, 1.0)
    for lesion in lesions:
        cx, cy, cz = lesion.centre
        r2 = lesion.radius**2 - (z - cz) ** 2
        if r2 > 0:
            hu[in_lung & ((x - cx) ** 2 + (y - cy) ** 2 <= r2)] = lesion.hu

    if z > 40.0:
        trachea = _ellipse(x, y, 0.0, -20.0, 9.0, 9.0)
        hu[trachea] = AIR_HU
    bone = _ellipse(x, y, 0.0, 80.0, 20.0, 18.0)
    if int(np.floor((z + 500.0) / 25.0)) % 2 == 0:
        angle = np.arctan2(y / 105.0, x / 150.0)
        rib_ring = _ellipse(x, y, 0.0, 0.0, 156.0, 110.0) & ~_ellipse(x, y, 0.0, 0.0, 146.0, 100.0)
        bone |= rib_ring & (np.abs(np.sin(angle)) > 0.25)
    hu[bone] = BONE_HU
    labels[bone] = BACKGROUND  # a rib crossing the lung's corner is chest wall, not lung
    return hu, labels


def grid_mm(n: int, step: float) -> np.ndarray:
    """Coordinates (mm) of n samples spaced ``step`` apart, centred on 0."""
    return (np.arange(n, dtype=np.float32) - (n - 1) / 2.0) * np.float32(step)


def make_ct_phantom(
    shape: tuple[int, int, int] = (48, 128, 128),
    spacing: tuple[float, float, float] = (6.0, 3.0, 3.0),
    lesions: bool = True,
    seed: int = 0,
    noise_hu: float = 10.0,
) -> tuple[np.ndarray, np.ndarray]:
    """A chest CT in HU (int16, z y x) and its lung mask (uint8: 0 background, 1 right lung, 2 left lung).

    ``spacing`` (z, y, x) mm sets how the same 340 x 240 mm chest is sampled; z index 0 is inferior.
    Lesions (ground glass -500 HU in the right lung, consolidation +20 HU in the left) lie inside the
    mask: they are diseased lung, not background.
    """
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    y, x = np.meshgrid(grid_mm(ny, spacing[1]), grid_mm(nx, spacing[2]), indexing="ij")
    found = _lesions(rng) if lesions else ()
    hu = np.empty(shape, dtype=np.int16)
    mask = np.empty(shape, dtype=np.uint8)
    for k, z in enumerate(grid_mm(nz, spacing[0])):
        values, mask[k] = _chest_slice(x, y, float(z), found)
        values += rng.standard_normal(values.shape, dtype=np.float32) * np.float32(noise_hu)
        np.rint(values, out=values)
        hu[k] = np.clip(values, -1024, 3071)
    return hu, mask


def _file_meta(sop_class: str, sop_uid: str) -> FileMetaDataset:
    """File meta for native pixels; ``_save`` sets the final transfer syntax when it encodes."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return meta


def _base_dataset(sop_class: str, modality: str, study_uid: str, series_uid: str, series_number: int) -> Dataset:
    today = datetime.date.today().strftime("%Y%m%d")
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = today
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
    ds.AccessionNumber = ""
    ds.Modality = modality
    ds.Manufacturer = "LungLens phantom"
    ds.ReferringPhysicianName = ""
    ds.PatientName = PHANTOM_PATIENT_NAME
    ds.PatientID = PHANTOM_PATIENT_ID
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = series_number
    ds.StudyDescription = "LungLens synthetic chest"
    return ds


def _save(ds: Dataset, path: Path, transfer_syntax: str) -> None:
    """Write ``ds`` (native pixels) with ``transfer_syntax``, compressing with pydicom or GDCM."""
    syntax = UID(transfer_syntax)
    if syntax.is_compressed and syntax not in _GDCM_ONLY:
        ds.compress(syntax, generate_instance_uid=False)
    else:
        native = ImplicitVRLittleEndian if syntax == ImplicitVRLittleEndian else ExplicitVRLittleEndian
        ds.file_meta.TransferSyntaxUID = native
    ds.save_as(path, enforce_file_format=True)
    if syntax in _GDCM_ONLY:
        _gdcm_transcode(path, _GDCM_ONLY[syntax])


def _gdcm_transcode(path: Path, gdcm_syntax: str) -> None:
    import gdcm

    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    if not reader.Read():
        raise RuntimeError(f"GDCM could not read {path} back")
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax, gdcm_syntax)))
    change.SetInput(reader.GetImage())
    if not change.Change():
        raise RuntimeError(f"GDCM could not encode {path} as {gdcm_syntax}")
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(path))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    if not writer.Write():
        raise RuntimeError(f"GDCM could not write {path}")


def _stored_values(hu: np.ndarray, slope: float, signed: bool) -> np.ndarray:
    intercept = 0.0 if signed else -1024.0
    stored = np.rint((hu.astype(np.float32) - intercept) / slope)
    dtype = np.int16 if signed else np.uint16
    info = np.iinfo(dtype)
    if stored.min() < info.min or stored.max() > info.max:
        raise ValueError(f"HU range {hu.min()}..{hu.max()} does not fit {dtype.__name__} at slope {slope}")
    return stored.astype(dtype)


def _plane(
    orientation: Sequence[float], tilt_deg: float, shape: tuple[int, int], spacing: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, corner, along): the image plane's directions (tilted about x under a gantry
    tilt), the position of its first pixel with the image centred on the table axis, and the
    direction slices step in (the normal, or the table's z under a tilt)."""
    row = np.asarray(orientation[:3], dtype=float)
    column = np.asarray(orientation[3:], dtype=float)
    if tilt_deg:
        tilt = np.deg2rad(tilt_deg)
        row, column = np.array([1.0, 0.0, 0.0]), np.array([0.0, np.cos(tilt), -np.sin(tilt)])
    (ny, nx), (dy, dx) = shape, spacing
    corner = -((nx - 1) / 2.0) * dx * row - ((ny - 1) / 2.0) * dy * column
    along = np.cross(row, column) if not tilt_deg else np.array([0.0, 0.0, 1.0])
    return row, column, corner, along


def _set_ct_pixels(ds: Dataset, hu: np.ndarray, slope: float, signed: bool) -> None:
    """One slice's rescale, window and pixel modules: HU stored as uint16 + 1024 (or int16) at ``slope``."""
    ds.RescaleIntercept = 0 if signed else -1024
    ds.RescaleSlope = slope
    ds.RescaleType = "HU"
    ds.WindowCenter, ds.WindowWidth = -600, 1500
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = hu.shape
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = _stored_values(hu, slope, signed).tobytes()


# Over 60 lines for its signature: one keyword per trap the loader's tests set (tilt, gaps, order, rescale).
def write_ct_series(
    folder: str | Path,
    hu: np.ndarray,
    spacing: tuple[float, float, float] = (6.0, 3.0, 3.0),
    *,
    tilt_deg: float = 0.0,
    missing_slices: Sequence[int] = (),
    shuffle: bool = False,
    transfer_syntax: str = ExplicitVRLittleEndian,
    series_uid: str | None = None,
    study_uid: str | None = None,
    negative_spacing_between_slices: bool = False,
    duplicate_slice: bool = False,
    description: str = "Phantom chest CT",
    z_positions: Sequence[float] | None = None,
    orientation: Sequence[float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    vary_rescale: bool = False,
    signed: bool = False,
    acquisition_number: int = 1,
    series_number: int = 2,
    file_prefix: str = "CT",
    seed: int = 0,
) -> list[Path]:
    """Write ``hu`` (z, y, x) as a CT Image Storage series, one file per slice; returns the paths written.

    Slice k sits at ``z_positions[k]`` (default k * spacing[0], centred) along the table axis.
    Traps: ``tilt_deg`` tilts the image plane about x while the table still moves along z (gantry
    tilt); ``missing_slices`` are indices not written; ``duplicate_slice`` writes the middle slice
    twice; ``shuffle`` randomises file names and InstanceNumbers so only ImagePositionPatient tells
    the order; ``vary_rescale`` stores every other slice with RescaleSlope 0.5; ``signed`` stores HU
    as int16 with intercept 0 instead of uint16 with intercept -1024.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    nz, ny, nx = hu.shape
    dz, dy, dx = spacing
    rng = np.random.default_rng(seed)
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    frame_of_reference = generate_uid()
    if z_positions is None:
        z_positions = list(grid_mm(nz, dz).astype(float))
    if len(z_positions) != nz:
        raise ValueError(f"{len(z_positions)} z positions for {nz} slices")

    row, column, corner, along = _plane(orientation, tilt_deg, (ny, nx), (dy, dx))
    slices = [k for k in range(nz) if k not in set(missing_slices)]
    if duplicate_slice:
        slices.insert(len(slices) // 2, slices[len(slices) // 2])
    numbers = rng.permutation(len(slices)) if shuffle else np.arange(len(slices))

    paths = []
    for order, k in enumerate(slices):
        slope = 0.5 if vary_rescale and k % 2 else 1.0
        ds = _base_dataset(CTImageStorage, "CT", study_uid, series_uid, series_number)
        ds.file_meta = _file_meta(CTImageStorage, ds.SOPInstanceUID)
        ds.SeriesDescription = description
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.FrameOfReferenceUID = frame_of_reference
        ds.PositionReferenceIndicator = ""
        ds.AcquisitionNumber = acquisition_number
        ds.InstanceNumber = int(numbers[order]) + 1
        position = corner + float(z_positions[k]) * along
        ds.ImagePositionPatient = [round(float(v), 4) for v in position]
        ds.ImageOrientationPatient = [round(float(v), 6) for v in (*row, *column)]
        ds.SliceLocation = round(float(z_positions[k]), 4)
        ds.PixelSpacing = [dy, dx]
        ds.SliceThickness = dz
        ds.SpacingBetweenSlices = -dz if negative_spacing_between_slices else dz
        ds.GantryDetectorTilt = tilt_deg
        ds.KVP = 120
        ds.PatientPosition = "HFS"
        _set_ct_pixels(ds, hu[k], slope, signed)
        name = f"{file_prefix}{numbers[order] + 1:05d}.dcm" if shuffle else f"{file_prefix}{order + 1:05d}.dcm"
        path = folder / name
        _save(ds, path, transfer_syntax)
        paths.append(path)
    return paths


def write_enhanced_ct(path: str | Path, series_files: Sequence[str | Path]) -> Path:
    """Convert a single-frame CT series into one Legacy Converted Enhanced CT multi-frame file.

    highdicom moves per-slice position and rescale into per-frame functional groups, which is the
    layout every Enhanced CT reader has to handle.
    """
    from highdicom.legacy import LegacyConvertedEnhancedCTImage

    datasets = [pydicom.dcmread(f) for f in series_files]
    enhanced = LegacyConvertedEnhancedCTImage(
        legacy_datasets=datasets,
        series_instance_uid=generate_uid(),
        series_number=90,
        sop_instance_uid=generate_uid(),
        instance_number=1,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    enhanced.save_as(path, enforce_file_format=True)
    return path


def make_xray_phantom(shape: tuple[int, int] = (512, 512), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A PA chest radiograph in display intensity (float32, 0 black .. 1 white) and its lung mask.

    As displayed: air black, lungs dark, mediastinum, spine and ribs bright. The mask uses the CT
    labels (1 right lung on the image's left, 2 left lung), so both modalities share one convention.
    """
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.meshgrid(np.linspace(-1.0, 1.0, h, dtype=np.float32), np.linspace(-1.0, 1.0, w, dtype=np.float32), indexing="ij")
    image = np.full(shape, 0.05, dtype=np.float32)
    body = _ellipse(x, y, 0.0, 0.1, 0.85, 1.05)
    image[body] = 0.55
    mask = np.zeros(shape, dtype=np.uint8)
    mask[_ellipse(x, y, -0.38, -0.05, 0.3, 0.62) & (y < 0.5 - 0.25 * x**2)] = RIGHT_LUNG
    mask[_ellipse(x, y, 0.38, -0.05, 0.3, 0.62) & (y < 0.5 - 0.25 * x**2)] = LEFT_LUNG
    lungs = mask > 0
    image[lungs] = 0.22
    ribs = lungs & (np.sin((y + 0.25 * np.abs(x)) * 28.0) > 0.75)
    image[ribs] = 0.4
    image[_ellipse(x, y, 0.0, 0.05, 0.13, 0.8)] = 0.78
    image[_ellipse(x, y, 0.1, 0.32, 0.3, 0.25)] = 0.75
    image[_ellipse(x, y, -0.45, 0.2, 0.08, 0.08) & lungs] = 0.45
    spine = body & (np.abs(x) < 0.05)
    image[spine] = np.maximum(image[spine], 0.9)
    blurred = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(sitk.GetImageFromArray(image), 2.0))
    noisy = blurred + rng.normal(0.0, 0.01, size=shape).astype(np.float32)
    return np.clip(noisy, 0.0, 1.0).astype(np.float32), mask


def write_xray_dicom(
    path: str | Path,
    image: np.ndarray,
    *,
    photometric: str = "MONOCHROME1",
    pixel_spacing: tuple[float, float] | None = (0.5, 0.5),
    imager_pixel_spacing: tuple[float, float] | None = None,
    bits_stored: int = 14,
    window: bool = True,
    series_uid: str | None = None,
    study_uid: str | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> Path:
    """Write a display-intensity image (0 black .. 1 white) as a DX For Presentation DICOM.

    MONOCHROME1 stores the complement (high value = dark), so a correct reader that inverts after
    the VOI window shows exactly ``image``. ``window`` adds a WindowCenter/Width covering the data.
    """
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ValueError(f"photometric must be MONOCHROME1 or MONOCHROME2, not {photometric}")
    top = 2**bits_stored - 1
    stored = np.rint(np.clip(image, 0.0, 1.0) * top).astype(np.uint16)
    if photometric == "MONOCHROME1":
        stored = (top - stored).astype(np.uint16)
    series_uid = series_uid or generate_uid()
    ds = _base_dataset(DigitalXRayImageStorageForPresentation, "DX", study_uid or generate_uid(), series_uid, 1)
    ds.file_meta = _file_meta(DigitalXRayImageStorageForPresentation, ds.SOPInstanceUID)
    ds.SeriesDescription = f"Phantom chest PA {photometric}"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    ds.InstanceNumber = 1
    # Rows run towards the patient's left, columns towards the feet: the PA view with the right lung on the image's left.
    ds.PatientOrientation = ["L", "F"]
    if pixel_spacing is not None:
        ds.PixelSpacing = list(pixel_spacing)
    if imager_pixel_spacing is not None:
        ds.ImagerPixelSpacing = list(imager_pixel_spacing)
    if window:
        ds.WindowCenter, ds.WindowWidth = top / 2.0, float(top)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = image.shape
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = stored.tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(ds, path, transfer_syntax)
    return path


def write_xray_png(path: str | Path, image: np.ndarray, bits: int = 8) -> Path:
    """Write a display-intensity image as an 8- or 16-bit grey PNG; a .jpg/.jpeg name gives an 8-bit JPEG."""
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, not {bits}")
    top = 2**bits - 1
    values = np.rint(np.clip(image, 0.0, 1.0) * top).astype(np.uint8 if bits == 8 else np.uint16)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    jpeg = path.suffix.lower() in (".jpg", ".jpeg")
    if jpeg and bits != 8:
        raise ValueError("JPEG files are 8-bit here")
    PILImage.fromarray(values).save(path, format="JPEG" if jpeg else "PNG", quality=95)
    return path


def _non_image_dataset(sop_class: str, modality: str, study_uid: str) -> Dataset:
    ds = _base_dataset(sop_class, modality, study_uid, generate_uid(), 99)
    ds.file_meta = _file_meta(sop_class, ds.SOPInstanceUID)
    ds.InstanceNumber = 1
    return ds


def write_text_report(path: str | Path, study_uid: str, text: str = "No acute findings (synthetic).") -> Path:
    """A Basic Text SR document: DICOM without pixels, which a loader must skip with a reason."""
    ds = _non_image_dataset(BasicTextSRStorage, "SR", study_uid)
    ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "UNVERIFIED"
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    item = Dataset()
    item.RelationshipType, item.ValueType, item.TextValue = "CONTAINS", "TEXT", text
    ds.ContentSequence = [item]
    ds.save_as(Path(path), enforce_file_format=True)
    return Path(path)


def write_presentation_state(path: str | Path, study_uid: str) -> Path:
    """A Grayscale Softcopy Presentation State: display settings, no pixels."""
    ds = _non_image_dataset(GrayscaleSoftcopyPresentationStateStorage, "PR", study_uid)
    ds.ContentLabel = "PHANTOM"
    ds.PresentationCreationDate, ds.PresentationCreationTime = ds.StudyDate, "120000"
    ds.save_as(Path(path), enforce_file_format=True)
    return Path(path)


@dataclass(frozen=True)
class MixedFolder:
    """What ``write_mixed_folder`` put where, so a test can check each file's fate."""

    root: Path
    ct_files: tuple[Path, ...]
    second_ct_files: tuple[Path, ...]
    xray: Path
    report: Path
    presentation_state: Path
    text: Path
    truncated: Path


def write_mixed_folder(folder: str | Path, *, shape: tuple[int, int, int] = (12, 64, 64), seed: int = 0) -> MixedFolder:
    """A study folder as PACS exports look: two CT series, an X-ray, an SR, a PR, a text file and a
    truncated DICOM, spread over sub-folders with unhelpful names."""
    root = Path(folder)
    spacing = (10.0, 6.0, 6.0)
    hu, _ = make_ct_phantom(shape, spacing, seed=seed)
    study_uid = generate_uid()
    ct = write_ct_series(root / "A" / "1", hu, spacing, study_uid=study_uid, description="Phantom lung", seed=seed)
    second = write_ct_series(
        root / "A" / "2", hu[::2], (spacing[0] * 2, *spacing[1:]), study_uid=study_uid,
        description="Phantom thick", series_number=3, file_prefix="IM",
    )
    xray = write_xray_dicom(root / "B" / "xr", make_xray_phantom((128, 128), seed)[0], study_uid=study_uid)
    report = write_text_report(root / "B" / "report", study_uid)
    state = write_presentation_state(root / "B" / "state", study_uid)
    text = root / "notes.txt"
    text.write_text("exported by a PACS; not an image\n")
    truncated = root / "B" / "broken.dcm"
    data = ct[0].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    return MixedFolder(root, tuple(ct), tuple(second), xray, report, state, text, truncated)
