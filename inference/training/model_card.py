"""The model card (<id>.md) written beside every exported model: what it is, what it was trained on
and under which terms, how it was split and measured, how the seed paper's figures compare (and why
they cannot be compared directly), what it is known to get wrong, and what it is for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inference.manifest import ModelManifest

DATA_TERMS = {
    "XR": (
        "COVID-19 Radiography Database (M.E.H. Chowdhury et al., IEEE Access 8 (2020) 132665-132676; "
        "T. Rahman et al. 2020), research use"
    ),
    "CT": (
        "UCSD-AI4H COVID-CT (X. Yang et al., 'COVID-CT-Dataset: a CT scan dataset about COVID-19', 2020); "
        "image copyright stays with the source papers; research use"
    ),
}

WHAT = {
    "baseline": "ResNet50 + global average pooling + linear classifier: the comparison row of the seed papers.",
    "M1": "ResNet50 with non-local self-attention in the last block of conv3..conv5 and a feature pyramid over "
    "conv2..conv5; GAP of the four fused levels, concatenated, linear classifier.",
    "M2": "ResNet50 + GAP + Dense 1024 ReLU + Dropout 0.5 + Dense (softmax).",
    "M3": "Several backbones, each globally average pooled, pooled vectors concatenated, dropout, linear classifier "
    "(feature fusion).",
    "M4": "ResNet50 slice classifier whose global average pooling is weighted by the lung mask (downscaled to the "
    "feature grid, Gaussian-smoothed, normalised to sum 1); slice outputs are combined into a scan verdict downstream.",
    "M5": "Two backbones' last feature maps concatenated (the paper: ResNet50 and ResNet152V2; this file's pair is in "
    "the network options below), 1x1 convolution to 1024 channels without activation, GAP, linear classifier.",
    "unet2d": "Small 2D U-Net giving a lung mask per chest X-ray (0 background, 1 right lung, 2 left lung).",
    "unet3d": "3D U-Net (M4 step 2) giving a lung mask on the 128^3 isotropic CT volume "
    "(0 background, 1 right lung, 2 left lung).",
}

PUBLISHED = {
    "baseline": "Plain ResNet50: 87 % accuracy on ~3000 CT images (M1 paper); 77.2 % on 360 X-ray test images "
    "(M5 paper).",
    "M1": "90.1 % accuracy vs 87 % for plain ResNet50 on the same ~3000 CT images, 3 classes; 12.75 FPS on a Xeon "
    "Gold 6226 CPU.",
    "M2": "82.33 % accuracy, 4 classes (COVID, Normal, Viral Pneumonia, Lung Opacity), COVID-19 Radiography "
    "Database, random 80:20 split; weak on COVID and Viral Pneumonia.",
    "M3": "~96 % accuracy on ~6000 CT images, binary, validation split 0.4, seven ImageNet backbones.",
    "M4": "2062 CT scans: GAP 94.6 % acc / 95.3 % sens / 92.8 % spec / F1 96.1 %; mask-weighted GAP 95.5 / 96.4 / "
    "93.3 / 96.8 %.",
    "M5": "Concatenated 92.8 % accuracy (precision 93.5 %, recall 81.1 %, specificity 97.6 %) on 360 test images; "
    "ResNet50 alone 77.2 %, ResNet152V2 alone 80.6 %.",
    "unet2d": "No seed paper: the 2D U-Net is LungLens's own X-ray step.",
    "unet3d": "Dice ~96.5 % on 30 scans, trained on 300 LUNA16 volumes.",
}

NOT_COMPARABLE = {
    "baseline": "The papers' data, class sets and random splits differ from ours.",
    "M1": "The paper's ~3000 CT images are not available; ours are paper-figure slices (UCSD COVID-CT), with "
    "another class set and a near-duplicate-aware split.",
    "M2": "Same database family, but here only 3 classes (no Lung Opacity), 224x224 images, and a split that keeps "
    "perceptual-hash near-duplicates on one side; the paper's random split lets near-duplicates leak.",
    "M3": "Other data (ours: UCSD COVID-CT slices), a smaller backbone subset by default, and no ImageNet weights "
    "unless a local file was given.",
    "M4": "The paper classifies whole DICOM series with real lung masks; our slice data are paper figures without "
    "HU values, so only the network, not the study, is reproduced.",
    "M5": "The paper admits the same patient may be in train and test; we split by near-duplicate groups, which "
    "lowers the figures honestly. A backbone pair other than ResNet50 + ResNet-v2-152 is a variant of the method.",
    "unet2d": "No published figure to compare.",
    "unet3d": "The paper's LUNA16 training and test volumes differ from ours.",
}


def _start_limit(pretrained: str | None) -> str:
    if not pretrained or pretrained.startswith("none"):
        return "Trained from scratch (no ImageNet weights were available): small training sets limit what it can learn."
    if "LungLens" in pretrained:
        return (
            "No ImageNet weights were available: the backbone started from another LungLens model trained on chest "
            "X-rays (see Training), so X-ray features, not natural-image features, are its starting point."
        )
    return f"The backbone started from {pretrained}."


def known_limits(manifest: ModelManifest) -> list[str]:
    limits = [
        "Grad-CAM is computed on the feature grid (input size / 32 for ResNet stages, / 4 for M1's finest pyramid "
        "level) and upsampled: it shows what the network used, not a delineation of disease."
        if manifest.task == "classification"
        else "Masks are predicted at the model's input resolution and resampled back to the image.",
        _start_limit(manifest.training.get("pretrained")),
    ]
    if manifest.modality == "XR":
        limits.append(
            "Viral Pneumonia images in the COVID-19 Radiography Database are paediatric while COVID and Normal are "
            "mostly adult: a model can learn 'child vs adult' instead of pneumonia. Read the per-class metrics, "
            "not accuracy alone."
        )
        if manifest.method == "unet2d":
            limits.append(
                "The available X-ray lung masks cover only the (paediatric) Viral Pneumonia images, so the 2D U-Net "
                "has seen children's chests only."
            )
    if manifest.modality == "CT" and manifest.task == "classification":
        limits.append(
            "The CT training slices are 8-bit lung-window images (screen captures and paper figures), not DICOM: "
            "every slice, DICOM or not, goes through one contract (lung window, cropped to the lungs found on the "
            "image, everything outside them black) so that table, field of view and burned-in text cannot be read. "
            "Per-source and leave-one-source-out figures below are the honest preview of a new hospital."
        )
    if manifest.method == "unet3d":
        limits.append(
            "No public CT volumes with lung masks were available: it learned from synthetic phantoms (exact masks) "
            "and real series labelled by the classical SimpleITK segmentation, so on real anatomy it reproduces the "
            "classical method, including what a HU threshold misses (dense consolidation at the lung edge). The CT "
            "pipeline checks every mask it makes and falls back to the classical one when the mask is implausible."
        )
    if manifest.max_slice_thickness_mm is not None:
        limits.append(
            f"Trained for series with slices up to {manifest.max_slice_thickness_mm:g} mm and without a contrast phase: "
            "a thicker, contrast-enhanced (ContrastBolusAgent) or non-chest series gets an 'outside the training "
            "domain' note beside this model's verdict."
        )
    return limits


def _interval(summary: Mapping[str, Any], key: str = "auc") -> str:
    value, bounds = summary.get(key), summary.get(f"{key}_ci95")
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value:.3f}" + (f" ({bounds[0]:.3f}-{bounds[1]:.3f})" if bounds and all(isinstance(b, float) for b in bounds) else "")


def _triple(values) -> str:
    return "-" if not values else ", ".join(f"{v:.2f}" for v in values)


def _operating(summary: Mapping[str, Any]) -> str:
    at = summary.get("at_threshold")
    if not at:
        return "-"
    return f"{at['sensitivity']:.3f} / {at['specificity']:.3f}"


def _source_lines(test: Mapping[str, Any], external: Mapping[str, Any]) -> list[str]:
    """Per-source test figures beside the no-learning baseline, and the leave-one-source-out runs."""
    lines = []
    baseline = external.get("dense_band_baseline", {})
    if test.get("per_source"):
        lines += [
            "Held-out test groups of each source (this model trained on all sources; COVID AUC, 95% interval; "
            "sensitivity / specificity at the slice threshold; the no-learning dense-band baseline on the same images):\n",
            "| source | slices | COVID AUC | sens / spec | baseline AUC |\n|---|---|---|---|---|",
        ]
        for source, summary in test["per_source"].items():
            lines.append(
                f"| {source} | {summary['n']} | {_interval(summary)} | {_operating(summary)} "
                f"| {_interval(baseline.get(source, {}))} |"
            )
    loso = external.get("leave_one_source_out") or {}
    if loso:
        lines += [
            "\nLeave one source out: the same recipe trained without a source, tested on all of it:\n",
            "| held-out source | slices | COVID AUC | accuracy | sens / spec |\n|---|---|---|---|---|",
        ]
        for source, summary in loso.items():
            lines.append(
                f"| {source} | {summary['n']} | {_interval(summary)} | {_interval(summary, 'accuracy')} | {_operating(summary)} |"
            )
    groups = test.get("groups")
    if groups:
        lines.append(
            f"\nWhole groups (a patient's run of slices, lung-weighted mean, the study threshold): {groups['n']} test "
            f"groups, AUC {_interval(groups)}, sens / spec {_operating(groups)}."
        )
    return lines


def _series_lines(external: Mapping[str, Any]) -> list[str]:
    """The real DICOM series: a classifier's study verdict, or a lung U-Net's mask figures."""
    lines = []
    for name, figure in (external.get("real_series") or {}).items():
        verdict = "COVID" if figure.get("reads_positive") else "NonCOVID"
        threshold = figure.get("study_threshold")
        lines.append(
            f"\nReal DICOM series {name} (no COVID): study probability {figure['study_probability']:.3f} against the "
            f"study threshold {'-' if threshold is None else f'{threshold:.3f}'}: reads {verdict}; "
            f"{figure['slices_over_half']} of {figure['slices']} slices over 0.5, highest slice "
            f"{figure['slice_probability_max']:.3f}."
        )
    for name, figure in (external.get("real_series_masks") or {}).items():
        tumour = figure.get("tumour_box_share_inside")
        lines.append(
            f"\nReal series {name}: Dice {figure['dice_aerated_vs_classical']:.3f} against the classical mask on aerated "
            f"lung; volumes right {figure['volume_ml']['right']:.0f} ml, left {figure['volume_ml']['left']:.0f} ml"
            + (
                f"; {tumour:.0%} of the tumour boxes inside the mask (the classical mask: "
                f"{figure['tumour_box_share_inside_classical']:.0%})."
                if tumour is not None
                else "."
            )
        )
    return lines


def _xray_lines(external: Mapping[str, Any]) -> list[str]:
    """Recall per class and age group (the shortcut check) and a U-Net's plausibility figures."""
    lines = []
    ages = external.get("age_groups") or {}
    if ages:
        names = sorted({name for cells in ages.values() for name in cells})
        lines += [
            "\nRecall per class on paediatric and on adult test images (the age shortcut check; 95% intervals):\n",
            "| images | " + " | ".join(names) + " |\n|---|" + "---|" * len(names),
        ]
        for group, cells in ages.items():
            row = [_interval(cells[n], "recall") + f" (n={cells[n]['n']})" if n in cells else "-" for n in names]
            lines.append(f"| {group} | " + " | ".join(row) + " |")
    plausibility = external.get("plausibility")
    if plausibility:
        others = ", ".join(f"{k} {v}" for k, v in plausibility["problems"].items() if k != "plausible") or "none"
        lines.append(
            f"\nOn {plausibility['images']} images without masks ({', '.join(plausibility['folders'])}), "
            f"{plausibility['plausible_share']:.1%} of the masks pass the two-lung plausibility check (the others: "
            f"{others}). Right/left area ratio (5th, 50th, 95th percentile): "
            f"{_triple(plausibility['right_left_area_ratio_p5_p50_p95'])}; share of the image that is lung: "
            f"{_triple(plausibility['lungs_image_share_p5_p50_p95'])}."
        )
    return lines


