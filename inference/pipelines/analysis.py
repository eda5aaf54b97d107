"""One entry point for analysing a study, CT or X-ray: model choice, cache, progress, cancel, consensus.

``analyze_study`` runs off the GUI thread in the viewer and inside ``lunglens analyze`` and ``batch``.
A ``Pipeline`` (``pipelines.ct``, ``pipelines.xray``) knows its modality's steps; ``StudyAnalyzer``
runs them in order, one method per step. Each part (the lung mask, then each model's opinion) is
looked up in the result cache first and stored after; ``on_result`` receives each part as soon as it
exists, so a viewer can show the mask while the models still run. A model that cannot load or run
is reported in a typed ``Note`` and the others carry on; only a cancel (:class:`inference.jobs.
Cancelled`) or a refused ``--device gpu`` stops the analysis. Log lines name models and timings,
never the patient.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from inference.cache import ResultCache, cache_key, study_digest
from inference.jobs import CancelCheck, Job, ProgressCallback
from inference.lung_segmentation import CLASSICAL_VERSION, UNET_POSTPROCESSING_VERSION
from inference.manifest import Task
from inference.pipelines import ct, xray
from inference.pipelines.results import DOMAIN_NOTE, LungMask, ModelOpinion, Note, StudyAnalysis
from inference.registry import ModelStatus
from inference.runtime import Device, ModelError, ModelSession, open_session
from inference.study import CTVolume, Image, Modality
from inference.usability import verdict_blockers
from inference.verdict import consensus

log = logging.getLogger(__name__)

SEGMENTERS = {Modality.CT: "unet3d", Modality.XRAY: "unet2d"}
# Export writes a quantized twin as "<id>-int8" (same network, verified against FP32); by default
# only the twin runs, about three times faster on CPUs with VNNI. Naming the FP32 id still runs it.
INT8_SUFFIX = "-int8"
ResultCallback = Callable[[LungMask | ModelOpinion], None]


class Pipeline(Protocol):
    """A modality's steps (``pipelines.ct`` and ``pipelines.xray`` are modules that follow it)."""

    def input_warnings(self, image: Image) -> list[str]: ...

    def lung_mask(self, image: Image, segmenter: ModelSession | None, job: Job) -> LungMask | None: ...

    def mask_warnings(self, image: Image, mask: LungMask | None) -> list[str]: ...

    def classify(self, image: Image, mask: LungMask | None, session: ModelSession, job: Job) -> ModelOpinion: ...


def pipeline_for(image: Image) -> Pipeline:
    return ct if isinstance(image, CTVolume) else xray


