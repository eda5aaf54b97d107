"""Training as an ML engineer relies on it: identical inputs to inference, leak-free splits, a loop that
learns, resumes, and runs unchanged under torchrun."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inference.cli import main as lunglens
from inference.preprocessing import InputSpec, prepare_batch
from inference.training.datasets import ClassificationDataset, load_grey_uint8
from inference.training.splits import LabelledImage, Split, list_class_folders, make_split, source_key
from inference.training import train as training_loop
from inference.training.train import TrainConfig, native_bf16, train
from inference.training.runs import build_run

torch.set_num_threads(1)


def _blob_image(rng: np.random.Generator, bright: bool, size: int = 48) -> np.ndarray:
    """Noise, plus a bright disc for the 'COVID' class: learnable in a few epochs from scratch."""
    image = rng.normal(70, 20, (size, size))
    if bright:
        cy, cx = rng.integers(12, size - 12, 2)
        y, x = np.ogrid[:size, :size]
        image[(y - cy) ** 2 + (x - cx) ** 2 < 49] += 120
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def blob_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("blobs")
    rng = np.random.default_rng(0)
    for name, bright in (("COVID", True), ("Normal", False)):
        (root / name).mkdir()
        for i in range(60):
            Image.fromarray(_blob_image(rng, bright)).save(root / name / f"{name}-{i}.png")
    return root


def _config(data: Path | list[str], out: Path, **overrides) -> TrainConfig:
    settings = dict(
        method="baseline", data=data if isinstance(data, list) else str(data), out=str(out), epochs=4, batch_size=8, lr=1e-3, image_size=32,
        workers=0, threads=1, patience=10, augment="none", model_config={"backbone": "resnet18"},
    )
    return TrainConfig(**{**settings, **overrides})


def test_training_samples_equal_what_inference_feeds_the_model(blob_folder):
    classes, items = list_class_folders(blob_folder)
    spec = InputSpec(size=40)
    labelled = [LabelledImage(path, label, "g") for path, label in items[:3]]
    dataset = ClassificationDataset(labelled, spec)
    expected = prepare_batch([load_grey_uint8(item.path) for item in labelled], spec)
    for i in range(3):
        image, label = dataset[i]
        assert label == labelled[i].label
        np.testing.assert_array_equal(image.numpy(), expected[i])


def test_near_duplicates_and_same_paper_figures_never_straddle_the_split(tmp_path):
    rng = np.random.default_rng(1)
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    for i in range(30):
        image = Image.fromarray(_blob_image(rng, i % 2 == 0, size=96))
        image.save(tmp_path / "A" / f"img{i}.png")
        # the same picture again, resized and brighter: a near-duplicate in the other class folder
        Image.fromarray(np.clip(np.asarray(image.resize((80, 80))) * 1.1, 0, 255).astype(np.uint8)).save(tmp_path / "B" / f"copy{i}.png")
    for panel in range(4):
        Image.fromarray(_blob_image(rng, True, size=96)).save(tmp_path / "A" / f"2020.02.10.20021584-p6-52_{panel}.png")
    classes, items = list_class_folders(tmp_path)
    split = make_split(items, classes, val_fraction=0.3, test_fraction=0.3)
    side = {Path(item.path).name: name for name in ("train", "val", "test") for item in getattr(split, name)}
    assert all(side[f"img{i}.png"] == side[f"copy{i}.png"] for i in range(30))
    assert len({side[f"2020.02.10.20021584-p6-52_{p}.png"] for p in range(4)}) == 1
    assert source_key("2020.02.10.20021584-p6-52_3.png") == "2020.02.10.20021584"
    assert {name for name in side.values()} == {"train", "val", "test"}
    again = make_split(items, classes, val_fraction=0.3, test_fraction=0.3)
    assert again == split
    split.save(tmp_path / "split.json")
    assert Split.load(tmp_path / "split.json") == split


def test_lunglens_split_lays_out_each_held_out_part_per_class_without_touching_the_data(blob_folder, tmp_path, capsys):
    classes, items = list_class_folders(blob_folder)
    split = make_split(items, classes, val_fraction=0.25, test_fraction=0.25)
    split.save(tmp_path / "split.json")
    data_before = sorted(p.name for p in blob_folder.rglob("*"))
    for _ in range(2):  # a second run over the same folder is a no-op, not an error
        assert lunglens(["split", str(tmp_path / "split.json"), "--out", str(tmp_path / "parts")]) == 0
    for part, per_class in split.summary().items():
        for name, count in per_class.items():
            links = list((tmp_path / "parts" / part / name).iterdir())
            assert len(links) == count
            assert all(link.is_symlink() and link.resolve().parent == (blob_folder / name).resolve() for link in links)
    assert sorted(p.name for p in blob_folder.rglob("*")) == data_before
    broken = replace(split, test=split.test + (LabelledImage(str(blob_folder / "gone.png"), 0, "x"),))
    broken.save(tmp_path / "broken.json")
    capsys.readouterr()
    assert lunglens(["split", str(tmp_path / "broken.json"), "--out", str(tmp_path / "other")]) == 1
    assert "gone.png is listed in the split but missing" in capsys.readouterr().err


def test_a_short_run_learns_resumes_and_calibrates(blob_folder, tmp_path):
    config = _config(blob_folder, tmp_path / "run", epochs=2)
    train(config, build_run(config))
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    resumed = _config(blob_folder, tmp_path / "run", epochs=6, resume=True)
    best = train(resumed, build_run(resumed))
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5, 6]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["metrics"]["test"]["accuracy"] > 0.8, metrics["metrics"]["test"]  # chance is 0.5
    assert metrics["temperature"] > 0 and 0 < metrics["threshold"]["value"] < 1
    saved = torch.load(best, weights_only=True)
    assert saved["extra"]["temperature"] == metrics["temperature"]
    assert saved["extra"]["training"]["split_rule"].startswith("pHash")
    assert (tmp_path / "run" / "report.html").read_text().count("<img") == 4


def test_a_cosine_schedule_spans_the_epoch_budget_across_an_interruption(blob_folder, tmp_path, monkeypatch):
    first = _config(blob_folder, tmp_path / "cosine", epochs=4, schedule="cosine")
    run_epoch = training_loop._run_epoch
    calls = []

    def interrupted_in_epoch_three(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return run_epoch(*args)

    monkeypatch.setattr(training_loop, "_run_epoch", interrupted_in_epoch_three)
    with pytest.raises(KeyboardInterrupt):
        train(first, build_run(first))
    monkeypatch.setattr(training_loop, "_run_epoch", run_epoch)
    train(replace(first, resume=True), build_run(first))
    rates = [row["lr"] for row in json.loads((tmp_path / "cosine" / "history.json").read_text())]
    low = first.lr / 100
    expected = [low + (first.lr - low) * (1 + math.cos(math.pi * epoch / 4)) / 2 for epoch in range(1, 5)]
    assert rates == pytest.approx(expected)


def test_precision_follows_the_hardware_unless_asked(blob_folder, tmp_path):
    assert TrainConfig(method="baseline", data="d", out="o").bf16 == native_bf16()
    code = lunglens([
        "train", "--method", "baseline", "--data", str(blob_folder), "--out", str(tmp_path / "fp32"), "--epochs", "1",
        "--image-size", "32", "--batch-size", "16", "--workers", "0", "--augment", "none", "--precision", "fp32",
        "--model-config", '{"backbone": "resnet18"}',
    ])
    assert code == 0
    saved = torch.load(tmp_path / "fp32" / "best.pt", weights_only=True)
    assert saved["extra"]["config"]["bf16"] is False
    assert saved["extra"]["training"]["precision"] == "fp32"


def test_lunglens_train_command_writes_a_checkpoint(blob_folder, tmp_path):
    code = lunglens([
        "train", "--method", "M2", "--data", str(blob_folder), "--out", str(tmp_path / "cli"), "--epochs", "1",
        "--image-size", "32", "--batch-size", "16", "--workers", "0", "--augment", "none",
        "--model-config", '{"backbone": "resnet18", "hidden": 32}',
    ])
    assert code == 0
    saved = torch.load(tmp_path / "cli" / "best.pt", weights_only=True)
    assert saved["method"] == "M2" and saved["classes"] == ["COVID", "Normal"]


@pytest.mark.slow
def test_the_same_script_runs_under_torchrun_with_two_processes(blob_folder, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
        "-m", "inference.cli", "train", "--method", "baseline", "--data", str(blob_folder), "--out", str(tmp_path / "ddp"),
        "--epochs", "2", "--image-size", "32", "--batch-size", "8", "--workers", "0", "--threads", "1",
        "--augment", "none", "--model-config", '{"backbone": "resnet18"}',
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    history = json.loads((tmp_path / "ddp" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    assert (tmp_path / "ddp" / "best.pt").exists() and (tmp_path / "ddp" / "metrics.json").exists()


@pytest.fixture(scope="module")
def ct_sources(tmp_path_factory) -> tuple[Path, Path]:
    """Two CT "sources" of lung-window PNG slices from phantoms: COVID slices carry the phantom's
    lesions; source B is captured differently (wider field of view, darker, letterboxed)."""
    from inference.phantoms import make_ct_phantom
    from inference.preprocessing import ct_to_uint8

    root = tmp_path_factory.mktemp("ct_sources")
    roots = root / "site_a", root / "site_b"
    rng = np.random.default_rng(5)
    for seed, (name, lesions) in enumerate((("COVID", True), ("NonCOVID", False))):
        hu, _ = make_ct_phantom((24, 96, 96), (10.0, 3.6, 3.6), lesions=lesions, seed=seed)
        for source, darker in zip(roots, (0, 25)):
            (source / name).mkdir(parents=True)
            for z in range(6, 18):
                # coarse texture makes every slice its own image (no two within the near-duplicate distance)
                texture = np.kron(rng.normal(0, 60, (6, 6)), np.ones((16, 16)))
                image = np.clip(ct_to_uint8(hu[z] + texture * (hu[z] < -500)).astype(int) - darker, 0, 255).astype(np.uint8)
                if darker:
                    image = np.pad(image, ((10, 10), (0, 0)))
                Image.fromarray(image).save(source / name / f"{name}-{z:03d}.png")
    return roots


def test_ct_slice_samples_equal_what_the_ct_pipeline_feeds_the_model(ct_sources):
    from inference.preprocessing import crop_to_lungs, prepare_ct_crops
    from inference.training.datasets import LungCropDataset

    path = sorted((ct_sources[0] / "COVID").iterdir())[5]
    spec = InputSpec(size=48, window=(1500.0, -600.0))
    image, region, label = LungCropDataset([LabelledImage(str(path), 0, "g", "site_a")], spec, with_region=True)[0]
    expected, expected_region = prepare_ct_crops([crop_to_lungs(load_grey_uint8(path))], spec)
    assert np.allclose(image.numpy(), expected[0]) and np.allclose(region.numpy(), expected_region[0]) and label == 0


def test_several_sources_are_split_per_source_drawn_balanced_and_one_can_be_held_out(ct_sources):
    from inference.training.datasets import balanced_weights
    from inference.training.sources import list_sources

    classes, items = list_sources(list(ct_sources))
    assert classes == ("COVID", "NonCOVID") and {i.source for i in items} == {"site_a", "site_b"}
    split = make_split(items, classes, val_fraction=0.25, test_fraction=0.25, stratify=True)
    for part in (split.val, split.test):
        assert {(i.source, i.label) for i in part} == {(s, c) for s in ("site_a", "site_b") for c in (0, 1)}
    weights = balanced_weights(split.train)
    for label in (0, 1):
        shares = [weights[[i.label == label and i.source == s for i in split.train]].sum() for s in ("site_a", "site_b")]
        assert shares[0] == pytest.approx(shares[1]) and sum(shares) == pytest.approx(weights.sum() / 2)
    held = make_split(items, classes, val_fraction=0.25, test_fraction=0.25, stratify=True, holdout="site_b")
    assert {i.source for i in held.test} == {"site_b"} and len(held.test) == sum(i.source == "site_b" for i in items)
    assert {i.source for i in held.train + held.val} == {"site_a"}
    assert "leave-one-source-out" in held.rule


def test_a_patient_ordered_source_is_cut_into_blocks_of_consecutive_files(tmp_path):
    """Files numbered patient after patient: each patient's run stays on one side of the split."""
    rng = np.random.default_rng(1)
    folder = tmp_path / "ordered" / "COVID"
    folder.mkdir(parents=True)
    for patient in range(6):
        base = rng.integers(0, 255, (8, 8)).astype(np.float64)
        for n in range(30):
            drift = base + rng.normal(0, 6, base.shape)  # a patient's neighbouring slices look alike
            big = np.kron(np.clip(drift, 0, 255), np.ones((8, 8))).astype(np.uint8)
            Image.fromarray(big).save(folder / f"s-{patient * 30 + n:04d}.png")
    classes, items = list_class_folders(tmp_path / "ordered")
    triples = [(p, label, "ordered") for p, label in items]
    split = make_split(triples, classes, ordered_sources=frozenset({"ordered"}), stratify=True)
    side = {Path(i.path).name: part for part in ("train", "val", "test") for i in getattr(split, part)}
    for patient in range(6):
        names = [f"s-{patient * 30 + n:04d}.png" for n in range(30)]
        assert len({side[n] for n in names if n in side}) == 1, f"patient {patient} straddles the split"


