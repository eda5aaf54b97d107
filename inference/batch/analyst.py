"""The per-study work of a batch, the same on every engine: load one series, analyse it, sum it up.

A worker process (a local pool process or a Ray actor) holds one :class:`StudyAnalyst`. It finds
the installed models once and opens each ONNX session once (``inference.runtime`` keeps them per
process), so a worker pays model loading once per batch, not once per study as a loop of
``lunglens analyze`` calls does. The analysis is ``analyze_study``, exactly as ``lunglens analyze``
runs it, writing the result cache; what goes back to the driver is a small :class:`StudyResult`
(verdicts and probabilities, no arrays), which the driver alone writes to the study index.

No study can stop a worker: a series that cannot be loaded, a study no model can read and a bug
in the pipeline all come back as a FAILED result with the reason.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

from inference.cache import ResultCache
from inference.pipelines.analysis import ModelChoice, analyze_study, choose_models
from inference.registry import ModelStatus, discover_models
from inference.runtime import THREADS_ENV, Device
from inference.safe_text import error_summary
from inference.study import Modality, SeriesHeader
from inference.worklist.entries import study_result
from inference.worklist.index import Status, StudyResult

log = logging.getLogger(__name__)


# bench/bench_batch.py (README, 'Batch throughput'): on 2 cores one worker with 2 threads and two
# single-threaded workers tie on throughput (97.7 vs 96.2 studies/min in the last run, the other way
# round by 1 % in the one before), and the 2-thread worker finishes each study in half the time with
# one set of models in memory instead of two, which matters most on a many-core machine.
DEFAULT_THREADS = 2


@dataclass(frozen=True)
class BatchSettings:
    """What every worker of a batch needs to know; plain values, so it travels to any process."""

    models: tuple[str, ...] | None = None
    lung_mask: str = "auto"
    device: Device = Device.AUTO
    threads: int = DEFAULT_THREADS
    use_cache: bool = True


@dataclass(frozen=True)
class StudyTask:
    """One study to analyse: its index key and the scan's header (file paths on a path every worker reads)."""

    key: str
    header: SeriesHeader


def models_key(choice: ModelChoice) -> str:
    """Which models a result comes from (ids and file hashes): a change of installed models changes it."""
    parts = sorted(f"{m.id}:{m.manifest.sha256}" for m in choice.classifiers)
    segmenter = choice.segmenter
    parts.append(f"mask:{segmenter.id}:{segmenter.manifest.sha256}" if segmenter is not None else "mask:classical")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def model_choice(statuses: list[ModelStatus], modality: Modality, settings: BatchSettings) -> ModelChoice:
    """The models for one modality; with ``--models``, only those of them that read it."""
    ids = None
    if settings.models is not None:
        by_id = {s.id: s for s in statuses}
        ids = [m for m in settings.models if m not in by_id or by_id[m].manifest is None or by_id[m].manifest.modality == modality]
    return choose_models(statuses, modality, ids, settings.lung_mask)


def installed_models_keys(statuses: list[ModelStatus], modalities: Iterable[Modality], settings: BatchSettings) -> dict[Modality, str]:
    """Modality -> models key of what a batch with ``settings`` runs on it; modalities no model reads are left out."""
    choices = {m: model_choice(statuses, m, settings) for m in modalities}
    return {m: models_key(c) for m, c in choices.items() if c.classifiers}


def set_worker_threads(threads: int) -> None:
    """Intra-op threads for this worker's ONNX sessions and SimpleITK filters (before any session opens)."""
    import SimpleITK as sitk

    os.environ[THREADS_ENV] = str(threads)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


class StudyAnalyst:
    """One worker's models, sessions and cache; ``analyse`` never raises for a bad study."""

    def __init__(self, settings: BatchSettings) -> None:
        set_worker_threads(settings.threads)
        self.settings = settings
        self.statuses = discover_models()
        self.cache = ResultCache() if settings.use_cache else None
        self._choices: dict[Modality, ModelChoice] = {}

    def choice(self, modality: Modality) -> ModelChoice:
        if modality not in self._choices:
            self._choices[modality] = model_choice(self.statuses, modality, self.settings)
        return self._choices[modality]

    def analyse(self, task: StudyTask) -> StudyResult:
        from inference.loading import LoadError, load_series

        started = time.perf_counter()
        try:
            image = load_series(task.header)
            choice = self.choice(image.modality)
            key = models_key(choice)
            analysis = analyze_study(image, choice, self.settings.device, self.cache)
        except LoadError as exc:
            return StudyResult(task.key, Status.FAILED, "", f"could not be loaded: {exc}", seconds=time.perf_counter() - started)
        except Exception as exc:  # one study's bug must not stop the batch; the log keeps the traceback
            log.exception("analysis of one study failed")
            return StudyResult(task.key, Status.FAILED, "", f"the analysis failed unexpectedly ({error_summary(exc)})",
                               seconds=time.perf_counter() - started)
        return study_result(task.key, analysis, key, time.perf_counter() - started)
