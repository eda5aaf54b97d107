"""LungLens inference core: study loading, preprocessing, ONNX Runtime models, pipelines.

Qt-free and torch-free (checked by import-linter contracts in pyproject.toml), so it runs
headless, in batch jobs and inside the frozen desktop bundle.
"""

__version__ = "0.1.0"
