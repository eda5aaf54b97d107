"""One Grad-CAM layer per model, of the class picked in the model table, built off the GUI thread.

Each arriving opinion gets a layer "Grad-CAM <model>: <class>" (its finding class first); only the
selected model's layer is visible. The display maps (``viewer.logic.cam_display``) are read from the result
cache or made on the thread pool; a map made for opinions since cleared (another image, another
analysis) is dropped. ``CamControls`` is the strip
above the model table: the colormap, "only inside the lungs" (off by default) and the share of the
selected map that lies inside the lung mask (the legend is drawn on each pane).
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from inference.cache import ResultCache
from inference.pipelines.results import ModelOpinion
from viewer.logic.cam_display import CoarseCam, cached_coarse_display, coarse_factor, share_inside_lungs
from viewer.logic.colormaps import COLORMAPS
from viewer.logic.layers import HeatmapLayer, LabelLayer
from viewer.logic.opinion_data import CAM_COLORMAP, CAM_OPACITY, CAM_THRESHOLD, CamKey, cam_layer_name, finding_class
from viewer.tasks import run_in_background
from viewer.view_state import ViewState


class CamLayers(QObject):
    changed = Signal()  # a map was shown, its class changed, or its lung share became known

    def __init__(self, state: ViewState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.layers = state.layers
        self.opinions: dict[str, ModelOpinion] = {}
        self.classes: dict[str, str] = {}  # model id -> the class its layer shows
        self.names: dict[str, str] = {}  # model id -> its layer's name
        self.steps: dict[tuple[str, str], np.ndarray] = {}  # (model id, class) -> coarse display map
        self.shares: dict[tuple[str, str], float] = {}  # (model id, class) -> share inside the lungs
        self.selected: str | None = None
        self.lungs: np.ndarray | None = None
        self.lungs_only = False
        self.colormap = CAM_COLORMAP
        self.cache = ResultCache()
        self._generation = 0  # bumped by clear(): a map made for earlier opinions is dropped

    @property
    def cam_keys(self) -> dict[str, CamKey]:
        """Layer name -> the model and class it shows (compare mode picks each pane's map by it)."""
        return {name: CamKey(model_id, self.classes[model_id]) for model_id, name in self.names.items()}

    def add(self, opinion: ModelOpinion) -> None:
        self.opinions[opinion.model_id] = opinion
        self.set_class(opinion.model_id, self.classes.get(opinion.model_id) or finding_class(opinion))

    def set_class(self, model_id: str, cls: str) -> None:
        """Show class ``cls`` in this model's layer (made in the background the first time)."""
        opinion = self.opinions.get(model_id)
        if opinion is None or cls not in opinion.classes:
            return
        self.classes[model_id] = cls
        if (model_id, cls) in self.steps:
            self._show(model_id)
            return
        source = self.state.source
        shape = source.shape
        spacing_z = source.spacing[0] if source.is_ct and source.spacing_known else None
        cache, generation = self.cache, self._generation
        run_in_background(lambda: cached_coarse_display(opinion, cls, shape, spacing_z, cache),
                          lambda steps: self._on_steps(generation, model_id, cls, steps), self)

    def _on_steps(self, generation: int, model_id: str, cls: str, steps: np.ndarray) -> None:
        if generation != self._generation or model_id not in self.opinions:
            return
        self.steps[(model_id, cls)] = steps
        if self.classes.get(model_id) == cls:
            self._show(model_id)
        self._measure_share(model_id, cls)

    def _show(self, model_id: str) -> None:
        cls = self.classes[model_id]
        steps = self.steps.get((model_id, cls))
        if steps is None:
            return
        shape = self.state.source.shape
        values = CoarseCam(steps, shape, coarse_factor(shape), self.lungs if self.lungs_only else None)
        name = cam_layer_name(model_id, cls)
        old = self.names.get(model_id)
        if old is not None and old in self.layers:
            style = self.layers[old]
            self.layers.update(old, name=name, values=values)
        else:
            style = None
            # under the lung outline, which stays crisp on top, and in the models' order whichever map came first
            order = list(self.opinions)
            later = [self.names[m] for m in order[order.index(model_id) + 1:] if self.names.get(m) in self.layers]
            above = [self.layers.index(n) for n in later]
            above += [i for i, layer in enumerate(self.layers) if isinstance(layer, LabelLayer) and layer.contour]
            self.layers.add(HeatmapLayer(name, values, colormap=self.colormap, opacity=CAM_OPACITY,
                                         threshold=CAM_THRESHOLD, visible=model_id == self.selected),
                            min(above) if above else None)
        self.names[model_id] = name
        if style is not None and style.visible != (model_id == self.selected):
            self.layers.update(name, visible=model_id == self.selected)
        self.changed.emit()

    def ready(self) -> bool:
        """Every opinion's map, of the class picked for it, is in the layer list (headless runs wait for it)."""
        return all(self.names.get(m) == cam_layer_name(m, c) for m, c in self.classes.items())

    def select(self, model_id: str) -> None:
        """Only this model's map is visible."""
        self.selected = model_id
        for owner, name in self.names.items():
            if name in self.layers and self.layers[name].visible != (owner == model_id):
                self.layers.update(name, visible=owner == model_id)
        self.changed.emit()

    def set_lung_mask(self, labels: np.ndarray | None) -> None:
        self.lungs = labels
        for model_id, cls in self.classes.items():
            self._measure_share(model_id, cls)
        if self.lungs_only:
            self._reshow()

    def set_lungs_only(self, on: bool) -> None:
        self.lungs_only = bool(on)
        self._reshow()

    def set_colormap(self, name: str) -> None:
        self.colormap = name
        for name_ in self.names.values():
            if name_ in self.layers:
                self.layers.update(name_, colormap=name)

    def _reshow(self) -> None:
        for model_id in list(self.names):
            self._show(model_id)

    def _measure_share(self, model_id: str, cls: str) -> None:
        steps, lungs = self.steps.get((model_id, cls)), self.lungs
        if steps is None or lungs is None or (model_id, cls) in self.shares:
            return
        image, factor = self.state.source.image, coarse_factor(self.state.source.shape)
        run_in_background(lambda: share_inside_lungs(steps, lungs, factor),
                          lambda share: self._on_share(image, model_id, cls, share), self)

    def _on_share(self, image, model_id: str, cls: str, share: float) -> None:
        if self.state.source is not None and self.state.source.image is image:
            self.shares[(model_id, cls)] = share
            self.changed.emit()

    def share_text(self) -> str:
        """'62 % of m1's COVID map lies inside the lungs', for the selected model."""
        model_id = self.selected
        cls = self.classes.get(model_id or "")
        if cls is None:
            return ""
        share = self.shares.get((model_id, cls))
        if share is None:
            return "" if self.lungs is None else "measuring how much of the map lies inside the lungs\u2026"
        if math.isnan(share):
            return f"{model_id}'s {cls} map is empty"
        return f"{100 * share:.0f} % of {model_id}'s {cls} map lies inside the lungs"

    def clear(self) -> None:
        for name in self.names.values():
            if name in self.layers:
                self.layers.remove(name)
        self.opinions.clear()
        self.classes.clear()
        self.names.clear()
        self.steps.clear()
        self.shares.clear()
        self._generation += 1
        self.lungs = None


class CamControls(QWidget):
    """Colormap, "only inside the lungs" and the selected map's share inside the lungs."""

    def __init__(self, cams: CamLayers, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cams = cams
        self.colormap = QComboBox()
        self.colormap.addItems(COLORMAPS)
        self.colormap.setCurrentText(cams.colormap)
        self.colormap.setToolTip("Colormap of the Grad-CAM maps (inferno and viridis are perceptually uniform "
                                 "and read in colour-blindness and in grey)")
        self.lungs_only = QCheckBox("Only inside the &lungs")
        self.lungs_only.setToolTip("Draw the Grad-CAM only where the lung mask is (the map itself is unchanged)")
        self.share = QLabel("")
        self.share.setTextFormat(Qt.TextFormat.PlainText)
        self.share.setWordWrap(True)  # never wider than the panel it sits in
        self.share.setToolTip("Share of the selected model's map (its mass) that lies inside the lung mask")
        label = QLabel("Grad-CAM:")
        label.setBuddy(self.colormap)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(label)
        row.addWidget(self.colormap)
        row.addWidget(self.lungs_only)
        row.addStretch(1)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addLayout(row)
        box.addWidget(self.share)
        self.colormap.currentTextChanged.connect(cams.set_colormap)
        self.lungs_only.toggled.connect(cams.set_lungs_only)
        cams.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        self.share.setText(self.cams.share_text())
