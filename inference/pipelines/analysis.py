"""One entry point for analysing a study, CT or X-ray: model choice, cache, progress, cancel, consensus.

``analyze_study`` runs off the GUI thread in the viewer and inside ``lunglens analyze``. Each part
(the lung mask, then each model's opinion) is looked up in the result cache first and stored after;
``on_result`` receives each part as soon as it exists, so a viewer can show the mask while the models
still run. A model that cannot load or run is reported in the warnings and the others carry on;
only a cancel (:class:`inference.jobs.Cancelled`) or a refused ``--device gpu`` stops the analysis.
Log lines name models and timings, never the patient.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from inference.cache import ResultCache, cache_key, study_digest
from inference.jobs import CancelCheck, Job, ProgressCallback
from inference.lung_segmentation import CLASSICAL_VERSION
from inference.pipelines import ct, xray
from inference.pipelines.results import LungMask, ModelOpinion, StudyAnalysis
from inference.registry import ModelStatus
from inference.runtime import ModelError, ModelSession, open_session
from inference.study import CTVolume, Image
from inference.usability import verdict_blockers
from inference.verdict import consensus

log = logging.getLogger(__name__)

SEGMENTERS = {"CT": "unet3d", "XR": "unet2d"}
# Export writes a quantized twin as "<id>-int8" (same network, verified against FP32); by default
# only the twin runs, about three times faster on CPUs with VNNI. Naming the FP32 id still runs it.
INT8_SUFFIX = "-int8"
ResultCallback = Callable[[LungMask | ModelOpinion], None]


@dataclass(frozen=True)
class ModelChoice:
    """The classifiers to run on a study, the lung segmenter (None: classical for CT, none for X-ray), and notes.

    ``fallback_segmenters``: the other installed U-Nets of the modality, tried in order when the
    chosen one fails at run time, before the classical mask (a site's broken U-Net must not cost
    the X-ray its lung mask while the bundled one works)."""

    classifiers: tuple[ModelStatus, ...]
    segmenter: ModelStatus | None
    warnings: tuple[str, ...] = ()
    fallback_segmenters: tuple[ModelStatus, ...] = ()


def _one_vote_per_file(classifiers: list[ModelStatus], warnings: list[str]) -> list[ModelStatus]:
    """A model installed twice under two ids (a renamed copy) runs and votes once."""
    kept: dict[str, ModelStatus] = {}
    for status in classifiers:
        twin = kept.get(status.manifest.sha256)
        if twin is None:
            kept[status.manifest.sha256] = status
        else:
            warnings.append(f"model {status.id} is the same file as {twin.id}: run and counted once")
    return list(kept.values())


def choose_models(
    statuses: Sequence[ModelStatus], modality: str, ids: Sequence[str] | None = None, lung_mask: str = "auto"
) -> ModelChoice:
    """Pick models for a study of ``modality`` ("CT" or "XR") from the registry's list.

    ``ids`` None means every usable classifier of that modality (an FP32 model whose INT8 twin is
    installed is represented by the twin); named models of another modality
    are skipped with a warning; a named model that is unusable or unknown raises ``LookupError``.
    ``lung_mask`` is "auto" (the installed U-Net for the modality, else classical/none),
    "classical" (no U-Net), or a segmentation model's id.
    """
    usable = {s.id: s for s in statuses if s.usable}
    warnings: list[str] = [
        f"model {s.id} not used: {s.problem}" for s in statuses if not s.usable and not s.problem.startswith("shadowed")
    ]
    if ids is None:
        classifiers = [
            s
            for s in usable.values()
            if s.manifest.task == "classification"
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
                warnings.append(f"model {model_id} is for {status.manifest.modality} images, this study is {modality}: skipped")
            elif status.manifest.task == "segmentation":
                lung_mask = model_id
            else:
                classifiers.append(status)
    candidates = [
        s for s in usable.values() if s.manifest.task == "segmentation" and s.manifest.method == SEGMENTERS[modality]
    ]
    if lung_mask == "classical":
        segmenter = None
    elif lung_mask == "auto":
        segmenter = candidates[0] if candidates else None
    else:
        segmenter = usable.get(lung_mask)
        if segmenter is None or segmenter.manifest.task != "segmentation" or segmenter.manifest.modality != modality:
            raise LookupError(f"lung mask model {lung_mask}: not a usable {modality} segmentation model")
    fallbacks = tuple(s for s in candidates if s is not segmenter) if segmenter is not None else ()
    return ModelChoice(tuple(_one_vote_per_file(classifiers, warnings)), segmenter, tuple(warnings), fallbacks)


def _mask_identity(segmenter: ModelStatus | None) -> list[str]:
    if segmenter is None:
        return ["classical", str(CLASSICAL_VERSION)]
    return [segmenter.id, segmenter.manifest.sha256]


def analyze_study(
    image: Image,
    choice: ModelChoice,
    device: str = "auto",
    cache: ResultCache | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
    on_result: ResultCallback | None = None,
) -> StudyAnalysis:
    """Lung mask, every chosen classifier's opinion, consensus and (CT) quantification for one study."""
    pipeline = ct if isinstance(image, CTVolume) else xray
    modality = image.modality.value
    job = Job(progress, cancel)
    started = time.perf_counter()
    digest = study_digest(image) if cache is not None else ""
    warnings = list(choice.warnings)
    warnings += pipeline.input_warnings(image)
    if blockers := verdict_blockers(image):
        job.report(1.0, "done")
        return StudyAnalysis(
            modality=modality, shape=tuple(image.shape), spacing_mm=tuple(image.spacing) if image.spacing else None,
            lung_mask=None, lung=None, opinions=(),
            consensus=None, warnings=tuple(warnings + [f"no verdict: {reason}" for reason in blockers]),
            device="none", timings_s={},
        )
    devices: set[str] = set()
    timings: dict[str, float] = {}

    def session(model: ModelStatus) -> ModelSession:
        opened = open_session(model, device)
        if opened.note and opened.note not in warnings:
            warnings.append(opened.note)
        devices.add(opened.device)
        return opened

    def cached(key: str, build: Callable[[], LungMask | ModelOpinion | None], kind: type) -> LungMask | ModelOpinion | None:
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            return kind.from_record(*hit)
        result = build()
        if cache is not None and result is not None:
            cache.put(key, *result.to_record())
        return result

    parts = 1 + len(choice.classifiers)
    job.report(0.0, "lung mask")
    t0 = time.perf_counter()

    def compute_mask() -> LungMask | None:
        part = job.part(0, 1 / parts)
        if choice.segmenter is None:
            return pipeline.lung_mask(image, None, part)
        failures = []
        for segmenter in (choice.segmenter, *choice.fallback_segmenters):
            try:
                mask = pipeline.lung_mask(image, session(segmenter), part)
            except ModelError as exc:
                failures.append(str(exc))
                continue
            return replace(mask, note="; ".join(f"{f}; using {segmenter.id} instead" for f in failures)) if failures else mask
        fallback = pipeline.lung_mask(image, None, part)
        instead = "no lung mask" if fallback is None else "the classical lung segmentation"
        note = f"{'; '.join(failures)}; using {instead} instead"
        if fallback is None:
            warnings.append(note)
            return None
        return replace(fallback, note=note)

    # Stored under the key of what was asked for, so a refused U-Net is not run again next time.
    mask_key = cache_key("lung-mask", digest, *_mask_identity(choice.segmenter))
    mask = cached(mask_key, compute_mask, LungMask)
    if mask is not None and mask.note:
        warnings.append(mask.note)
    timings["lung_mask"] = time.perf_counter() - t0
    warnings += pipeline.mask_warnings(image, mask)
    if mask is not None and on_result is not None:
        on_result(mask)
    log.info("lung mask (%s) in %.2f s", mask.model_id or mask.source if mask else "none", timings["lung_mask"])

    opinions = []
    for i, model in enumerate(choice.classifiers, start=1):
        key = cache_key("opinion", digest, model.id, model.manifest.sha256, mask_key)
        t0 = time.perf_counter()
        try:
            opinion = cached(
                key,
                lambda: pipeline.classify(image, mask, session(model), job.part(i / parts, (i + 1) / parts)),
                ModelOpinion,
            )
        except ModelError as exc:
            warnings.append(f"{exc}: no opinion from this model")
            continue
        timings[model.id] = time.perf_counter() - t0
        devices.add(opinion.device)
        warnings += [w for w in opinion.warnings if w not in warnings]
        opinions.append(opinion)
        if on_result is not None:
            on_result(opinion)
        log.info("model %s in %.2f s%s", model.id, timings[model.id], " (cached)" if opinion.from_cache else "")

    lung = ct.quantify(image, mask) if isinstance(image, CTVolume) and mask is not None else None
    timings["total"] = time.perf_counter() - started
    job.report(1.0, "done")
    return StudyAnalysis(
        modality=modality,
        shape=tuple(image.shape),
        spacing_mm=tuple(image.spacing) if image.spacing is not None else None,
        lung_mask=mask,
        lung=lung,
        opinions=tuple(opinions),
        consensus=consensus({o.model_id: o.verdict for o in opinions}) if opinions else None,
        warnings=tuple(warnings + ([cache.problem] if cache is not None and cache.problem else [])),
        device="+".join(sorted(devices)) or "cpu",
        timings_s=timings,
    )

