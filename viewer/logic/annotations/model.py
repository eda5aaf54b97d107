"""A reader's annotations on one series, with undo and redo. No Qt here.

An annotation lies on one slice of one pane plane ("axial", "coronal", "sagittal" or "projection" for
a radiograph); its points are pixel coordinates (column, row) on that plane's slice as the pane shows
it, where pixel (r, c) covers [c, c + 1) x [r, r + 1), so it does not depend on the pixel spacing.
Annotations are frozen: moving one replaces it by a copy with the same ``uid``. Every change goes
through ``AnnotationList``, which keeps the undo and redo stacks and tells its listeners.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

Point = tuple[float, float]

# kind -> how many points make it (0: any number, a traced outline)
POINT_COUNTS: dict[str, int] = {
    "length": 2, "angle": 3, "ellipse": 2, "rectangle": 2, "freehand": 0, "arrow": 2, "text": 1, "point": 1,
}
KINDS: tuple[str, ...] = tuple(POINT_COUNTS)
ROI_KINDS = ("ellipse", "rectangle", "freehand")


@dataclass(frozen=True)
class Annotation:
    """``points``: length and arrow (tail, head), angle (first arm end, vertex, second arm end), ellipse and
    rectangle (two opposite corners of the bounding box), freehand (the outline, closed), text and point (one)."""

    uid: int
    kind: str
    plane: str
    slice_index: int
    points: tuple[Point, ...]
    text: str = ""

    def __post_init__(self) -> None:
        if self.kind not in POINT_COUNTS:
            raise ValueError(f"unknown annotation {self.kind!r}; one of {', '.join(KINDS)}")
        wanted = POINT_COUNTS[self.kind]
        if (wanted and len(self.points) != wanted) or (not wanted and len(self.points) < 3):
            raise ValueError(f"a {self.kind} needs {wanted or 'at least 3'} points, got {len(self.points)}")
        object.__setattr__(self, "points", tuple((float(x), float(y)) for x, y in self.points))

    def moved_to(self, points: Iterable[Point]) -> "Annotation":
        return dataclasses.replace(self, points=tuple(points))

    def to_json(self) -> dict:
        return {"uid": self.uid, "kind": self.kind, "plane": self.plane, "slice_index": self.slice_index,
                "points": [list(p) for p in self.points], "text": self.text}

    @classmethod
    def from_json(cls, item: dict) -> "Annotation":
        return cls(int(item["uid"]), str(item["kind"]), str(item["plane"]), int(item["slice_index"]),
                   tuple((float(x), float(y)) for x, y in item["points"]), str(item.get("text", "")))


@dataclass(frozen=True)
class AnnotationEvent:
    """``kind`` "added"/"removed"/"changed" for one annotation (``old`` for "changed"), "reset" for all,
    "selected" when another one (or none) is selected."""

    kind: Literal["added", "removed", "changed", "reset", "selected"]
    annotation: Annotation | None = None
    old: Annotation | None = None


# One undoable step: the annotations it took away and the ones it put in their place.
_Step = tuple[tuple[Annotation, ...], tuple[Annotation, ...]]
Listener = Callable[[AnnotationEvent], None]


class AnnotationList:
    """The annotations of the open series in drawing order, with undo/redo of every change, and the one
    selected (what Del deletes; selecting is not a change, so it is not undone)."""

    def __init__(self) -> None:
        self.selected: int | None = None
        self._items: dict[int, Annotation] = {}
        self._undo: list[_Step] = []
        self._redo: list[_Step] = []
        self._listeners: list[Listener] = []
        self._next_uid = 1

    def connect(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` on every change; returns the function that disconnects it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def new_uid(self) -> int:
        uid, self._next_uid = self._next_uid, self._next_uid + 1
        return uid

    def reset(self, annotations: Iterable[Annotation] = ()) -> None:
        """Another series: these annotations (e.g. read back from the store), no undo history."""
        self._items = {a.uid: a for a in annotations}
        self.selected = None
        self._next_uid = max(self._items, default=0) + 1
        self._undo.clear()
        self._redo.clear()
        self._emit(AnnotationEvent("reset"))

    def add(self, annotation: Annotation) -> Annotation:
        if annotation.uid in self._items:
            raise ValueError(f"annotation {annotation.uid} already exists")
        self._do(((), (annotation,)))
        return annotation

    def remove(self, uid: int) -> None:
        self._do(((self._items[uid],), ()))

    def replace(self, annotation: Annotation) -> None:
        """Put ``annotation`` in place of the one with its uid (moved, edited)."""
        old = self._items[annotation.uid]
        if old != annotation:
            self._do(((old,), (annotation,)))

    def clear(self) -> None:
        if self._items:
            self._do((tuple(self._items.values()), ()))

    def select(self, uid: int | None) -> None:
        if uid is not None and uid not in self._items:
            raise KeyError(uid)
        if uid != self.selected:
            self.selected = uid
            self._emit(AnnotationEvent("selected", self._items.get(uid) if uid is not None else None))

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> bool:
        if not self._undo:
            return False
        taken, put = self._undo.pop()
        self._apply(put, taken)
        self._redo.append((taken, put))
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        taken, put = self._redo.pop()
        self._apply(taken, put)
        self._undo.append((taken, put))
        return True

    def on_slice(self, plane: str, slice_index: int) -> list[Annotation]:
        return [a for a in self._items.values() if a.plane == plane and a.slice_index == slice_index]

    def get(self, uid: int) -> Annotation | None:
        return self._items.get(uid)

    def __iter__(self) -> Iterator[Annotation]:
        return iter(tuple(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)

    def _do(self, step: _Step) -> None:
        self._apply(*step)
        self._undo.append(step)
        self._redo.clear()

    def _apply(self, taken: tuple[Annotation, ...], put: tuple[Annotation, ...]) -> None:
        put_uids = {a.uid for a in put}
        for annotation in taken:
            del self._items[annotation.uid]
            if annotation.uid not in put_uids:
                if annotation.uid == self.selected:
                    self.selected = None
                self._emit(AnnotationEvent("removed", annotation))
        olds = {a.uid: a for a in taken}
        for annotation in put:
            self._items[annotation.uid] = annotation
            self._next_uid = max(self._next_uid, annotation.uid + 1)
            old = olds.get(annotation.uid)
            self._emit(AnnotationEvent("changed", annotation, old) if old else AnnotationEvent("added", annotation))

    def _emit(self, event: AnnotationEvent) -> None:
        for listener in tuple(self._listeners):
            listener(event)
