"""A window's annotations over time: read back when a series opens, saved as they change, as records.

The list itself lives on the window's ``ViewState`` (every pane draws from it); this object keeps it in
the sidecar store (``viewer.logic.annotations.store``) under the open series, together with the window and
inversion last used on it, so reopening a series brings back both. Saving waits for a pause (a
window drag changes the window many times a second), and is done before another series opens.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from inference.measurements import Measurement
from viewer.logic.annotations.measuring import context_for, measurement, plane_of
from viewer.logic.annotations.model import Annotation, AnnotationEvent
from viewer.logic.annotations.store import SeriesNotes, SidecarStore, series_key
from viewer.view_state import ViewState

SAVE_DELAY_MS = 400


class AnnotationSession(QObject):
    changed = Signal()  # an annotation was added, removed, moved, or the series changed

    def __init__(self, state: ViewState, store: SidecarStore | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.annotations = state.annotations
        self.store = store if store is not None else SidecarStore()
        self.key: str | None = None
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.save)
        self._restoring = False
        self._window_touched = False
        self._pending: tuple[str, SeriesNotes] | None = None
        state.imageChanged.connect(self._on_image)
        state.windowChanged.connect(self._on_window)
        self.disconnect = self.annotations.connect(self._on_event)

    # --- keeping ---------------------------------------------------------------------------------

    def _on_image(self) -> None:
        self.save()  # what is pending belongs to the series being left (its snapshot: the list is reset by now)
        self._window_touched = False
        source = self.state.source
        self.key = series_key(source.image) if source is not None else None
        if self.key is None:
            return
        notes = self.store.read(self.key)
        self._restoring = True
        try:
            self.annotations.reset(notes.annotations)
            if notes.window is not None:
                self.state.set_window(notes.window)
            if notes.invert is not None and notes.invert != self.state.invert:
                self.state.set_invert(notes.invert)
        finally:
            self._restoring = False
        self.changed.emit()

    def _on_window(self) -> None:
        if not self._restoring and self.key is not None:
            self._window_touched = True
            self._snapshot()

    def _on_event(self, event: AnnotationEvent) -> None:
        if event.kind in ("added", "removed", "changed") and self.key is not None:
            self._snapshot()
            self.changed.emit()

    def _snapshot(self) -> None:
        """What to save for the open series, taken now: by the time another series opens, the list and the
        window already belong to it."""
        window = self.state.window if self._window_touched else None
        self._pending = (self.key, SeriesNotes(tuple(self.annotations), window, self.state.invert if window else None))
        self._save_timer.start()

    def save(self) -> None:
        """Write what changed on the open series (annotations, and the window once the reader changed it) now."""
        self._save_timer.stop()
        if self._pending is None:
            return
        (key, notes), self._pending = self._pending, None
        if notes.window is None:  # the window was not touched in this session: keep the one saved before
            kept = self.store.read(key)
            notes = SeriesNotes(notes.annotations, kept.window, kept.invert)
        self.store.write(key, notes)

    # --- reading and editing ---------------------------------------------------------------------

    def records(self) -> list[Measurement]:
        """Every annotation of the open series as the report, the JSON and the DICOM SR take it."""
        source = self.state.source
        if source is None:
            return []
        return [measurement(a, context_for(source, a.plane, a.slice_index)) for a in self.annotations]

    def record(self, annotation: Annotation) -> Measurement:
        return measurement(annotation, context_for(self.state.source, annotation.plane, annotation.slice_index))

    def go_to(self, annotation: Annotation) -> None:
        """Show the slice an annotation lies on (in every pane of its plane) and select it."""
        source = self.state.source
        if source is None:
            return
        plane = plane_of(source, annotation.plane)
        _, row, col = plane.from_array_index(self.state.cursor, source.shape)
        self.state.set_cursor(plane.to_array_index(annotation.slice_index, row, col, source.shape))
        self.annotations.select(annotation.uid)

    def delete_selected(self) -> bool:
        if self.annotations.selected is None:
            return False
        self.annotations.remove(self.annotations.selected)
        return True
