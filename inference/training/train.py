"""One training loop for every method: classification (folder-per-class) and 2D/3D lung segmentation.

CPU-first: channels_last, bf16 autocast where the hardware has bf16 arithmetic (``native_bf16``), a
checkpoint every epoch and ``resume`` so a run survives interruptions, early stopping on validation
loss, and a learning-rate schedule that either halves on a validation plateau or follows a cosine
over the epoch budget (better when the budget is short). The same script runs
under ``torchrun`` with DistributedDataParallel (gloo on CPU, nccl on GPU), which is how a user scales
out; only rank 0 writes files.

After the last epoch the best checkpoint is calibrated on validation (temperature, operating
threshold) and evaluated once on the held-out test split; the figures go into the checkpoint so the
exported model card reports them.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, WeightedRandomSampler
from tqdm import tqdm

from inference.metrics import classification_metrics, dice, softmax
from inference.preprocessing import InputSpec
from inference.training import checkpoint as ckpt
from inference.training.evaluate import calibrate_and_report
from inference.training.networks import build_network

CLASSIFIER_METHODS = ("baseline", "M1", "M2", "M3", "M4", "M5")
SEGMENTATION_METHODS = ("unet2d", "unet3d")
SCHEDULES = ("plateau", "cosine")


def native_bf16() -> bool:
    """Whether bf16 autocast is fast here: a GPU with bf16, or a CPU with AVX512-BF16 or AMX.

    Measured: ResNet50 training at 128 px ran 3x faster in bf16 than fp32 on an AVX-512 BF16 Xeon,
    and 13x SLOWER (0.7 vs 9 img/s) on an AVX2-only EPYC, where bf16 is emulated.
    """
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


@dataclass
class TrainConfig:
    method: str
    data: str | list[str]
    out: str
    modality: str = "XR"
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 1e-5
    image_size: int = 128
    patience: int = 6
    seed: int = 0
    workers: int = 1
    threads: int = 0
    pretrained: str | None = None
    resume: bool = False
    augment: str = "method"
    class_weights: bool = True
    max_images: int = 0
    positive_class: str = "COVID"
    bf16: bool = field(default_factory=native_bf16)
    schedule: str = "plateau"
    model_config: dict = field(default_factory=dict)
    mask_dir: str | None = None
    holdout: str | None = None
    # X-ray classifiers that see only the lungs: the exported lung U-Net (.json or .onnx) whose masks they train on
    lung_model: str | None = None

    @property
    def data_roots(self) -> list[str]:
        """Every data folder (one source each): ``--data`` takes one or several."""
        return [self.data] if isinstance(self.data, str) else list(self.data)


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed() -> Distributed:
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Distributed()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    rank = dist.get_rank()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if backend == "nccl" else torch.device("cpu")
    return Distributed(rank=rank, world=dist.get_world_size(), device=device)


def _barrier(env: Distributed) -> None:
    if env.world > 1:
        dist.barrier()


def _gather(tensor: torch.Tensor, env: Distributed) -> torch.Tensor:
    """Concatenate per-rank results (equal sizes are not guaranteed, so pad to the largest)."""
    if env.world == 1:
        return tensor
    size = torch.tensor([tensor.shape[0]])
    sizes = [torch.zeros_like(size) for _ in range(env.world)]
    dist.all_gather(sizes, size)
    longest = int(max(s.item() for s in sizes))
    padded = torch.zeros((longest, *tensor.shape[1:]), dtype=tensor.dtype)
    padded[: tensor.shape[0]] = tensor
    parts = [torch.zeros_like(padded) for _ in range(env.world)]
    dist.all_gather(parts, padded)
    return torch.cat([part[: int(s.item())] for part, s in zip(parts, sizes)])


class Task:
    """What differs between classification and segmentation: data, loss, the figure of merit."""

    def loss(self, model, batch, device) -> torch.Tensor: ...

    def predict(self, model, batch, device) -> tuple[torch.Tensor, torch.Tensor]: ...

    def summarise(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict: ...


def _autocast(enabled: bool, device: torch.device):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


class ClassificationTask(Task):
    def __init__(self, classes: tuple[str, ...], weights: torch.Tensor | None, uses_mask: bool, bf16: bool):
        self.classes = classes
        self.weights = weights
        self.uses_mask = uses_mask
        self.bf16 = bf16

    def _forward(self, model, batch, device):
        image = batch[0].to(device, memory_format=torch.channels_last)
        target = batch[-1].to(device)
        with _autocast(self.bf16, device):
            logits = model(image, batch[1].to(device)) if self.uses_mask else model(image)
        return logits.float(), target

    def loss(self, model, batch, device):
        logits, target = self._forward(model, batch, device)
        weights = None if self.weights is None else self.weights.to(device)
        return F.cross_entropy(logits, target, weight=weights)

    def predict(self, model, batch, device):
        return self._forward(model, batch, device)

    def summarise(self, outputs, targets):
        probs = softmax(outputs.numpy(), 1.0)
        metrics = classification_metrics(targets.numpy(), probs, self.classes)
        return {"accuracy": metrics["accuracy"], "macro_auc": metrics.get("macro_auc")}


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, num_labels: int) -> torch.Tensor:
    probs = logits.softmax(1)
    onehot = F.one_hot(target, num_labels).movedim(-1, 1).float()
    dims = tuple(range(2, logits.ndim))
    overlap = (probs * onehot).sum(dims)
    total = probs.sum(dims) + onehot.sum(dims)
    return 1.0 - ((2 * overlap + 1.0) / (total + 1.0))[:, 1:].mean()


class SegmentationTask(Task):
    def __init__(self, num_labels: int, bf16: bool, volumetric: bool):
        self.num_labels = num_labels
        self.bf16 = bf16
        self.memory_format = torch.channels_last_3d if volumetric else torch.channels_last

    def _forward(self, model, batch, device):
        image = batch[0].to(device, memory_format=self.memory_format)
        with _autocast(self.bf16, device):
            logits = model(image)
        return logits.float(), batch[1].to(device)

    def loss(self, model, batch, device):
        logits, target = self._forward(model, batch, device)
        return F.cross_entropy(logits, target) + soft_dice_loss(logits, target, self.num_labels)

    def predict(self, model, batch, device):
        logits, target = self._forward(model, batch, device)
        return logits.argmax(1).to(torch.uint8), target

    def summarise(self, outputs, targets):
        scores = dice(outputs.numpy(), targets.numpy(), labels=(1, 2))
        return {"dice_right": scores[1], "dice_left": scores[2], "dice_mean": float(np.mean([scores[1], scores[2]]))}


def _loader(dataset: Dataset, config: TrainConfig, env: Distributed, train: bool, weights: np.ndarray | None = None) -> DataLoader:
    generator = torch.Generator().manual_seed(config.seed)
    if train and weights is not None:
        if env.world > 1:
            raise ValueError("source-balanced sampling runs on one process; train multi-source runs without torchrun")
        sampler = WeightedRandomSampler(torch.as_tensor(weights, dtype=torch.double), len(dataset), generator=generator)
    else:
        sampler = DistributedSampler(dataset, shuffle=train, seed=config.seed) if env.world > 1 else None
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=train and sampler is None,
        sampler=sampler,
        num_workers=config.workers,
        persistent_workers=config.workers > 0,
        generator=generator,
        drop_last=train and len(dataset) > config.batch_size,
    )


def _run_epoch(model, loader, task: Task, optimizer, env: Distributed, desc: str) -> float:
    model.train()
    total, count = 0.0, 0
    bar = tqdm(loader, desc=desc, disable=not env.main, mininterval=10, leave=False, file=sys.stderr)
    for batch in bar:
        optimizer.zero_grad(set_to_none=True)
        loss = task.loss(model, batch, env.device)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(batch[0])
        count += len(batch[0])
        bar.set_postfix(loss=f"{total / max(count, 1):.4f}", refresh=False)
    return total / max(count, 1)


@torch.no_grad()
def _evaluate(model, loader, task: Task, env: Distributed) -> tuple[float, torch.Tensor, torch.Tensor]:
    model.eval()
    losses, outputs, targets = [], [], []
    for batch in loader:
        losses.append(float(task.loss(model, batch, env.device)) * len(batch[0]))
        out, target = task.predict(model, batch, env.device)
        outputs.append(out.cpu())
        targets.append(target.cpu())
    n = torch.tensor([sum(len(t) for t in targets)], dtype=torch.float64)
    loss_sum = torch.tensor([sum(losses)], dtype=torch.float64)
    if env.world > 1:
        dist.all_reduce(n)
        dist.all_reduce(loss_sum)
    return float(loss_sum / n.clamp(min=1)), _gather(torch.cat(outputs), env), _gather(torch.cat(targets), env)


@dataclass
class Run:
    """What a task needs to train: datasets, the task, the input contract and provenance."""

    train_set: Dataset
    val_set: Dataset
    test_set: Dataset | None
    task: Task
    spec: InputSpec
    classes: tuple[str, ...]
    model_config: dict
    provenance: dict
    # per training item: draw weights (source- and class-balanced sampling); None: shuffle
    train_weights: np.ndarray | None = None


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    if config.schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {config.schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs, eta_min=config.lr / 100)
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=max(1, config.patience // 3))


def train(config: TrainConfig, run: Run) -> Path:
    """Train ``run`` per ``config``; returns the best checkpoint's path (rank 0)."""
    env = _setup_distributed()
    torch.manual_seed(config.seed + env.rank)
    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(config.out)
    if env.main:
        out.mkdir(parents=True, exist_ok=True)
    last_path, best_path = out / "last.pt", out / "best.pt"
    model = build_network(config.method, **run.model_config).to(env.device)
    volumetric = config.method == "unet3d"
    model = model.to(memory_format=torch.channels_last_3d if volumetric else torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = _scheduler(optimizer, config)
    state = {"epoch": 0, "best_val_loss": math.inf, "stale_epochs": 0, "history": []}
    if config.resume and last_path.exists():
        saved = ckpt.load_checkpoint(last_path)
        model.load_state_dict(saved["state_dict"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = saved["extra"]["train_state"]
        if env.main:
            print(f"resuming {config.method} after epoch {state['epoch']}", file=sys.stderr)
    net = DistributedDataParallel(model) if env.world > 1 else model
    train_loader = _loader(run.train_set, config, env, train=True, weights=run.train_weights)
    val_loader = _loader(run.val_set, config, env, train=False)
    log_path = out / "history.csv"

    def save(path: Path, extra: dict) -> None:
        ckpt.save_checkpoint(
            path, model=model, method=config.method, model_config=run.model_config, classes=run.classes,
            modality=config.modality, input_spec=run.spec, epoch=state["epoch"], optimizer=optimizer,
            scheduler=scheduler, extra={"train_state": state, "config": asdict(config), **run.provenance, **extra},
        )

    while state["epoch"] < config.epochs and state["stale_epochs"] < config.patience:
        epoch = state["epoch"] + 1
        if isinstance(train_loader.sampler, DistributedSampler):
            train_loader.sampler.set_epoch(epoch)
        started = time.perf_counter()
        train_loss = _run_epoch(net, train_loader, run.task, optimizer, env, f"{config.method} epoch {epoch}")
        val_loss, val_out, val_target = _evaluate(net, val_loader, run.task, env)
        if config.schedule == "plateau":
            scheduler.step(val_loss)
        else:
            scheduler.step()
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "seconds": time.perf_counter() - started,
               "lr": optimizer.param_groups[0]["lr"], **run.task.summarise(val_out, val_target)}
        improved = val_loss < state["best_val_loss"]
        state = {**state, "epoch": epoch, "history": state["history"] + [row],
                 "best_val_loss": min(val_loss, state["best_val_loss"]),
                 "stale_epochs": 0 if improved else state["stale_epochs"] + 1}
        if env.main:
            print(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()}), file=sys.stderr, flush=True)
            with open(log_path, "a", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(row))
                if handle.tell() == 0:
                    writer.writeheader()
                writer.writerow(row)
            (out / "history.json").write_text(json.dumps(state["history"], indent=1))
            if improved:
                save(best_path, {})
            save(last_path, {})
        _barrier(env)
    if env.main:
        finalise(best_path, run, config, env)
    _barrier(env)
    if env.world > 1:
        dist.destroy_process_group()
    return best_path


