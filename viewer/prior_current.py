"""Prior and current side by side: two studies of one patient, scrolled together by position.

The current study is the open one (its panes share the window's ViewState, so window/level, the cursor
and annotations are the ones everywhere else); the prior gets its own. Scrolling either pane moves the
other to the slice at the same table position (the slices' position along the patient's head-foot axis),
plus an offset: 0 when the two series cover overlapping positions (one frame of reference, as a
scanner keeps for a patient), else the one that lines up their middles. Ctrl+L unlinks them, to bring
the same anatomy into both panes by hand, and links them again there (studies on different tables). Window and level follow each other
when both are CTs (both HU). A prior of another patient is shown, with a warning saying so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from inference.study import CTVolume, Image
from viewer.slice_view import SliceView
from viewer.view_state import ViewState


def prior_series(images: Sequence[Image], current: Image) -> Image | None:
    """The series of a prior study to set beside ``current``: same modality, the CT with most slices."""
    same = [i for i in images if i.modality == current.modality]
    if not same:
        return None
    return max(same, key=lambda i: i.shape[0]) if isinstance(current, CTVolume) else same[0]


def head_foot_positions(image: Image) -> np.ndarray | None:
    """Each array slice's position along the patient's head-foot (S) axis, in mm; None for an X-ray."""
    if not isinstance(image, CTVolume):
        return None
    return np.asarray(image.slice_positions, dtype=float)[:, 2]


def default_offset(prior: np.ndarray, current: np.ndarray) -> float:
    """prior position - current position of slices that correspond: 0 when the ranges overlap, else the
    difference of their middles."""
    overlap = min(prior.max(), current.max()) - max(prior.min(), current.min())
    return 0.0 if overlap >= 0 else float((prior.min() + prior.max()) / 2 - (current.min() + current.max()) / 2)


def nearest_slice(positions: np.ndarray, position: float) -> int:
    return int(np.argmin(np.abs(positions - position)))


def patient_mismatch(prior: Image, current: Image) -> str:
    """Why these may not be one patient's studies, or ""."""
    a, b = prior.info.patient_id, current.info.patient_id
    if a and b and a != b:
        return f"the prior is of another patient (ID {a}, the current study {b})"
    return ""


class PriorCurrentView(QWidget):
    """The prior (left) and the current study (right), linked; ``closed`` when the reader leaves it."""

    hovered = Signal(object)
    activePaneChanged = Signal(object)

    def __init__(self, current_state: ViewState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.current_state = current_state
        self.prior_state = ViewState(parent=self)
        self.prior_pane: SliceView | None = None
        self.current_pane: SliceView | None = None
        self.active: SliceView | None = None
        self.offset = 0.0
        self.linked = True
        self._linking = False
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(2)
        self.titles = [QLabel(), QLabel()]
        for column, title in enumerate(self.titles):
            title.setStyleSheet("color: #e6e6e6; background: #1d2127; padding: 3px 6px;")
            title.setTextFormat(Qt.TextFormat.RichText)
            self._grid.addWidget(title, 0, column)
        self.placeholder = QLabel("Prior/current: File > Compare with a prior study (Ctrl+Shift+C).")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("color: #7d8590; font-size: 14px; background: black;")
        self._grid.addWidget(self.placeholder, 1, 0, 1, 2)
        current_state.cursorChanged.connect(lambda: self._follow(self.current_state, self.prior_state))
        self.prior_state.cursorChanged.connect(lambda: self._follow(self.prior_state, self.current_state))
        current_state.windowChanged.connect(lambda: self._same_window(self.current_state, self.prior_state))
        self.prior_state.windowChanged.connect(lambda: self._same_window(self.prior_state, self.current_state))
        current_state.imageChanged.connect(self._on_current_image)

    @property
    def prior(self) -> Image | None:
        return self.prior_state.image

    def visible_panes(self) -> list[SliceView]:
        return [p for p in (self.prior_pane, self.current_pane) if p is not None]

    def set_prior(self, prior: Image | None) -> None:
        """Show ``prior`` beside the open study (None: nothing to compare)."""
        self.prior_state.set_image(prior)
        self._build()
        current = self.current_state.source
        if prior is None or current is None:
            return
        self.prior_state.set_window(self.current_state.window)
        ours, theirs = head_foot_positions(prior), head_foot_positions(current.image)
        if ours is not None and theirs is not None:
            self.offset = default_offset(ours, theirs)
        self._follow(self.current_state, self.prior_state)

    def set_linked(self, on: bool) -> None:
        """Scroll together (on), or each on its own (off); switched on, the slices shown now correspond."""
        self.linked = bool(on)
        if on:
            self.link_here()

    def link_here(self) -> None:
        """The slices shown now correspond from here on (studies positioned differently on the table)."""
        ours = head_foot_positions(self.prior) if self.prior is not None else None
        source = self.current_state.source
        theirs = head_foot_positions(source.image) if source is not None else None
        if ours is not None and theirs is not None:
            self.offset = float(ours[self.prior_state.cursor[0]] - theirs[self.current_state.cursor[0]])

    def _build(self) -> None:
        for pane in self.visible_panes():
            self._grid.removeWidget(pane)
            pane.hide()
            pane.deleteLater()
        self.prior_pane = self.current_pane = self.active = None
        current, prior = self.current_state.source, self.prior_state.source
        ready = current is not None and prior is not None
        self.placeholder.setVisible(not ready)
        for title in self.titles:
            title.setVisible(ready)
        if not ready:
            return
        plane = "axial" if current.is_ct else "projection"
        self.prior_pane = SliceView(self.prior_state, "axial" if prior.is_ct else "projection", parent=self)
        self.current_pane = SliceView(self.current_state, plane, parent=self)
        for column, (pane, state, word) in enumerate(((self.prior_pane, self.prior_state, "PRIOR"),
                                                      (self.current_pane, self.current_state, "CURRENT"))):
            pane.set_crosshair_visible(False)
            pane.activated.connect(self.set_active)
            pane.activated.connect(lambda p: p.graphics.setFocus())
            pane.hovered.connect(self.hovered)
            self._grid.addWidget(pane, 1, column)
            info = state.source.image.info
            self.titles[column].setText(f"<b>{word}</b>  {info.study_date or 'date unknown'}  "
                                        f"{info.study_description or state.source.image.description}")
        self._grid.setRowStretch(1, 1)
        self.set_active(self.current_pane)

    def set_active(self, pane: SliceView) -> None:
        if pane is self.active:
            return
        if self.active is not None:
            self.active.set_active(False)
        self.active = pane
        pane.set_active(True)
        self.activePaneChanged.emit(pane)

    def _follow(self, moved: ViewState, other: ViewState) -> None:
        """Scroll ``other`` to the slice at ``moved``'s table position."""
        if self._linking or not self.linked or moved.source is None or other.source is None:
            return
        here, there = head_foot_positions(moved.source.image), head_foot_positions(other.source.image)
        if here is None or there is None:
            return
        sign = 1.0 if moved is self.current_state else -1.0
        target = nearest_slice(there, here[moved.cursor[0]] + sign * self.offset)
        self._linking = True
        try:
            other.set_cursor((target, *other.cursor[1:]))
        finally:
            self._linking = False

    def _same_window(self, moved: ViewState, other: ViewState) -> None:
        if self._linking or moved.source is None or other.source is None or not (moved.source.is_ct and other.source.is_ct):
            return
        self._linking = True
        try:
            other.set_window(moved.window)
        finally:
            self._linking = False

    def _on_current_image(self) -> None:
        """Another current study: the prior no longer belongs beside it."""
        if self.prior_state.source is not None:
            self.set_prior(None)
