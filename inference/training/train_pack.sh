#!/usr/bin/env bash
# Train the default model pack on ../shared/data, one run after another, resuming where a run stopped.
# Usage: bash inference/training/train_pack.sh RUNS_DIR [KEY ...]   (keys below; default: all, in order)
# Each run checkpoints every epoch; re-running the script continues each unfinished run (--resume).
# Several copies may share RUNS_DIR (one per core): each run is claimed by one copy at a time.
set -euo pipefail
runs=${1:?usage: train_pack.sh RUNS_DIR [KEY ...]}; shift || true
data=${LUNGLENS_DATA:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/data}
common=(--workers 1 --threads "${LUNGLENS_THREADS:-2}" --resume)
# No ImageNet weights can be fetched here: the CT and X-ray models start from the backbone of a
# ResNet50 trained on the X-ray training split of both X-ray sources, four classes (xr4-baseline,
# its split's training part only). CT slice models train on both CT sources at once (scanner
# captures and paper figures), split per source and drawn source- and class-balanced, through the
# CT slice contract (lungs only, outside black) with the multi-source augmentation; each also
# trains twice more with one source held out entirely (-loso-<source>): the leave-one-source-out
# figures. Budgets fit a 2-core CPU with native bf16 (about 30 img/s ResNet50 at 128 px). The CT
# models use the light lung-crop augmentation: in a 4-epoch proxy (ResNet50, 128 px) it reached
# validation AUC 0.868 against 0.812 with the full intensity and resolution ranges.
xr=$runs/xr4-baseline/best.pt
xr_unet=$runs/xr-unet2d/export/unet2d-xr.json
ct_sources="$data/ct_slices_scanner $data/ct_slices"
xr_sources="$data/xray $data/xray_kermany_train"
ct_common="--data $ct_sources --modality CT --batch-size 16 --lr 1e-4 --patience 6 --schedule cosine --augment light"
declare -A recipes=(
  [xr4-baseline]="--method baseline --data $xr_sources --modality XR --image-size 128 --batch-size 32 --lr 3e-4 --epochs 10 --patience 5 --schedule cosine"
  [ct-m4]="--method M4 $ct_common --image-size 224 --epochs 12 --pretrained $xr"
  [ct-m1]="--method M1 $ct_common --image-size 160 --epochs 10 --pretrained $xr"
  [ct-m3]="--method M3 $ct_common --image-size 160 --epochs 10 --model-config {\"pretrained\":{\"resnet50\":\"$xr\"}}"
  [ct-unet3d]="--method unet3d --data $data/ct_series --modality CT --batch-size 2 --lr 1e-3 --epochs 20 --patience 8 --schedule cosine"
  # X-ray: the lung U-Net first (256 px, adult-looking augmentation of the paediatric masks); the
  # classifiers see only the lungs it finds (--lung-model: its export), four classes over both sources.
  [xr-unet2d]="--method unet2d --data $data/xray --mask-dir $data/xray_masks --modality XR --image-size 256 --batch-size 16 --lr 1e-3 --epochs 30 --patience 6 --schedule cosine"
  [xr-m2]="--method M2 --data $xr_sources --modality XR --image-size 128 --batch-size 32 --lr 1e-4 --epochs 10 --patience 5 --schedule cosine --pretrained $xr --lung-model $xr_unet"
  [xr-m1]="--method M1 --data $xr_sources --modality XR --image-size 128 --batch-size 32 --lr 1e-4 --epochs 8 --patience 5 --schedule cosine --pretrained $xr --lung-model $xr_unet"
  [xr-m5]="--method M5 --data $xr_sources --modality XR --image-size 128 --batch-size 16 --lr 1e-4 --epochs 8 --patience 5 --schedule cosine --max-images 3000 --lung-model $xr_unet --model-config {\"backbones\":[\"resnet50\",\"resnetv2_50\"],\"pretrained\":{\"resnet50\":\"$xr\"}}"
)
for model in m4 m1 m3; do
  for source in ct_slices_scanner ct_slices; do
    recipes[ct-$model-loso-$source]="${recipes[ct-$model]} --holdout-source $source"
  done
done
order=(xr4-baseline ct-unet3d ct-m1 ct-m3 ct-m4 xr-unet2d xr-m2
       ct-m4-loso-ct_slices_scanner ct-m4-loso-ct_slices ct-m1-loso-ct_slices_scanner ct-m1-loso-ct_slices
       ct-m3-loso-ct_slices_scanner ct-m3-loso-ct_slices xr-m1 xr-m5)
[ $# -gt 0 ] && order=("$@")
for key in "${order[@]}"; do
  [ -f "$runs/$key/metrics.json" ] && { echo "$key: done"; continue; }
  if [[ ${recipes[$key]} == *"$xr"* && ! -f $runs/xr4-baseline/metrics.json ]]; then
    echo "$key: waits for xr4-baseline (its backbone)"; continue
  fi
  if [[ ${recipes[$key]} == *"$xr_unet"* && ! -f $xr_unet ]]; then
    if [ -f $runs/xr-unet2d/metrics.json ]; then
      lunglens export "$runs/xr-unet2d/best.pt" --out "$runs/xr-unet2d/export" --id unet2d-xr >>"$runs/xr-unet2d.log" 2>&1
    else
      echo "$key: waits for xr-unet2d (its lung masks)"; continue
    fi
  fi
  mkdir "$runs/$key.claim" 2>/dev/null || { echo "$key: another copy is training it"; continue; }
  trap 'rmdir "$runs/$key.claim"' EXIT
  echo "$key: training ($(date -u +%H:%M))"
  # shellcheck disable=SC2086
  lunglens train ${recipes[$key]} --out "$runs/$key" "${common[@]}" >>"$runs/$key.log" 2>&1 || echo "$key: FAILED, see $runs/$key.log"
  rmdir "$runs/$key.claim"; trap - EXIT
done