@dataclass(frozen=True)
class ModelChoice:
    """The classifiers to run on a study, the lung segmenter (None: classical for CT, none for X-ray), and notes.

    ``fallback_segmenters``: the other installed U-Nets of the modality, tried in order when the
    chosen one fails at run time, before the classical mask (a site's broken U-Net must not cost
    the X-ray its lung mask while the bundled one works)."""

    classifiers: tuple[ModelStatus, ...]
    segmenter: ModelStatus | None
    notes: tuple[Note, ...] = ()
    fallback_segmenters: tuple[ModelStatus, ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(note.text for note in self.notes)


def _one_vote_per_file(classifiers: list[ModelStatus], notes: list[Note]) -> list[ModelStatus]:
    """A model installed twice under two ids (a renamed copy) runs and votes once."""
    kept: dict[str, ModelStatus] = {}
    for status in classifiers:
        twin = kept.get(status.manifest.sha256)
        if twin is None:
            kept[status.manifest.sha256] = status
        else:
            notes.append(Note(f"model {status.id} is the same file as {twin.id}: run and counted once", "model-skipped", status.id))
    return list(kept.values())


def choose_models(
    statuses: Sequence[ModelStatus], modality: Modality, ids: Sequence[str] | None = None, lung_mask: str = "auto"
) -> ModelChoice:
    """Pick models for a study of ``modality`` ("CT" or "XR") from the registry's list.

    ``ids`` None means every usable classifier of that modality (an FP32 model whose INT8 twin is
    installed is represented by the twin); named models of another modality
    are skipped with a warning; a named model that is unusable or unknown raises ``LookupError``.
    ``lung_mask`` is "auto" (the installed U-Net for the modality, else classical/none),
    "classical" (no U-Net), or a segmentation model's id.
    """
    usable = {s.id: s for s in statuses if s.usable}
    notes: list[Note] = [
        Note(f"model {s.id} not used: {s.problem}", "model-skipped", s.id)
        for s in statuses
        if not s.usable and not s.problem.startswith("shadowed")
    ]
    if ids is None:
        classifiers = [
            s
            for s in usable.values()
            if s.manifest.task == Task.CLASSIFICATION
            and s.manifest.modality == modality
            and f"{s.id}{INT8_SUFFIX}" not in usable
        ]
    else:
        classifiers = []
        for model_id in ids:
            if model_id not in usable:
                known = {s.id: s for s in statuses}
                reason = known[model_id].problem if model_id in known else "not installed"
                raise LookupError(f"model {model_id}: {reason}; see 'lunglens models'")
            status = usable[model_id]
            if status.manifest.modality != modality:
                notes.append(Note(f"model {model_id} is for {status.manifest.modality} images, this study is {modality}: skipped",
                                  "model-skipped", model_id))
            elif status.manifest.task == Task.SEGMENTATION:
                lung_mask = model_id
            else:
                classifiers.append(status)
    candidates = [
        s for s in usable.values() if s.manifest.task == Task.SEGMENTATION and s.manifest.method == SEGMENTERS[modality]
    ]
    if lung_mask == "classical":
        segmenter = None
    elif lung_mask == "auto":
        segmenter = candidates[0] if candidates else None
    else:
        segmenter = usable.get(lung_mask)
        if segmenter is None or segmenter.manifest.task != Task.SEGMENTATION or segmenter.manifest.modality != modality:
            raise LookupError(f"lung mask model {lung_mask}: not a usable {modality} segmentation model")
    fallbacks = tuple(s for s in candidates if s is not segmenter) if segmenter is not None else ()
    classifiers = _one_vote_per_file(classifiers, notes)
    return ModelChoice(tuple(classifiers), segmenter, tuple(notes), fallbacks)


def _mask_identity(segmenter: ModelStatus | None) -> list[str]:
    if segmenter is None:
        return ["classical", str(CLASSICAL_VERSION)]
    return [segmenter.id, segmenter.manifest.sha256, str(UNET_POSTPROCESSING_VERSION)]


class StudyAnalyzer:
    """One analysis of one study: each step a method, the notes and timings gathered on the way."""

    def __init__(self, image: Image, choice: ModelChoice, device: Device, cache: ResultCache | None, job: Job,
                 on_result: ResultCallback | None):
        self.image, self.choice, self.device, self.cache, self.job = image, choice, device, cache, job
        self.on_result = on_result
        self.pipeline = pipeline_for(image)
        self.digest = study_digest(image) if cache is not None else ""
        self.notes: list[Note] = list(choice.notes)
        self.devices: set[str] = set()
        self.timings: dict[str, float] = {}
        self.parts = 1 + len(choice.classifiers)

    def note(self, text: str, kind: str = "study", model_id: str | None = None) -> None:
        if all(n.text != text for n in self.notes):
            self.notes.append(Note(text, kind, model_id))

    def session(self, model: ModelStatus) -> ModelSession:
        opened = open_session(model, self.device)
        if opened.note:
            self.note(opened.note, "runtime")
        self.devices.add(opened.device)
        return opened

    def cached(self, key: str, build: Callable[[], LungMask | ModelOpinion | None], kind: type):
        """The cache's copy of a part, or the part built now and stored."""
        hit = self.cache.get(key) if self.cache is not None else None
        if hit is not None:
            return kind.from_record(*hit)
        result = build()
        if self.cache is not None and result is not None:
            self.cache.put(key, *result.to_record())
        return result

    def compute_mask(self) -> LungMask | None:
        """The chosen U-Net, else the next installed one, else the classical mask (saying why)."""
        part = self.job.part(0, 1 / self.parts)
        if self.choice.segmenter is None:
            return self.pipeline.lung_mask(self.image, None, part)
        failures = []
        for segmenter in (self.choice.segmenter, *self.choice.fallback_segmenters):
            try:
                mask = self.pipeline.lung_mask(self.image, self.session(segmenter), part)
            except ModelError as exc:
                failures.append(str(exc))
                continue
            return replace(mask, note="; ".join(f"{f}; using {segmenter.id} instead" for f in failures)) if failures else mask
        fallback = self.pipeline.lung_mask(self.image, None, part)
        instead = "no lung mask" if fallback is None else "the classical lung segmentation"
        note = f"{'; '.join(failures)}; using {instead} instead"
        if fallback is None:
            self.note(note, "lung-mask")
            return None
        return replace(fallback, note=note)

    def lung_mask(self) -> tuple[LungMask | None, str]:
        """The mask and its cache key, stored under what was asked for (a refused U-Net is not rerun)."""
        self.job.report(0.0, "lung mask")
        started = time.perf_counter()
        key = cache_key("lung-mask", self.digest, *_mask_identity(self.choice.segmenter))
        mask = self.cached(key, self.compute_mask, LungMask)
        if mask is not None and mask.note:
            self.note(mask.note, "lung-mask")
        self.timings["lung_mask"] = time.perf_counter() - started
        for warning in self.pipeline.mask_warnings(self.image, mask):
            self.note(warning, "lung-mask")
        if mask is not None and self.on_result is not None:
            self.on_result(mask)
        log.info("lung mask (%s) in %.2f s", mask.model_id or mask.source if mask else "none", self.timings["lung_mask"])
        return mask, key

    def opinion(self, index: int, model: ModelStatus, mask: LungMask | None, mask_key: str) -> ModelOpinion | None:
        """One classifier's opinion (from the cache when it has one); None with a note if it failed."""
        key = cache_key("opinion", self.digest, model.id, model.manifest.sha256, mask_key)
        started = time.perf_counter()
        part = self.job.part(index / self.parts, (index + 1) / self.parts)
        try:
            opinion = self.cached(key, lambda: self.pipeline.classify(self.image, mask, self.session(model), part), ModelOpinion)
        except ModelError as exc:
            self.note(f"{exc}: no opinion from this model", "model-failed", model.id)
            return None
        self.timings[model.id] = time.perf_counter() - started
        self.devices.add(opinion.device)
        for warning in opinion.warnings:
            self.note(warning, "domain" if DOMAIN_NOTE in warning else "study", model.id)
        if self.on_result is not None:
            self.on_result(opinion)
        log.info("model %s in %.2f s%s", model.id, self.timings[model.id], " (cached)" if opinion.from_cache else "")
        return opinion

    def result(self, mask: LungMask | None, opinions: list[ModelOpinion], ran: bool = True) -> StudyAnalysis:
        image = self.image
        if self.cache is not None and self.cache.problem:
            self.note(self.cache.problem, "runtime")
        return StudyAnalysis(
            modality=image.modality,
            shape=tuple(image.shape),
            spacing_mm=tuple(image.spacing) if image.spacing is not None else None,
            lung_mask=mask,
            lung=ct.quantify(image, mask) if isinstance(image, CTVolume) and mask is not None else None,
            opinions=tuple(opinions),
            consensus=consensus({o.model_id: o.verdict for o in opinions}) if opinions else None,
            notes=tuple(self.notes),
            device="+".join(sorted(self.devices)) or ("cpu" if ran else "none"),
            timings_s=self.timings,
        )

    def run(self) -> StudyAnalysis:
        started = time.perf_counter()
        for warning in self.pipeline.input_warnings(self.image):
            self.note(warning)
        if blockers := verdict_blockers(self.image):
            for reason in blockers:
                self.note(f"no verdict: {reason}", "no-verdict")
            self.job.report(1.0, "done")
            return self.result(None, [], ran=False)
        mask, mask_key = self.lung_mask()
        opinions = [
            opinion
            for index, model in enumerate(self.choice.classifiers, start=1)
            if (opinion := self.opinion(index, model, mask, mask_key)) is not None
        ]
        self.timings["total"] = time.perf_counter() - started
        self.job.report(1.0, "done")
        return self.result(mask, opinions)


def analyze_study(
    image: Image,
    choice: ModelChoice,
    device: Device = Device.AUTO,
    cache: ResultCache | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
    on_result: ResultCallback | None = None,
) -> StudyAnalysis:
    """Lung mask, every chosen classifier's opinion, consensus and (CT) quantification for one study."""
    return StudyAnalyzer(image, choice, device, cache, Job(progress, cancel), on_result).run()
