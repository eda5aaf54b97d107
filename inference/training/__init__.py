"""Training subpackage: networks, datasets, training, evaluation and ONNX export.

The only part of LungLens that imports torch. It imports the inference core (preprocessing
contract, metrics, manifest) so training and viewing see identical inputs; never the reverse.
"""