def test_a_held_out_source_run_reports_figures_per_source(ct_sources, tmp_path):
    config = _config(list(map(str, ct_sources)), tmp_path / "loso", method="M4", modality="CT", epochs=1, image_size=48,
                     holdout="site_b")
    train(config, build_run(config))
    metrics = json.loads((tmp_path / "loso" / "metrics.json").read_text())["metrics"]
    assert metrics["test"]["n"] == 24 and set(metrics["test"]["positive"]) >= {"auc", "auc_ci95", "at_threshold"}
    saved = torch.load(tmp_path / "loso" / "best.pt", weights_only=True)
    assert saved["extra"]["training"]["holdout_source"] == "site_b"
    assert saved["extra"]["training"]["data"] == "site_a, site_b"  # folder names, never this machine's paths
    both = _config(list(map(str, ct_sources)), tmp_path / "both", method="M4", modality="CT", epochs=1, image_size=48)
    train(both, build_run(both))
    per_source = json.loads((tmp_path / "both" / "metrics.json").read_text())["metrics"]["test"]["per_source"]
    assert set(per_source) == {"site_a", "site_b"}


def test_augmented_ct_samples_keep_what_the_contract_shows(ct_sources):
    """Augmentation may change intensity and geometry, not what is visible: training must see the
    thorax view that inference sees (a bug once blacked out everything but the lungs in training)."""
    from inference.training.augment import build_lung_crop_augmentation
    from inference.training.datasets import LungCropDataset

    items = [LabelledImage(str(p), 0, "g", "site_a") for p in sorted((ct_sources[0] / "COVID").iterdir())[:6]]
    spec = InputSpec(size=64, window=(1500.0, -600.0))
    plain = LungCropDataset(items, spec, with_region=True)
    torch.manual_seed(0)
    augmented = LungCropDataset(items, spec, build_lung_crop_augmentation(), with_region=True)
    for index in range(len(items)):
        image, region, _ = plain[index]
        shown = (image[0] > image[0].min()).float().mean()  # the black outside is the minimum after normalising
        between_lungs = ((image[0] > image[0].min()) & (region[0] == 0)).float().mean()
        assert between_lungs > 0.02  # the contract shows more than the lung hulls (mediastinum, spine)
        augmented_image, _, _ = augmented[index]
        assert (augmented_image[0] > augmented_image[0].min()).float().mean() > 0.8 * shown
