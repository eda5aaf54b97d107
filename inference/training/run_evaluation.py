"""The figures a model's card needs beyond its own test split (``lunglens evaluate-run RUN`` writes them).

A test split from the sources a model trained on flatters it; a new hospital sees something else.
So for a CT pack run ``RUN`` (trained on every CT source) this measures, and writes to
``RUN/external.json`` (export puts it in the manifest's ``metrics.external`` and the card):

- leave-one-source-out: the test figures of the sibling runs ``RUN-loso-<source>``, each trained
  without that source and tested on all of it;
- a baseline that cannot learn a source: the share of the lung region in the ground-glass and
  consolidation intensity bands (-700 to +100 HU in the lung window), on the same test images; a
  model that does not beat it on held-out sources has learned the source, not the disease;
- the real DICOM series beside the data (``ct_series/*``, no COVID): the study probability the CT
  pipeline's rule gives (lung-area-weighted mean over slices with lung, study threshold);
- where the model looks: on COVID test slices, the share of its positive-class Grad-CAM mass that
  lies inside the contract's lung region.

For a 3D lung U-Net run: on each real series, Dice against the classical mask on aerated lung, the
lung volumes, and the share of the tumour boxes (``<series>_tumour_boxes``) inside the mask.

For an X-ray classifier run: per-class recall on paediatric and on adult test images (the sources
say which), the shortcut check of the age confound, and the Grad-CAM mass inside the lungs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from inference.metrics import auc_interval, roc_auc, softmax
from inference.preprocessing import crop_to_lungs, ct_to_uint8, lung_view, normalise
from inference.training.checkpoint import build_from_checkpoint, checkpoint_input_spec, load_checkpoint
from inference.training.datasets import load_grey_uint8
from inference.training.gradcam import autograd_gradcam
from inference.training.splits import Split

# -700 HU (ground glass begins) to +100 HU (consolidation ends) in the 1500/-600 lung window.
DENSE_BAND_U8 = (111, 246)
BATCH = 16


def dense_share(image: np.ndarray) -> float:
    """The no-learning score: share of the lung region's pixels in the ground-glass/consolidation band."""
    lungs = crop_to_lungs(image)
    inside = lungs.image[lungs.region > 0]
    if not inside.size:
        return float("nan")
    return float(np.mean((inside >= DENSE_BAND_U8[0]) & (inside <= DENSE_BAND_U8[1])))


def _auc(labels: np.ndarray, scores: np.ndarray) -> dict:
    keep = np.isfinite(scores)
    return {"n": int(keep.sum()), "auc": roc_auc(labels[keep], scores[keep]), "auc_ci95": auc_interval(labels[keep], scores[keep])}


def baseline_figures(split: Split, positive: int) -> dict:
    """The dense-band baseline's COVID AUC on the test part, overall and per source."""
    items = split.test
    scores = np.array([dense_share(load_grey_uint8(i.path)) for i in items])
    labels = np.array([i.label == positive for i in items])
    sources = np.array([i.source for i in items])
    figures = {"all": _auc(labels, scores)}
    for source in sorted(set(sources.tolist())):
        figures[source] = _auc(labels[sources == source], scores[sources == source])
    return figures


def loso_figures(run: Path) -> dict:
    """Each ``RUN-loso-<source>`` sibling's test figures (its test set is that whole source)."""
    figures = {}
    for sibling in sorted(run.parent.glob(f"{run.name}-loso-*")):
        metrics = sibling / "metrics.json"
        if metrics.exists():
            test = json.loads(metrics.read_text())["metrics"]["test"]
            figures[sibling.name.split("-loso-", 1)[1]] = {
                **test["positive"], "accuracy": test["accuracy"], "accuracy_ci95": test["accuracy_ci95"],
            }
    return figures


@torch.no_grad()
def _probabilities(model, views: list[tuple[np.ndarray, np.ndarray]], spec, temperature: float) -> np.ndarray:
    out = []
    for start in range(0, len(views), BATCH):
        part = views[start : start + BATCH]
        image = torch.from_numpy(normalise(np.stack([v[0] for v in part]), spec))
        region = torch.from_numpy(np.stack([v[1] for v in part])[:, None].astype(np.float32))
        logits = model(image, region) if model.uses_lung_mask else model(image)
        out.append(softmax(logits.float().numpy(), temperature))
    return np.concatenate(out) if out else np.zeros((0, 2))