def external_section(metrics: Mapping[str, Any]) -> str:
    """Per-source, leave-one-source-out, baseline, real-series, age-group, mask-plausibility and
    Grad-CAM figures, whichever were measured (``lunglens evaluate-run``, ``xray-mask-check``)."""
    test = metrics.get("test", {})
    external = metrics.get("external") or {}
    lines = _source_lines(test, external) + _series_lines(external) + _xray_lines(external)
    cam = external.get("cam_in_lung")
    if cam:
        lines.append(
            f"\nWhere it looks: on {cam['slices']} positive test images, {cam['mean_share_inside']:.0%} of its "
            f"Grad-CAM mass for that class lies inside the lung region (median {cam['median_share_inside']:.0%})."
        )
    if not lines:
        return ""
    return "## Beyond the test split: per source, new sites, real series\n\n" + "\n".join(lines).lstrip("\n") + "\n"


def _scalars(values: Mapping[str, Any], prefix: str = ""):
    """(path, value) for every number or string in nested dicts; lists (confusion matrices,
    reliability bins) are left to the run's HTML report."""
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _scalars(value, f"{name} ")
        elif isinstance(value, float):
            yield name, f"{value:.4g}"
        elif isinstance(value, (int, str)) or value is None:
            yield name, str(value)


def _table(values: Mapping[str, Any]) -> str:
    rows = [f"| {name} | {value} |" for name, value in _scalars(values)]
    if not rows:
        return "None recorded in the checkpoint.\n"
    return "| measure | value |\n|---|---|\n" + "\n".join(rows) + "\n"


