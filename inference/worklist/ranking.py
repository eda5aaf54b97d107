"""Triage order and the exported ranked list (``lunglens batch --json/--csv``).

Read first what most models call positive, then what the most confident model finds most likely;
studies without an opinion (failed, not analysed yet) come last, because no model can put them
forward. Ties fall back to the study key, so two runs over the same archive give the same list.
The export names the patient by ID only, as the analysis JSON does.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence

from inference.identifiers import formatted_date
from inference.worklist.index import Status, WorklistRow

_WITH_OPINION = (Status.ANALYSED, Status.OUTDATED)
CSV_COLUMNS = ("rank", "patient_id", "study_date", "modality", "description", "consensus", "positive_votes", "voters",
               "top_probability", "top_model", "status", "reason", "path", "key")


def triage_key(row: WorklistRow) -> tuple:
    if row.status in _WITH_OPINION and row.voters:
        return (0, -(row.positive_votes or 0) / row.voters, -(row.top_probability or 0.0), row.key)
    if row.status in _WITH_OPINION:
        return (1, 0.0, -(row.top_probability or 0.0), row.key)
    return (2 if row.status == Status.FAILED else 3, 0.0, 0.0, row.key)


def ranked(rows: Iterable[WorklistRow]) -> list[WorklistRow]:
    return sorted(rows, key=triage_key)


def _record(rank: int, row: WorklistRow) -> dict:
    e = row.entry
    return {
        "rank": rank,
        "patient_id": e.patient_id or None,
        "study_date": formatted_date(e.study_date) or None,
        "modality": e.modality,
        "description": e.description,
        "consensus": row.consensus,
        "positive_votes": row.positive_votes,
        "voters": row.voters,
        "top_probability": row.top_probability,
        "top_model": row.top_model,
        "status": row.status.value,
        "reason": row.reason,
        "path": e.path,
        "key": row.key,
    }


def ranked_json(rows: Sequence[WorklistRow]) -> str:
    """The ranked list with each model's verdict per study."""
    records = []
    for rank, row in enumerate(ranked(rows), start=1):
        record = _record(rank, row)
        record["models"] = {
            v.model_id: {"label": v.label, "finding": v.finding, "positive": v.positive, "probability": v.probability,
                         "threshold": v.threshold}
            for v in row.verdicts
        }
        records.append(record)
    return json.dumps({"studies": records, "intended_use": "Research use only, not a medical device."}, indent=2)


def ranked_csv(rows: Sequence[WorklistRow]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rank, row in enumerate(ranked(rows), start=1):
        writer.writerow(_record(rank, row))
    return out.getvalue()