def series_figures(model, saved: dict, series_root: Path, positive: int) -> dict:
    """Every real CT series under ``series_root``: study probability by the CT pipeline's rule."""
    from inference.lung_segmentation import segment_lungs_classical
    from inference.loading import load_path
    from inference.pipelines.ct import MIN_LUNG_AREA_MM2

    spec = checkpoint_input_spec(saved)
    extra = saved.get("extra", {})
    temperature = float(extra.get("temperature", 1.0))
    study_threshold = (extra.get("study_threshold") or {}).get("value")
    figures = {}
    for folder in sorted(p for p in series_root.iterdir() if p.is_dir()):
        volumes, _ = load_path(folder)
        for volume in volumes:
            if not hasattr(volume, "hu") or volume.shape[0] < 8:
                continue
            labels = segment_lungs_classical(volume)
            areas = np.count_nonzero(labels, axis=(1, 2)) * float(volume.spacing[1] * volume.spacing[2])
            slices = np.flatnonzero(areas >= MIN_LUNG_AREA_MM2)
            views = [lung_view(crop_to_lungs(ct_to_uint8(volume.hu[i])), spec.size, spec.resize) for i in slices]
            p = _probabilities(model, views, spec, temperature)[:, positive]
            study = float(np.sum(p * areas[slices]) / np.sum(areas[slices]))
            figures[folder.name] = {
                "slices": int(len(slices)), "study_probability": study, "study_threshold": study_threshold,
                "reads_positive": None if study_threshold is None else bool(study >= study_threshold),
                "slice_probability_max": float(p.max()), "slices_over_half": int(np.sum(p >= 0.5)),
            }
    return figures


def _views(dataset, indices) -> tuple[torch.Tensor, torch.Tensor, list[np.ndarray]]:
    views = [lung_view(dataset.lung_crop(i), dataset.spec.size, dataset.spec.resize) for i in indices]
    image = torch.from_numpy(normalise(np.stack([v[0] for v in views]), dataset.spec))
    region = torch.from_numpy(np.stack([v[1] for v in views])[:, None].astype(np.float32))
    return image, region, [v[1] for v in views]


def cam_in_lung(model, dataset, positive: int, limit: int = 200) -> dict:
    """Share of the positive class's Grad-CAM mass inside the lung region, on positive test images."""
    chosen = [i for i, item in enumerate(dataset.items) if item.label == positive][:limit]
    shares = []
    for start in range(0, len(chosen), BATCH):
        image, region, lungs = _views(dataset, chosen[start : start + BATCH])
        cams = autograd_gradcam(model, image, region if model.uses_lung_mask else None, class_index=positive)
        cams = torch.nn.functional.interpolate(cams, size=image.shape[-2:], mode="bilinear")[:, 0].numpy()
        shares += [float((cam * (lung > 0)).sum() / cam.sum()) for cam, lung in zip(cams, lungs) if cam.sum() > 0]
    shares = np.array(shares)
    return {"slices": int(len(shares)), "mean_share_inside": float(shares.mean()) if len(shares) else float("nan"),
            "median_share_inside": float(np.median(shares)) if len(shares) else float("nan")}


@torch.no_grad()
def age_group_recall(model, dataset, classes: tuple[str, ...], temperature: float) -> dict:
    """Per-class recall (95% interval) on the paediatric and on the adult test images: the shortcut
    check. A model that learned "child = pneumonia" calls paediatric normals pneumonia."""
    from inference.metrics import wilson_interval
    from inference.training.sources import source_info

    predicted = []
    for start in range(0, len(dataset), BATCH):
        image, region, _ = _views(dataset, range(start, min(start + BATCH, len(dataset))))
        logits = model(image, region) if model.uses_lung_mask else model(image)
        predicted.append(softmax(logits.float().numpy(), temperature).argmax(axis=1))
    predicted = np.concatenate(predicted)
    figures: dict = {}
    for n, item in enumerate(dataset.items):
        group = "paediatric" if classes[item.label] in source_info(item.source).paediatric_classes else "adult"
        cell = figures.setdefault(group, {}).setdefault(classes[item.label], [0, 0])
        cell[0] += int(predicted[n] == item.label)
        cell[1] += 1
    return {
        group: {name: {"recall": hits / total, "recall_ci95": wilson_interval(hits, total), "n": total} for name, (hits, total) in cells.items()}
        for group, cells in figures.items()
    }


