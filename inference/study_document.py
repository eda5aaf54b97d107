"""The results document (``analysis.json``, ``lunglens analyze --json``, the viewer's export): the
analysis as ``StudyAnalysis.to_json`` writes it, plus what ties it to the PACS: the study's
identifiers, the number and SOPInstanceUID of every slice (beside the ``per_slice`` rows, in the same
order), and the reader's measurements. Made once here so the CLI and the viewer cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from inference.identifiers import study_identifiers
from inference.measurements import Measurement
from inference.pipelines.results import StudyAnalysis, jsonable
from inference.slice_numbers import slice_numbering
from inference.study import Image

SLICES_RULE = "one entry per per_slice row, same order: the slice number a PACS shows (see numbering) and its SOPInstanceUID"


def study_document(
    analysis: StudyAnalysis, image: Image, outputs: dict[str, str] | None = None, measurements: Sequence[Measurement] = ()
) -> dict:
    numbering = slice_numbering(image)
    doc = analysis.to_json(outputs)
    doc["study"] = study_identifiers(image).to_json()
    doc["numbering"] = numbering.rule
    doc["slices_rule"] = SLICES_RULE
    doc["slices"] = numbering.to_json()
    doc["measurements"] = jsonable([m.to_json(numbering) for m in measurements])
    return doc
