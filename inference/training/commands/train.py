"""``lunglens train``: train one method on a data folder, checkpointing every epoch."""

from __future__ import annotations

import argparse
import json

from inference.training.runs import build_run
from inference.training.train import CLASSIFIER_METHODS, SCHEDULES, SEGMENTATION_METHODS, TrainConfig, native_bf16, train

HELP = "Train a model (baseline, M1-M5, unet2d, unet3d) on local data; needs the [train] extra"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", required=True, choices=CLASSIFIER_METHODS + SEGMENTATION_METHODS)
    parser.add_argument(
        "--data", required=True, nargs="+",
        help="folder-per-class images, one folder per source (several: classes are merged by folder name, "
        "split per source and drawn source-balanced); for unet2d the images; for unet3d a folder of volumes",
    )
    parser.add_argument("--holdout-source", help="leave one source out: that data folder's name is the whole test set")
    parser.add_argument(
        "--lung-model", help="X-ray classifiers: an exported lung U-Net (.json); the model then sees only the lungs "
        "(masks made once with it through the inference code, kept in OUT/lung_masks)",
    )
    parser.add_argument("--out", required=True, help="run folder: checkpoints, split, history, report")
    parser.add_argument("--modality", choices=("XR", "CT"), default="XR")
    parser.add_argument("--mask-dir", help="unet2d/unet3d: lung masks named like the images")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--patience", type=int, default=6, help="early stopping: epochs without a better validation loss")
    parser.add_argument("--pretrained", help="local ImageNet checkpoint file (torchvision or timm format) for the backbone")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument(
        "--augment", choices=("method", "light", "none"), default="method",
        help="method: the method's augmentation (lung crops: the full multi-source set); light: lung crops with half the "
        "intensity and resolution ranges; none",
    )
    parser.add_argument("--no-class-weights", action="store_true")
    parser.add_argument("--max-images", type=int, default=0, help="cap the training images (quick runs)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--precision", choices=("auto", "bf16", "fp32"), default="auto",
        help="bf16 autocast or fp32; auto: bf16 only where the GPU or CPU has bf16 arithmetic (emulated bf16 is 10x slower)",
    )
    parser.add_argument(
        "--schedule", choices=SCHEDULES, default="plateau",
        help="learning rate: halve on a validation-loss plateau, or a cosine over --epochs (short budgets)",
    )
    parser.add_argument("--positive-class", default="COVID", help="class the operating threshold is chosen for")
    parser.add_argument("--model-config", default="{}", help="JSON of extra network arguments, e.g. '{\"backbones\": [\"resnet18\"]}'")
    parser.add_argument("--json", action="store_true", help="print the final metrics as JSON")


def run(args: argparse.Namespace) -> int:
    config = TrainConfig(
        method=args.method, data=args.data, out=args.out, modality=args.modality, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, image_size=args.image_size, patience=args.patience,
        seed=args.seed, workers=args.workers, threads=args.threads, pretrained=args.pretrained,
        resume=args.resume, augment=args.augment, class_weights=not args.no_class_weights,
        max_images=args.max_images, positive_class=args.positive_class, bf16=native_bf16() if args.precision == "auto" else args.precision == "bf16",
        schedule=args.schedule, model_config=json.loads(args.model_config), mask_dir=args.mask_dir,
        holdout=args.holdout_source, lung_model=args.lung_model,
    )
    best = train(config, build_run(config))
    metrics_path = best.parent / "metrics.json"
    if args.json and metrics_path.exists():
        print(metrics_path.read_text())
    else:
        print(f"best checkpoint: {best}")
    return 0