def _test_dataset(run: Path, saved: dict, split: Split):
    from inference.training.datasets import LungCropDataset
    from inference.training.lung_masks import mask_path

    spec = checkpoint_input_spec(saved)
    masks = None
    if saved["modality"] == "XR":
        lung_model = saved["extra"]["config"]["lung_model"]
        from inference.registry import inspect_model

        sha = inspect_model(Path(lung_model).with_suffix(".json")).manifest.sha256
        masks = {item.path: mask_path(run / "lung_masks", item.path, sha) for item in split.test}
    return LungCropDataset(split.test, spec, lung_masks=masks)


def evaluate_run(run: Path, series_root: Path | None) -> dict:
    saved = load_checkpoint(run / "best.pt")
    model = build_from_checkpoint(saved).eval()
    if saved["method"] == "unet3d":
        return {"real_series_masks": unet3d_series_figures(model, saved, series_root)} if series_root else {}
    split = Split.load(run / "split.json")
    classes = tuple(saved["classes"])
    positive = classes.index("COVID")
    test = _test_dataset(run, saved, split)
    if saved["modality"] == "XR":
        temperature = float(saved.get("extra", {}).get("temperature", 1.0))
        return {"age_groups": age_group_recall(model, test, classes, temperature), "cam_in_lung": cam_in_lung(model, test, positive)}
    report = {
        "leave_one_source_out": loso_figures(run),
        "dense_band_baseline": baseline_figures(split, positive),
        "cam_in_lung": cam_in_lung(model, test, positive),
    }
    if series_root is not None and series_root.is_dir():
        report["real_series"] = series_figures(model, saved, series_root, positive)
    return report


def tumour_boxes(volume, folder: Path) -> np.ndarray:
    """The PASCAL VOC boxes of ``folder`` (one XML per slice, named by SOPInstanceUID) as a mask on
    ``volume``; boxes of slices not in this series are left out."""
    import xml.etree.ElementTree as ET

    boxes = np.zeros(volume.shape, dtype=bool)
    where = {uid: z for z, uid in enumerate(volume.sop_uids)}
    for xml in sorted(folder.glob("*.xml")):
        z = where.get(xml.stem)
        if z is None:
            continue
        for box in ET.parse(xml).findall(".//bndbox"):
            x0, y0, x1, y1 = (int(float(box.find(k).text)) for k in ("xmin", "ymin", "xmax", "ymax"))
            boxes[z, y0 : y1 + 1, x0 : x1 + 1] = True
    return boxes


def mask_figures(volume, labels: np.ndarray, reference: np.ndarray, boxes: np.ndarray | None) -> dict:
    """A lung mask against the classical one on aerated lung (below -400 HU), its volumes, and the
    share of the tumour boxes inside it (a mask that cuts dense disease out scores low)."""
    aerated = volume.hu < -400
    mine, theirs = (labels > 0) & aerated, reference > 0
    voxel_ml = float(np.prod(volume.spacing)) / 1000.0
    figures = {
        "dice_aerated_vs_classical": float(2 * np.sum(mine & theirs) / max(mine.sum() + theirs.sum(), 1)),
        "volume_ml": {"right": float(np.sum(labels == 1) * voxel_ml), "left": float(np.sum(labels == 2) * voxel_ml)},
    }
    if boxes is not None and boxes.any():
        figures["tumour_box_share_inside"] = float(np.mean(labels[boxes] > 0))
        figures["tumour_box_share_inside_classical"] = float(np.mean(reference[boxes] > 0))
    return figures


@torch.no_grad()
def unet3d_series_figures(model, saved: dict, series_root: Path) -> dict:
    """The 3D U-Net on every real series beside the data, as the CT pipeline runs it."""
    from inference.loading import load_path
    from inference.lung_segmentation import prepare_ct_cube, resample_to_cube, segment_lungs_classical, unet_labels_to_native

    spec = checkpoint_input_spec(saved)
    figures = {}
    for folder in sorted(p for p in series_root.iterdir() if p.is_dir()):
        volumes, _ = load_path(folder)
        for volume in (v for v in volumes if hasattr(v, "hu") and v.shape[0] >= 8):
            cube_hu = resample_to_cube(volume, spec.size)
            logits = model(torch.from_numpy(prepare_ct_cube(cube_hu, spec)))[0]
            labels = unet_labels_to_native(logits.argmax(0).numpy().astype(np.uint8), cube_hu, volume)
            boxes_folder = folder.parent / f"{folder.name}_tumour_boxes"
            boxes = tumour_boxes(volume, boxes_folder) if boxes_folder.is_dir() else None
            figures[folder.name] = mask_figures(volume, labels, segment_lungs_classical(volume), boxes)
    return figures