HEADLINE = ("accuracy", "macro_sensitivity", "macro_specificity", "macro_f1", "macro_auc", "dice_mean")


def _ci_text(bounds) -> str:
    return f" (95% CI {bounds[0]:.3f}-{bounds[1]:.3f})" if bounds else ""


def _headline(metrics: Mapping[str, Any]) -> str:
    """The held-out test figures (or the only split recorded) in the papers' terms."""
    name_of_split = next((name for name in ("test", "val") if name in metrics), None)
    split = metrics[name_of_split] if name_of_split else metrics
    figures = [
        f"{name.replace('_', ' ')} {split[name]:.3f}" + _ci_text(split.get(f"{name}_ci95"))
        for name in HEADLINE
        if isinstance(split.get(name), float)
    ]
    where = {"test": " (held-out test split)", "val": " (held-out validation split, no test split)"}.get(name_of_split, "")
    return ", ".join(figures) + where if figures else "no held-out figures recorded"


def _split_text(training: Mapping[str, Any]) -> str:
    """The split rule of image runs, or the volumes of a 3D run (which has no split file)."""
    if training.get("split_rule"):
        return f"{training['split_rule']}. Split file: {training.get('split_file', 'not recorded')}."
    volumes = training.get("volumes")
    if volumes:
        return (
            f"Volumes, not images: validation {', '.join(volumes['val'])}; training {', '.join(volumes['train'])} "
            "(listed in the manifest's training.volumes)."
        )
    return "Not recorded."