def finalise(best_path: Path, run: Run, config: TrainConfig, env: Distributed) -> None:
    """Calibrate the best model on validation, test it once, and store both in the checkpoint."""
    saved = ckpt.load_checkpoint(best_path)
    model = ckpt.build_from_checkpoint(saved).to(env.device)
    single = Distributed(device=env.device)
    results = {}
    for name, dataset in (("val", run.val_set), ("test", run.test_set)):
        if dataset is None or len(dataset) == 0:
            continue
        loader = DataLoader(dataset, batch_size=config.batch_size, num_workers=config.workers)
        _, outputs, targets = _evaluate(model, loader, run.task, single)
        results[name] = (outputs.numpy(), targets.numpy())
    sources = {name: [getattr(item, "source", "") for item in getattr(dataset, "items", [])]
               for name, dataset in (("val", run.val_set), ("test", run.test_set)) if dataset is not None}
    groups = {name: ([item.group for item in dataset.items], dataset.slice_weights())
              for name, dataset in (("val", run.val_set), ("test", run.test_set))
              if dataset is not None and hasattr(dataset, "slice_weights")}
    summary = calibrate_and_report(results, run.classes, config.positive_class, Path(config.out),
                                   segmentation=isinstance(run.task, SegmentationTask), sources=sources, groups=groups)
    extra = {**saved["extra"], **summary}
    extra["training"] = {**extra.get("training", {}), "epochs_trained": saved["epoch"]}
    ckpt.save_checkpoint(
        best_path, model=model, method=saved["method"], model_config=saved["model_config"],
        classes=saved["classes"], modality=saved["modality"], input_spec=ckpt.checkpoint_input_spec(saved),
        epoch=saved["epoch"], extra=extra,
    )
