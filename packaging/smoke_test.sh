#!/usr/bin/env bash
# Build the desktop bundle, then smoke-test it headless as a machine without Python would run it
# (packaging/README.md). Linux; about 1.5 min on 2 cores. Run it with the venv that has the [test]
# extra (the fixtures need onnx and python-gdcm), or point PYTHON at that venv's python.
#   bash packaging/smoke_test.sh [DIST_DIR [WORK_DIR]]      (defaults: dist/ and build/pyinstaller/)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python}"
dist="${1:-$root/dist}"
work="${2:-$root/build/pyinstaller}"
"$python" "$root/packaging/build.py" --dist "$dist" --work "$work"
"$python" "$root/packaging/smoke_test.py" --bundle "$dist/lunglens"
