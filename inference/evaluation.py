"""A site measures a model on its own labelled data before trusting it (``lunglens evaluate`` prints it).

Classification: ``DIR`` holds one folder per class. Folder names are matched to the model's classes
ignoring case, spaces, dashes and underscores ("viral pneumonia" = "Viral_Pneumonia"); ``--map
NAME=LABEL`` renames a folder; folders that match no class are reported and left out. A class folder
with no images of its own but an ``images/`` subfolder (the COVID-19 Radiography Database layout)
uses that. Segmentation: ``DIR/images`` and ``DIR/masks``, paired by file name without its image
extension (``a.b-gr1.png`` pairs with ``a.b-gr1.png`` or ``a.b-gr1.nii.gz``, never with ``a.c.png``), 2D
images or 3D volumes. A mask holding the value 2 and nothing above is a label map (0 background, 1 right lung,
2 left lung: Dice per lung and for both); any other mask is binary (nonzero = lung: Dice of the lung).

Images go through the preprocessing contract like at run time: 8-bit images (PNG/JPEG) are taken as
the model's 8-bit image directly (CT slice images are lung-window captures already); DICOM and
16-bit images are loaded by ``inference.loading`` and windowed (CT: the model's window; X-ray: its
VOI window and MONOCHROME1 inversion). A CT model's image then goes through the CT slice contract
(``preprocessing.crop_to_lungs``: cropped to the lungs, outside black), whatever its source, and
mask-weighted models (M4) pool over the contract's lung region.
Metrics come from ``inference.metrics``, the module training's evaluation uses. A file that cannot be
read whole (truncated, damaged, beyond the loader's size limits) is listed as skipped with its
reason and never counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from inference.jobs import Job, ProgressCallback
from inference.manifest import ModelManifest, Task
from inference.metrics import binary_metrics, classification_metrics, dice
from inference.pipelines import ct
from inference.pipelines.classify import run_classifier
from inference.pipelines.xray import mask_problem, segment_image
from inference.preprocessing import (
    crop_to_lungs,
    crop_to_region,
    ct_to_uint8,
    fit_to_square,
    lung_hull,
    lung_view,
    normalise,
    xray_to_uint8,
)
from inference.registry import ModelStatus
from inference.runtime import ModelSession, open_session
from inference.study import CTVolume, Modality, Window

EIGHT_BIT_MODES = ("1", "L", "LA", "P", "RGB", "RGBA")
IMAGE_EXTENSIONS = (".nii.gz", ".png", ".jpg", ".jpeg", ".dcm", ".nii", ".mha", ".mhd", ".nrrd", ".tif", ".tiff", ".bmp")


class UnreadableImage(ValueError):
    """A file evaluate cannot turn into a model input, with the reason."""


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.casefold())


def class_folders(data: Path, classes: tuple[str, ...], renames: list[str]) -> tuple[dict[Path, int], list[str]]:
    """Folder -> class index, and what could not be matched."""
    by_key = {_key(c): i for i, c in enumerate(classes)}
    mapping: dict[str, int] = {}
    for rename in renames:
        name, sep, label = rename.partition("=")
        if not sep or _key(label) not in by_key:
            raise ValueError(f"--map {rename}: expected NAME=LABEL with LABEL one of {', '.join(classes)}")
        mapping[_key(name)] = by_key[_key(label)]
    folders, warnings = {}, []
    for folder in sorted(p for p in data.iterdir() if p.is_dir() and not p.name.startswith(".")):
        index = mapping.get(_key(folder.name), by_key.get(_key(folder.name)))
        if index is None:
            warnings.append(f"folder {folder.name} matches no class ({', '.join(classes)}): left out; use --map {folder.name}=CLASS")
        else:
            folders[folder] = index
    return folders, warnings


def image_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files and (folder / "images").is_dir():
        return image_files(folder / "images")
    return files


def image_key(path: Path) -> str:
    """A file's name without its image extension: what pairs an image with its mask."""
    name = path.name
    lowered = name.lower()
    return next((name[: -len(ext)] for ext in IMAGE_EXTENSIONS if lowered.endswith(ext)), name)


