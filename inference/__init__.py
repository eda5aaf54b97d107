"""LungLens inference core: study loading, preprocessing, ONNX Runtime models, pipelines.

Qt-free and torch-free (checked by import-linter contracts in pyproject.toml), so it runs
headless, in batch jobs and inside the frozen desktop bundle.

Every LungLens process imports this package before onnxruntime (the CLI, the viewer, training and
the bundle all go through ``inference``), so this is where onnxruntime's telemetry is switched off:
onnxruntime 1.32 otherwise writes a device id and an event queue (model names, run statistics)
under ~/.cache/Microsoft and looks up Microsoft's events host. It reads the variable when it is
imported; ``onnxruntime.disable_telemetry_events()`` alone was measured not to stop it.
"""

import os

os.environ["ORT_DISABLE_TELEMETRY"] = "1"

__version__ = "0.1.0"
