"""LungLens inference core: study loading, preprocessing, ONNX Runtime models, pipelines.

Qt-free and torch-free (checked by import-linter contracts in pyproject.toml), so it runs
headless, in batch jobs and inside the frozen desktop bundle.

Every LungLens process imports this package before onnxruntime (the CLI, the viewer, training and
the bundle all go through ``inference``), so this is where onnxruntime's telemetry is switched off:
onnxruntime 1.32 otherwise writes a device id and an event queue (model names, run statistics)
under ~/.cache/Microsoft and looks up Microsoft's events host. It reads the variable when it is
imported; ``onnxruntime.disable_telemetry_events()`` alone was measured not to stop it.

It is also where numpy's OpenBLAS is kept to one thread (before numpy loads): LungLens's numpy
matrix products are small (a Grad-CAM mapped onto a slice is 512x7 @ 7x7 @ 7x512), and OpenBLAS's
thread pool made them 40-50x slower whenever another process used the CPU (measured: 4 ms on one
thread, 166 ms on two, beside a training job). ONNX Runtime and torch keep their own thread pools.
"""

import os

os.environ["ORT_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
