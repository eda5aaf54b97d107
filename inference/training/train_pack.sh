#!/usr/bin/env bash
# Train the default model pack on ../shared/data, one run after another, resuming where a run stopped.
# Usage: bash inference/training/train_pack.sh RUNS_DIR [METHOD_KEY ...]   (keys below; default: all)
# Each run checkpoints every epoch; re-running the script continues each unfinished run (--resume).
# Several copies may share RUNS_DIR (one per core): each run is claimed by one copy at a time.
set -euo pipefail
runs=${1:?usage: train_pack.sh RUNS_DIR [KEY ...]}; shift || true
data=${LUNGLENS_DATA:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/data}
common=(--workers 1 --threads "${LUNGLENS_THREADS:-2}" --resume)
# Budgets fit a 2-core CPU (fp32 ResNet50 training without bf16: ~5 img/s at 128 px, ~1.5 at 224, one
# thread; with native bf16 about 25 img/s at 128 px, two threads): X-ray models at 128 px, CT slice
# models at 160 px except M4 (224 px: the paper's 7x7 mask grid), short budgets on a cosine schedule.
# M2 and the X-ray U-Net were trained with the plateau schedule on a bf16 machine; their recipes are
# kept as they ran. No ImageNet weights can be fetched here, so the CT models, X-ray M1 and M5 start
# from the X-ray baseline's ResNet50 (trained on the X-ray training split only; the CT models used a
# first run of this recipe, fp32 on an AVX2 machine, X-ray M1 and M5 a bf16 re-run; best validation
# loss at epochs 7 and 9). The pack's M5 pairs that ResNet50 with a ResNet-v2-50 (from scratch)
# instead of the paper's ResNet152V2: the faithful pair is 86 MB in INT8 and would take the pack past
# its 200 MB (the default of `build_m5` stays faithful); M5 sees 2000 training images per epoch. CT
# budgets were cut to fit one session per core.
xr_resnet50=$runs/xr-baseline/best.pt
declare -A recipes=(
  [xr-m2]="--method M2 --data $data/xray --modality XR --image-size 128 --batch-size 32 --lr 3e-4 --epochs 20 --patience 5"
  [xr-unet2d]="--method unet2d --data $data/xray --mask-dir $data/xray_masks --modality XR --image-size 128 --batch-size 16 --lr 1e-3 --epochs 25 --patience 5"
  [ct-m4]="--method M4 --data $data/ct_slices --modality CT --image-size 224 --batch-size 16 --lr 1e-4 --epochs 12 --patience 8 --schedule cosine --pretrained $xr_resnet50"
  [xr-baseline]="--method baseline --data $data/xray --modality XR --image-size 128 --batch-size 32 --lr 3e-4 --epochs 9 --patience 5 --schedule cosine"
  [xr-m1]="--method M1 --data $data/xray --modality XR --image-size 128 --batch-size 32 --lr 1e-4 --epochs 8 --patience 5 --schedule cosine --pretrained $xr_resnet50"
  [ct-m1]="--method M1 --data $data/ct_slices --modality CT --image-size 160 --batch-size 16 --lr 1e-4 --epochs 10 --patience 8 --schedule cosine --pretrained $xr_resnet50"
  [ct-m3]="--method M3 --data $data/ct_slices --modality CT --image-size 160 --batch-size 16 --lr 1e-4 --epochs 10 --patience 8 --schedule cosine --model-config {\"pretrained\":{\"resnet50\":\"$xr_resnet50\"}}"
  [xr-m5]="--method M5 --data $data/xray --modality XR --image-size 128 --batch-size 16 --lr 3e-4 --epochs 8 --patience 5 --schedule cosine --max-images 2000 --model-config {\"backbones\":[\"resnet50\",\"resnetv2_50\"],\"pretrained\":{\"resnet50\":\"$xr_resnet50\"}}"
  [ct-unet3d]="--method unet3d --data $data/ct_series --modality CT --batch-size 2 --lr 1e-3 --epochs 20 --patience 8 --schedule cosine"
)
order=(xr-m2 xr-unet2d xr-baseline ct-m4 ct-m1 ct-m3 xr-m1 xr-m5 ct-unet3d)
[ $# -gt 0 ] && order=("$@")
for key in "${order[@]}"; do
  [ -f "$runs/$key/metrics.json" ] && { echo "$key: done"; continue; }
  if [[ ${recipes[$key]} == *"$xr_resnet50"* && ! -f $runs/xr-baseline/metrics.json ]]; then
    echo "$key: waits for xr-baseline (its backbone)"; continue
  fi
  mkdir "$runs/$key.claim" 2>/dev/null || { echo "$key: another copy is training it"; continue; }
  trap 'rmdir "$runs/$key.claim"' EXIT
  echo "$key: training ($(date -u +%H:%M))"
  # shellcheck disable=SC2086
  lunglens train ${recipes[$key]} --out "$runs/$key" "${common[@]}" >>"$runs/$key.log" 2>&1 || echo "$key: FAILED, see $runs/$key.log"
  rmdir "$runs/$key.claim"; trap - EXIT
done