def _input_shape(manifest: ModelManifest) -> str:
    spatial_dims = 3 if manifest.method == "unet3d" else 2
    return " x ".join([str(manifest.preprocessing.channels)] + [str(manifest.preprocessing.size)] * spatial_dims)


def render_model_card(
    manifest: ModelManifest, verification: dict[str, Any], int8: dict[str, Any] | None = None, pictures: Mapping[str, str] | None = None
) -> str:
    """Markdown for ``<id>.md``. ``verification`` holds the export's parity figures; ``pictures`` the
    files beside the card to show (``confusion``: the test confusion matrix, ``masks``: a contact sheet)."""
    pictures = pictures or {}
    training = manifest.training
    threshold = manifest.threshold
    sections = [
        f"# {manifest.id} (version {manifest.version})\n",
        f"**{manifest.intended_use}**\n",
        "## What\n",
        f"{WHAT[manifest.method]} Task: {manifest.task}; modality: {manifest.modality}; method: {manifest.method}.",
        "Network options: "
        + ", ".join(f"{key}={value}" for key, value in training.get("model_config", {}).items() if key != "pretrained")
        + ".",
        f"Classes: {', '.join(manifest.classes) or '-'}. "
        f"Mask labels: {', '.join(f'{k} {v}' for k, v in manifest.mask_labels.items()) or '-'}.",
        f"Input: {_input_shape(manifest)} "
        f"({manifest.preprocessing.resize}), scaled to [0, 1] then (x - {manifest.preprocessing.mean}) / "
        f"{manifest.preprocessing.std}"
        + (f"; CT window {manifest.preprocessing.window}." if manifest.modality == "CT" else "; X-ray VOI window and inversion first."),
        f"Calibration: temperature {manifest.temperature:g}. Operating threshold: "
        + (
            f"{threshold.value:g} on P({threshold.positive_class}), chosen on {threshold.chosen_on} ({threshold.rule})."
            if threshold
            else "none (argmax)."
        )
        + (
            f" Study threshold (a series' lung-weighted mean): {manifest.study_threshold:.4g}, chosen on validation groups."
            if manifest.study_threshold is not None
            else ""
        )
        + (
            " Other classes' one-vs-rest thresholds (validation, Youden): "
            + ", ".join(f"{name} {value:.3g}" for name, value in manifest.class_thresholds.items())
            + "."
            if manifest.class_thresholds
            else ""
        ),
        "\n## Data and terms\n",
        manifest.licence + ".",
        f"Training data: {training.get('data', 'not recorded')}.",
        "\n## Split\n",
        _split_text(training),
        "\n## Training\n",
        f"Epochs: {training.get('epoch', '?')} of at most {training.get('epochs_max', '?')}; batch "
        f"{training.get('batch_size', '?')}, learning rate {training.get('learning_rate', '?')} "
        f"({training.get('schedule', 'plateau')} schedule), {training.get('precision', 'bf16 autocast')}, "
        f"image size {training.get('image_size', '?')}. Started from: {training.get('pretrained', 'not recorded')}. "
        f"Code commit: {training.get('code_commit') or 'not recorded'} "
        f"(exported from {training.get('export_commit') or 'unknown'}).",
        "\n## Held-out metrics\n",
        _table({k: v for k, v in manifest.metrics.items() if k != "external"}),
        external_section(manifest.metrics),
        *(
            [f"![Confusion matrix on the held-out test split]({pictures['confusion']})\n"] if "confusion" in pictures else []
        ),
        *(
            [f"![Masks drawn over 50 random images without masks (red: right lung, blue: left)]({pictures['masks']})\n"]
            if "masks" in pictures
            else []
        ),
        "## Published figures of the seed paper (not comparable)\n",
        f"| | |\n|---|---|\n| published | {PUBLISHED[manifest.method]} |\n| ours | {_headline(manifest.metrics)} |\n"
        f"| why not comparable | {NOT_COMPARABLE[manifest.method]} |\n",
        "## Known limits\n",
        "\n".join(f"- {limit}" for limit in known_limits(manifest)),
        "\n## Export verification\n",
        _table(verification),
    ]
    if int8 is not None:
        sections += [
            "## INT8 variant\n",
            "Weights int8 per channel, activations uint8 (onnxruntime static QDQ), calibrated on the images counted "
            "below and compared with FP32 on others. Its Grad-CAM is computed from 8-bit feature maps: "
            "cam_mean_abs_diff is the mean difference of the displayed [0, 1] maps against FP32.\n",
            _table(int8),
        ]
    sections += ["## Intended use\n", manifest.intended_use]
    return "\n".join(sections) + "\n"