def _raster_8bit(path: Path) -> np.ndarray | None:
    """An 8-bit PNG/JPEG as stored, None for anything else; UnreadableImage when it is damaged or too large."""
    from inference.loading import LoadError
    from inference.loading.xray import raster_size

    try:
        with PILImage.open(path) as opened:
            if opened.mode not in EIGHT_BIT_MODES:
                return None
    except UnidentifiedImageError:
        return None
    except Exception:  # PIL raises many types for damaged or oversized files: the loader's check says which
        pass
    try:
        raster_size(path)  # the loader's size limit, before decoding
        with PILImage.open(path) as opened:
            return np.asarray(opened.convert("L"))
    except LoadError as exc:
        raise UnreadableImage(str(exc)) from exc
    except Exception as exc:  # a truncated or corrupt stream: never counted with grey fill
        raise UnreadableImage(f"the image could not be decoded ({type(exc).__name__}: {exc})") from exc


def read_8bit(path: Path, manifest: ModelManifest) -> np.ndarray:
    """The 8-bit display image (lungs dark) a model of ``manifest``'s modality gets from one file."""
    pixels = _raster_8bit(path)
    if pixels is not None:
        return pixels
    from inference.loading import load_path

    images, skipped = load_path(path)
    if not images:
        raise UnreadableImage(skipped[0].reason if skipped else "not an image LungLens can read")
    image = images[0]
    if isinstance(image, CTVolume):
        if image.shape[0] != 1:
            raise UnreadableImage(f"a volume of {image.shape[0]} slices, expected one image")
        window = Window(*manifest.preprocessing.window) if manifest.preprocessing.window else image.default_window
        return ct_to_uint8(image.hu[0], window)
    return xray_to_uint8(image)


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int
    square: np.ndarray
    lung: np.ndarray | None


def _xray_segmenter(manifest: ModelManifest) -> ModelSession | None:
    """The installed X-ray lung U-Net, for a model that sees only the lungs (as the pipeline runs it)."""
    if manifest.modality != Modality.XRAY or manifest.preprocessing.crop != "lungs":
        return None
    from inference.pipelines.analysis import choose_models
    from inference.registry import discover_models

    segmenter = choose_models(discover_models(), Modality.XRAY).segmenter
    if segmenter is None:
        raise ValueError(f"model {manifest.id} looks at the lungs only: install an X-ray lung U-Net (see 'lunglens models')")
    return open_session(segmenter, "cpu")


def load_samples(files: list[tuple[Path, int]], manifest: ModelManifest, job: Job) -> tuple[list[Sample], list[dict]]:
    """Each file as the model's square 8-bit input (and its lung mask for M4); unreadable ones skipped.
    CT slices and lung-cropped X-rays go through the lung contract exactly as in the pipelines; an
    X-ray whose lung mask is implausible is skipped with that reason (the pipeline gives no opinion)."""
    spec = manifest.preprocessing
    segmenter = _xray_segmenter(manifest)
    samples, skipped = [], []
    for n, (path, label) in enumerate(files):
        job.report(n / len(files), f"reading images: {n + 1}/{len(files)}")
        try:
            pixels = read_8bit(path, manifest)
        except (UnreadableImage, OSError, ValueError) as exc:
            skipped.append({"path": str(path), "reason": str(exc)})
            continue
        if manifest.modality == Modality.CT:
            square, region = lung_view(crop_to_lungs(pixels), spec.size, spec.resize)
            samples.append(Sample(path, label, square, region))
        elif segmenter is not None:
            labels = segment_image(pixels, segmenter)
            problem = mask_problem(labels)
            if problem:
                skipped.append({"path": str(path), "reason": f"lung mask implausible ({problem})"})
                continue
            square, region = lung_view(crop_to_region(pixels, lung_hull(labels)), spec.size, spec.resize)
            samples.append(Sample(path, label, square, region))
        else:
            samples.append(Sample(path, label, fit_to_square(pixels, spec.size, spec.resize), None))
    return samples, skipped


