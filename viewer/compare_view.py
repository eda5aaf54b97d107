"""Compare mode: the current slice once per model, side by side, each pane with its own Grad-CAM.

Every pane shows the same ViewState, so slice, window/level and inversion are shared by
construction; zoom and pan are copied from the pane that moved to the others. Each pane has its own
LayerList (the shared overlays plus its model's map, see ``opinion_data.compare_layers``), and a
caption with the model's reading of the slice on screen and of the whole study.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from inference.pipelines.results import ModelOpinion
from viewer.logic.layers import Layer, LayerList
from viewer.logic.opinion_data import finding_class, finding_probabilities
from viewer.logic.summary_html import esc, finding_versus_threshold, number, verdict_word
from viewer.slice_view import SliceView
from viewer.view_state import ViewState


def grid_shape(count: int) -> tuple[int, int]:
    """(rows, columns) for ``count`` panes: one row up to three, then as square as possible."""
    if count <= 3:
        return 1, max(count, 1)
    columns = math.ceil(math.sqrt(count))
    return math.ceil(count / columns), columns


class CompareView(QWidget):
    activePaneChanged = Signal(object)
    hovered = Signal(object)

    def __init__(self, state: ViewState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.panes: dict[str, SliceView] = {}
        self.opinions: dict[str, ModelOpinion] = {}
        self.colours: dict[str, str] = {}
        self.active: SliceView | None = None
        self._syncing = False
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(2)
        self.placeholder = QLabel("Compare mode shows the slice once per model.\nAnalyse the study first: A.")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("color: #7d8590; font-size: 14px; background: black;")
        self._grid.addWidget(self.placeholder, 0, 0)
        # Connected before any pane exists, so this runs first and old panes never see the new image.
        state.imageChanged.connect(lambda: self.set_models((), {}, {}))
        state.cursorChanged.connect(self._update_captions)

    def set_models(self, opinions: Sequence[ModelOpinion], colours: Mapping[str, str],
                   layers: Mapping[str, Sequence[Layer]]) -> None:
        """One pane per opinion, in order, each with ``layers[model_id]`` drawn over the slice."""
        ids = [o.model_id for o in opinions]
        self.opinions = {o.model_id: o for o in opinions}
        self.colours = dict(colours)
        if ids != list(self.panes):
            self._build(ids)
        for model_id, pane in self.panes.items():
            self._set_layers(pane, layers.get(model_id, ()))
        self._update_captions()

    def set_layers(self, layers: Mapping[str, Sequence[Layer]]) -> None:
        """New overlays for existing panes (a layer's style changed in the main list)."""
        for model_id, pane in self.panes.items():
            self._set_layers(pane, layers.get(model_id, ()))

    def set_active(self, pane: SliceView) -> None:
        if pane is self.active:
            return
        if self.active is not None:
            self.active.set_active(False)
        self.active = pane
        pane.set_active(True)
        self.activePaneChanged.emit(pane)

    def visible_panes(self) -> list[SliceView]:
        return list(self.panes.values())

    # --- building ------------------------------------------------------------------------------

    def _build(self, ids: list[str]) -> None:
        for pane in self.panes.values():
            pane.layers.reset(None)
            self._grid.removeWidget(pane)
            pane.hide()
            pane.deleteLater()
        self.panes, self.active = {}, None
        self.placeholder.setVisible(not ids or self.state.source is None)
        if not ids or self.state.source is None:
            return
        rows, columns = grid_shape(len(ids))
        for position, model_id in enumerate(ids):
            pane = SliceView(self.state, "axial", layers=LayerList(self.state.source.shape), parent=self)
            pane.set_crosshair_visible(False)  # no other plane to point at here, only clutter over the maps
            pane.activated.connect(self.set_active)
            pane.activated.connect(lambda p: p.graphics.setFocus())
            pane.hovered.connect(self.hovered)
            pane.view.sigRangeChanged.connect(lambda *_, p=pane: self._follow_range(p))
            self.panes[model_id] = pane
            self._grid.addWidget(pane, position // columns, position % columns)
        for r in range(rows):
            self._grid.setRowStretch(r, 1)
        for c in range(columns):
            self._grid.setColumnStretch(c, 1)
        self.set_active(next(iter(self.panes.values())))

    @staticmethod
    def _set_layers(pane: SliceView, layers: Sequence[Layer]) -> None:
        if [id(layer) for layer in pane.layers] == [id(layer) for layer in layers]:
            return
        pane.layers.clear()
        for layer in layers:
            pane.layers.add(layer)

    def _follow_range(self, source: SliceView) -> None:
        """Zoom and pan of one pane, copied to the others."""
        if self._syncing:
            return
        self._syncing = True
        try:
            rect = source.view.viewRect()
            for pane in self.panes.values():
                if pane is not source:
                    pane.view.setRange(rect=rect, padding=0)
        finally:
            self._syncing = False

    def _update_captions(self) -> None:
        if self.state.source is None:
            return
        z = self.state.cursor[0] if self.state.source.is_ct else 0
        for model_id, pane in self.panes.items():
            opinion = self.opinions[model_id]
            p = finding_probabilities(opinion)[z] if z < len(opinion.probabilities) else np.nan
            here = "this image" if not self.state.source.is_ct else "this slice"
            colour = self.colours.get(model_id, "#888")
            pane.set_caption(
                f'<span style="color:{colour}; font-size:13px"><b>{esc(model_id)}</b></span> {esc(opinion.method)}<br>'
                f"p({esc(finding_class(opinion))}) {number(float(p))} on {here}<br>"
                f"study: {verdict_word(opinion)}, {finding_versus_threshold(opinion)}"
            )
