"""The batch driver: find every study under some paths, decide what to do with each, analyse, record.

    plan = plan_batch(paths, settings, index, resume=True)     # scan + what is skipped and why
    summary = run_batch(plan, engine, index, on_result=...)    # results into the index as they come

A study is one series (a CT series, or one radiograph file). Skipped with a reason: a series found
twice under the given paths, a study no installed (or ``--models``) model reads, and with
``resume`` a study the index says was already analysed with these models or failed with them.
Everything else is analysed; each result is committed to the index the moment it arrives, so a
batch stopped in any way (Ctrl-C, kill -9, power cut) resumes with exactly the studies that have no
result yet: none lost, none analysed twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from inference.batch.analyst import BatchSettings, StudyTask, installed_models_keys
from inference.batch.engines import Engine
from inference.loading import scan_path
from inference.registry import discover_models
from inference.study import Modality, SeriesHeader, SkippedFile
from inference.worklist.entries import series_path, study_entry
from inference.worklist.index import Status, StudyIndex, StudyResult

MODALITY_NAMES = {Modality.CT: "CT", Modality.XRAY: "X-ray"}


@dataclass(frozen=True)
class SkippedStudy:
    key: str
    path: str
    reason: str


@dataclass(frozen=True)
class BatchPlan:
    """What a batch will do: the studies to analyse, those it skips and why, files that are no study."""

    paths: tuple[str, ...]
    tasks: tuple[StudyTask, ...]
    skipped: tuple[SkippedStudy, ...]
    not_studies: tuple[SkippedFile, ...]
    installed: dict[str, str]  # modality -> models key of the models this batch runs

    @property
    def keys(self) -> list[str]:
        """Every study of the batch, analysed now or skipped: the ranked list's rows."""
        return [t.key for t in self.tasks] + [s.key for s in self.skipped if s.key]


@dataclass
class BatchSummary:
    analysed: list[StudyResult] = field(default_factory=list)
    failed: list[StudyResult] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def done(self) -> int:
        return len(self.analysed) + len(self.failed)


def scan_studies(paths: Sequence[str | Path]) -> tuple[list[SeriesHeader], list[SkippedFile]]:
    """Every series under ``paths`` (header scan only) and the files that are none."""
    headers, skipped = [], []
    for path in paths:
        scan = scan_path(path)
        headers += scan.series
        skipped += scan.skipped
    return headers, skipped


def _no_model_reason(modality: Modality, settings: BatchSettings) -> str:
    name = MODALITY_NAMES.get(modality, modality)
    if settings.models is not None:
        return f"none of the models asked for (--models) reads {name} images"
    return f"no {name} model is installed"


def plan_batch(
    paths: Sequence[str | Path], settings: BatchSettings, index: StudyIndex, resume: bool = False, source: str = "batch"
) -> BatchPlan:
    """Scan, list every study in the index, and sort them into to-do and skipped (with reasons).

    Raises LookupError for a ``--models`` id that is not installed or not usable, before any work."""
    statuses = discover_models()
    headers, not_studies = scan_studies(paths)
    installed = installed_models_keys(statuses, sorted({h.modality for h in headers}), settings)
    index.add_studies((study_entry(h) for h in headers), source)
    known = {r.key: r for r in index.rows(installed)} if resume else {}
    tasks, skipped, seen = [], [], {}
    for header in headers:
        key, path = header.uid, series_path(header)
        if key in seen:
            skipped.append(SkippedStudy("", path, f"the same series as {seen[key]}"))
            continue
        seen[key] = path
        row = known.get(key)
        if header.modality not in installed:
            skipped.append(SkippedStudy(key, path, _no_model_reason(header.modality, settings)))
        elif row is not None and row.status == Status.ANALYSED:
            skipped.append(SkippedStudy(key, path, "already analysed with these models (--resume)"))
        elif row is not None and row.status == Status.FAILED and row.models_key in ("", installed[header.modality]):
            skipped.append(SkippedStudy(key, path, f"failed in an earlier run (--resume): {row.reason}"))
        else:
            tasks.append(StudyTask(key, header))
    return BatchPlan(tuple(str(p) for p in paths), tuple(tasks), tuple(skipped), tuple(not_studies), installed)


def run_batch(
    plan: BatchPlan,
    engine: Engine,
    index: StudyIndex,
    on_result: Callable[[StudyResult], None] | None = None,
    cancel: threading.Event | None = None,
) -> BatchSummary:
    """Analyse the plan's studies on ``engine``, committing each result to the index as it arrives.

    Ctrl-C or ``cancel`` stops at once: the summary says ``interrupted``, the studies in flight stay
    NEW. The engine is closed whatever happens."""
    summary = BatchSummary()
    run_id = index.start_run(engine.name, plan.paths)
    started = time.perf_counter()
    outcome = "interrupted"
    try:
        for result in engine.results(plan.tasks, cancel):
            index.record(result, run_id)
            (summary.analysed if result.status == Status.ANALYSED else summary.failed).append(result)
            if on_result is not None:
                on_result(result)
        summary.interrupted = summary.done < len(plan.tasks)
        outcome = "interrupted" if summary.interrupted else "done"
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        engine.close()
        summary.seconds = time.perf_counter() - started
        index.finish_run(run_id, outcome)
    return summary