def evaluate_classifier(session: ModelSession, data: Path, renames: list[str], progress: ProgressCallback | None) -> dict:
    manifest = session.manifest
    if manifest.uses_lung_mask and manifest.modality != Modality.CT and manifest.preprocessing.crop != "lungs":
        raise ValueError(f"model {manifest.id} pools over a lung mask; evaluate derives one only for CT and lung-cropped models")
    folders, warnings = class_folders(data, manifest.classes, renames)
    if not folders:
        raise ValueError(f"no folder in {data} matches a class of {manifest.id} ({', '.join(manifest.classes)})")
    files = [(path, label) for folder, label in folders.items() for path in image_files(folder)]
    job = Job(progress)
    samples, skipped = load_samples(files, manifest, job.part(0.0, 0.5))
    if not samples:
        raise ValueError(f"no readable image in {data}")
    def batch(part: slice) -> tuple[np.ndarray, np.ndarray | None]:
        chosen = samples[part]
        lungs = np.stack([s.lung for s in chosen])[:, None].astype(np.float32) if chosen[0].lung is not None else None
        return normalise(np.stack([s.square for s in chosen]), manifest.preprocessing), lungs

    probs, _ = run_classifier(session, len(samples), batch, job.part(0.5, 1.0))
    labels = np.array([s.label for s in samples])
    report = {
        "task": Task.CLASSIFICATION,
        "class_folders": {folder.name: manifest.classes[i] for folder, i in folders.items()},
        "n": len(samples),
        "metrics": classification_metrics(labels, probs, manifest.classes),
        "at_threshold": None,
        "skipped": skipped,
        "warnings": warnings,
    }
    positive = manifest.positive_index
    if positive is not None:
        report["at_threshold"] = {
            "positive_class": manifest.classes[positive],
            **binary_metrics(labels == positive, probs[:, positive], manifest.threshold.value),
        }
    return report


def _truth(path: Path) -> tuple[np.ndarray, bool]:
    """(mask, labelled): a right/left label map when it holds 2 and nothing above, else binary lung."""
    values = _raster_8bit(path)
    if values is None:
        values = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    present = set(np.unique(values).tolist())
    return values, 2 in present and present <= {0, 1, 2}


def _predict_mask(path: Path, session: ModelSession) -> np.ndarray:
    if session.manifest.method == "unet3d":
        from inference.loading import load_path

        images, skipped = load_path(path)
        if not images or not isinstance(images[0], CTVolume):
            raise UnreadableImage(skipped[0].reason if skipped else "not a CT volume")
        return ct.lung_mask(images[0], session, Job()).labels
    return segment_image(read_8bit(path, session.manifest), session)


def evaluate_segmenter(session: ModelSession, data: Path, progress: ProgressCallback | None) -> dict:
    images_dir, masks_dir = data / "images", data / "masks"
    if not images_dir.is_dir() or not masks_dir.is_dir():
        raise ValueError(f"a segmentation model is evaluated on {data}/images and {data}/masks; one is missing")
    masks = {image_key(p): p for p in image_files(masks_dir)}
    per_image, skipped = [], []
    files = image_files(images_dir)
    job = Job(progress)
    for n, path in enumerate(files):
        job.report(n / max(len(files), 1), f"{session.manifest.id}: image {n + 1}/{len(files)}")
        truth_path = masks.get(image_key(path))
        if truth_path is None:
            skipped.append({"path": str(path), "reason": "no mask with the same name"})
            continue
        try:
            (truth, labelled), predicted = _truth(truth_path), _predict_mask(path, session)
        except (UnreadableImage, OSError, RuntimeError, ValueError) as exc:
            skipped.append({"path": str(path), "reason": str(exc)})
            continue
        if truth.shape != predicted.shape:
            skipped.append({"path": str(path), "reason": f"mask {truth.shape} and image {predicted.shape} differ in size"})
            continue
        scores = {"lung": dice(predicted > 0, truth > 0, [1])[1]}
        if labelled:
            scores.update(zip(("right", "left"), dice(predicted, truth, (1, 2)).values()))
        per_image.append({"file": path.name, "dice": scores})
    if not per_image:
        raise ValueError(f"no image in {images_dir} could be paired with a mask and read")
    names = sorted({k for row in per_image for k in row["dice"]})
    mean = {k: float(np.nanmean([row["dice"].get(k, np.nan) for row in per_image])) for k in names}
    job.report(1.0, f"{session.manifest.id}: done")
    return {"task": Task.SEGMENTATION, "n": len(per_image), "mean_dice": mean, "per_image": per_image, "skipped": skipped, "warnings": []}


def evaluate_model(status: ModelStatus, device: str, data: Path, renames: list[str], progress: ProgressCallback | None = None) -> dict:
    """The whole evaluation document of one model on ``data``: the model, the device, and the
    classification or segmentation figures. ValueError (or the runtime's errors) when it cannot run."""
    session = open_session(status, device)
    if not data.is_dir():
        raise ValueError(f"{data} is not a folder")
    if status.manifest.task == Task.SEGMENTATION:
        report = evaluate_segmenter(session, data, progress)
    else:
        report = evaluate_classifier(session, data, renames, progress)
    m = status.manifest
    return {"model": {"id": m.id, "version": m.version, "method": m.method, "modality": m.modality, "sha256": m.sha256},
            "device": session.device, "data": str(data), **report}
