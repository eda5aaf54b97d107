"""Analysing the open study off the GUI thread: which models there are, then the pipeline part by part.

The GUI only receives finished, immutable objects through queued signals: the model catalogue, the
lung mask, each model's opinion (with its Grad-CAM maps, made when first asked for) and
the StudyAnalysis. The pipeline checks cancel between batches (``inference.jobs.Job``); a cancelled
thread sends nothing more, and a result that arrives for a study no longer open is dropped by the
receiver.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from PySide6.QtCore import Signal

from inference.cache import ResultCache
from inference.pipelines.analysis import ModelChoice, analyze_study, choose_models
from inference.pipelines.results import LungMask, ModelOpinion
from inference.registry import ModelStatus, discover_models
from inference.runtime import DeviceUnavailable
from inference.study import Image, Modality
from viewer.logic.opinion_data import CamMaps
from viewer.tasks import Worker


@dataclass(frozen=True)
class ModelCatalogue:
    """The installed models as seen for one modality.

    ``candidates``: the classifiers that can run on it (an FP32 model with an INT8 twin is represented
    by the twin); ``segmenter``: the lung-mask model, None for the classical method (CT) or no mask
    (X-ray); ``skipped``: models the registry refused, with their reason in ``problem``.
    """

    modality: Modality
    default: ModelChoice
    skipped: tuple[ModelStatus, ...]

    @property
    def candidates(self) -> tuple[ModelStatus, ...]:
        return self.default.classifiers

    @property
    def segmenter(self) -> ModelStatus | None:
        return self.default.segmenter

    def choice(self, skip: frozenset[str] = frozenset()) -> ModelChoice:
        """What to run: the core's choice (``choose_models``) less the models the user unticked."""
        return dataclasses.replace(self.default, classifiers=tuple(m for m in self.candidates if m.id not in skip))


def find_catalogue(modality: Modality, statuses: list[ModelStatus] | None = None) -> ModelCatalogue:
    """The catalogue from the model directories (the registry hashes each .onnx once per file)."""
    statuses = discover_models() if statuses is None else statuses
    skipped = tuple(
        s for s in statuses if not s.usable and (s.manifest is None or s.manifest.modality == modality)
    )
    return ModelCatalogue(modality, choose_models(statuses, modality), skipped)


@dataclass(frozen=True, eq=False)
class OpinionReady:
    """One model's opinion and its Grad-CAM maps on the image grid."""

    opinion: ModelOpinion
    cams: CamMaps


class AnalysisThread(Worker):
    """Runs ``analyze_study`` on ``image`` with every candidate model not in ``skip``; ``progress`` in
    steps of the job's fraction, with its stage."""

    catalogued = Signal(object)  # ModelCatalogue
    maskReady = Signal(object)  # LungMask
    opinionReady = Signal(object)  # OpinionReady
    analysed = Signal(object)  # StudyAnalysis
    expected = (LookupError, DeviceUnavailable)

    def __init__(self, image: Image, skip: frozenset[str] = frozenset(), device: str = "auto", parent=None,
                 fresh: bool = False) -> None:
        super().__init__(parent)
        self.image = image
        self.fresh = fresh  # trust no cached result (the pixels changed under the study's identity)
        self.skip = frozenset(skip)
        self.device = device

    def work(self) -> None:
        catalogue = find_catalogue(self.image.modality)
        self.catalogued.emit(catalogue)
        analysis = analyze_study(
            self.image,
            catalogue.choice(self.skip),
            self.device,
            ResultCache(fresh=self.fresh),
            progress=self.report_fraction,
            cancel=self.cancel_event,
            on_result=self._on_result,
        )
        self.analysed.emit(analysis)

    def _on_result(self, part: LungMask | ModelOpinion) -> None:
        if isinstance(part, LungMask):
            self.maskReady.emit(part)
            return
        # CamMaps stay lazy (the report's key slices); what is drawn is made by viewer.cam_layers
        self.opinionReady.emit(OpinionReady(part, CamMaps(part, self.image.shape)))

