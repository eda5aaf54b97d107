#!/usr/bin/env bash
# Swap the CPU ONNX Runtime for the CUDA one (onnxruntime-gpu) in the current environment.
# They are the same Python module "onnxruntime", so they must never be installed together:
# uninstalling one after installing both leaves a broken module. Run with the venv's python on PATH
# (or set PYTHON). LungLens reads the provider actually used from the session and shows it; with no
# GPU present onnxruntime-gpu falls back to the CPU.
set -euo pipefail
python=${PYTHON:-python}
version=$("$python" -c "import importlib.metadata as m; print(m.version('onnxruntime'))" 2>/dev/null || true)
"$python" -m pip uninstall -y onnxruntime onnxruntime-gpu
"$python" -m pip install "onnxruntime-gpu${version:+==$version}"
"$python" -c "import onnxruntime as ort; print('onnxruntime', ort.__version__, 'providers:', ort.get_available_providers())"
