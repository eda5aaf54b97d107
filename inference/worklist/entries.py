"""What the index records, built from what the rest of LungLens has: a scan's series header or a
loaded image for the study's line, an analysis for its result. One place, so ``lunglens batch`` and
the viewer write the same lines."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from inference.loading.load import images_in
from inference.opinion_rules import finding_class
from inference.pipelines.results import StudyAnalysis
from inference.study import CTVolume, Image, SeriesHeader
from inference.worklist.index import ModelVerdict, Status, StudyEntry, StudyIndex, StudyResult


def series_path(header: SeriesHeader) -> str:
    """Where a study lives: its file, or the folder its files share."""
    if len(header.files) == 1:
        return header.files[0]
    return os.path.commonpath(header.files) if header.files else ""


def _size(files: Sequence[str]) -> int:
    total = 0
    for name in files:
        try:
            total += os.stat(name).st_size
        except OSError:
            pass
    return total


def study_entry(header: SeriesHeader) -> StudyEntry:
    """A study's line from the header scan (the key is the scan's series key)."""
    info = header.info
    return StudyEntry(
        key=header.uid, path=series_path(header), modality=header.modality, patient_id=info.patient_id,
        patient_name=info.patient_name, study_date=info.study_date, description=header.description,
        study_uid=info.study_uid, accession=info.accession_number, images=images_in(header), bytes=_size(header.files),
    )


def image_entry(image: Image, path: str | Path) -> StudyEntry:
    """A study's line from a loaded image opened from ``path`` (the viewer); same key as the scan's."""
    info = image.info
    ct = isinstance(image, CTVolume)
    return StudyEntry(
        key=image.uid, path=str(path), modality=image.modality,
        patient_id=info.patient_id, patient_name=info.patient_name, study_date=info.study_date,
        description=image.description, study_uid=info.study_uid, accession=info.accession_number,
        images=image.shape[0] if ct else 1,
    )


def study_result(key: str, analysis: StudyAnalysis, models_key: str, seconds: float) -> StudyResult:
    """The worklist's summary of an analysis; no opinion at all is a failure with the reason why."""
    verdicts = []
    for opinion in analysis.opinions:
        verdict = opinion.verdict
        finding = finding_class(opinion)
        verdicts.append(ModelVerdict(
            opinion.model_id, opinion.sha256, verdict.label, finding, verdict.positive,
            verdict.probabilities.get(finding), verdict.threshold,
        ))
    if not verdicts:
        reasons = {note.kind: note.text for note in reversed(analysis.notes)}  # the first note of each kind
        why = reasons.get("no-verdict") or reasons.get("model-failed") or "no model gave an opinion"
        return StudyResult(key, Status.FAILED, models_key, why, seconds=seconds)
    consensus = analysis.consensus
    return StudyResult(
        key, Status.ANALYSED, models_key, "",
        consensus.label if consensus else None,
        consensus.positive_votes if consensus else None,
        consensus.voters if consensus else None,
        tuple(verdicts), seconds,
    )


def record_analysis(entry: StudyEntry, analysis: StudyAnalysis, models_key: str, source: str) -> None:
    """List the study and record its result (the viewer's analyses join the worklist), except for a
    reopen served wholly from the cache of a study already recorded with these models."""
    result = study_result(entry.key, analysis, models_key, analysis.timings_s.get("total", 0.0))
    with StudyIndex() as index:
        known = index.rows(keys=[entry.key])
        reopened = bool(analysis.opinions) and all(o.from_cache for o in analysis.opinions)
        if reopened and known and known[0].status == Status.ANALYSED and known[0].models_key == models_key:
            return
        index.add_studies([entry], source)
        index.record(result)
