"""3D U-Net training data: CT volumes on the 128^3 isotropic cube with right/left lung labels.

No public CT volumes with lung masks ship with the project, so the targets are
- synthetic chest CT phantoms with their exact masks (varied size, slice count, spacing and lesions),
- real series under --data (DICOM, NIfTI...) labelled by the classical SimpleITK segmentation.
The U-Net therefore learns what the classical method does on real anatomy plus exact masks on
phantoms; the model card says so. Cubes are built once and kept in the run folder, so a resumed
run does not rebuild them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from inference.loading import load_path
from inference.lung_segmentation import labels_to_cube, prepare_ct_cube, resample_to_cube, segment_lungs_classical
from inference.phantoms import make_ct_phantom
from inference.preprocessing import InputSpec
from inference.study import CTVolume
from inference.training.provenance import provenance
from inference.training.train import Run, SegmentationTask, TrainConfig

CUBE = 128
UNET3D_SPEC = InputSpec(size=CUBE, channels=1, mean=(0.5,), std=(0.25,), window=(1500.0, -600.0))


@dataclass(frozen=True)
class Cube:
    name: str
    hu: np.ndarray
    labels: np.ndarray


def phantom_volume(seed: int) -> tuple[CTVolume, np.ndarray]:
    """A random chest phantom (size, slice count, spacing, lesions drawn from ``seed``) and its labels."""
    rng = np.random.default_rng(seed)
    slices = int(rng.integers(40, 161))
    side = int(rng.choice([192, 256]))
    # The phantom chest is 340 x 240 mm: a 380-480 mm field of view holds it with room air around.
    in_plane = float(rng.uniform(380.0, 480.0)) / side
    spacing = (float(rng.uniform(1.0, 5.0)), in_plane, in_plane)
    hu, labels = make_ct_phantom(shape=(slices, side, side), spacing=spacing, lesions=bool(rng.integers(0, 2)), seed=seed)
    volume = CTVolume(
        hu=hu, spacing=spacing, origin=(0.0, 0.0, 0.0), direction=np.eye(3),
        slice_positions=np.array([[0.0, 0.0, z * spacing[0]] for z in range(slices)]), uid=f"phantom-{seed}",
    )
    return volume, labels


def to_cube(name: str, volume: CTVolume, labels: np.ndarray) -> Cube:
    return Cube(name, resample_to_cube(volume, CUBE), labels_to_cube(labels, volume, CUBE))


def _cached(cache: Path, name: str, build) -> Cube:
    path = cache / f"{name}.npz"
    if path.exists():
        with np.load(path) as data:
            return Cube(name, data["hu"], data["labels"])
    cube = build()
    np.savez_compressed(path.with_suffix(".tmp.npz"), hu=cube.hu, labels=cube.labels)
    path.with_suffix(".tmp.npz").replace(path)
    return cube


def real_cubes(data: Path, cache: Path) -> list[Cube]:
    """Every CT series under ``data``, labelled by the classical segmentation."""
    volumes, _ = load_path(data)
    cubes = []
    for volume in volumes:
        if isinstance(volume, CTVolume) and volume.shape[0] >= 16:
            name = f"real-{volume.uid[-16:]}"
            cubes.append(_cached(cache, name, lambda v=volume, n=name: to_cube(n, v, segment_lungs_classical(v))))
    return cubes


class CubeDataset(Dataset):
    """(image [1,S,S,S] float, labels [S,S,S] long); training adds intensity jitter and noise, no flips
    (a flip would swap right and left lungs)."""

    def __init__(self, cubes: list[Cube], augment: bool, seed: int = 0):
        self.cubes = cubes
        self.augment = augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.cubes)

    def __getitem__(self, index: int):
        cube = self.cubes[index]
        hu = cube.hu.astype(np.float32)
        if self.augment:
            hu = hu * self.rng.uniform(0.9, 1.1) + self.rng.uniform(-60, 60) + self.rng.normal(0, 20, hu.shape).astype(np.float32)
        image = prepare_ct_cube(np.clip(hu, -2048, 4095).astype(np.int16), UNET3D_SPEC)[0]
        return torch.from_numpy(image), torch.from_numpy(cube.labels.astype(np.int64))


def unet3d_run(config: TrainConfig, phantoms: int = 36, every_nth_for_validation: int = 6) -> Run:
    cache = Path(config.out) / "cubes"
    cache.mkdir(parents=True, exist_ok=True)
    synthetic = [_cached(cache, f"phantom-{seed}", lambda s=seed: to_cube(f"phantom-{s}", *phantom_volume(s))) for seed in range(phantoms)]
    validation = synthetic[::every_nth_for_validation]
    train = [c for c in synthetic if c not in validation] + real_cubes(Path(config.data_roots[0]), cache)
    model_config = {"num_labels": 3, **config.model_config}
    source = provenance(config, None, "TCIA Lung-PET-CT-Dx (CC BY 4.0) with classical labels, and synthetic phantoms")
    source["training"]["volumes"] = {"train": [c.name for c in train], "val": [c.name for c in validation]}
    return Run(CubeDataset(train, augment=config.augment != "none", seed=config.seed), CubeDataset(validation, augment=False), None,
               SegmentationTask(num_labels=3, bf16=config.bf16, volumetric=True), UNET3D_SPEC,
               ("background", "right lung", "left lung"), model_config, source)
