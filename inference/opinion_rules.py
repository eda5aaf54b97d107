"""How one model's opinion is read, once for the viewer, the report and the DICOM results: which
class is its finding, that class's probability per slice, and its key slice."""

from __future__ import annotations

import numpy as np

from inference.pipelines.results import ModelOpinion


def finding_class(opinion: ModelOpinion) -> str:
    """The class a model is read on: its positive finding (the class its operating threshold is
    on), else its verdict's label, else its first class."""
    verdict = opinion.verdict
    for name in (verdict.positive_class, verdict.label):
        if name in opinion.classes:
            return name
    return opinion.classes[0]


def finding_probabilities(opinion: ModelOpinion) -> np.ndarray:
    """(slices,) probability of the finding class per slice; NaN where the model did not look."""
    return opinion.probabilities[:, opinion.classes.index(finding_class(opinion))].astype(np.float64)


def key_slice(opinion: ModelOpinion) -> int | None:
    """The slice a model is most sure of its finding on (the verdict's peak), None if it looked at none."""
    if opinion.verdict.peak_slice is not None:
        return int(opinion.verdict.peak_slice)
    values = finding_probabilities(opinion)
    return None if np.isnan(values).all() else int(np.nanargmax(values))
