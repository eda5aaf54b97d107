"""Progress and cancel for long work (loading, analysis, evaluation, a PACS retrieve): the one vocabulary.

Progress comes in two shapes: ``progress(fraction, stage)`` (:data:`ProgressCallback`) for work of
several stages, fraction in [0, 1] of the whole with a short stage text; ``progress(done, total)``
(:data:`CountProgress`) for work over items counted as they go (files scanned, slices decoded,
instances retrieved). Cancel is a :data:`CancelCheck` (any callable returning True, or a
``threading.Event``) looked at between units of work; cancelled work raises :class:`Cancelled` (the
loader's and the retrieve's own cancels are kinds of it) and leaves nothing half-written behind.
A :class:`Job` can be split into parts, each reporting over its own share of the whole range.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

ProgressCallback = Callable[[float, str], None]  # fraction of the whole, stage
CountProgress = Callable[[int, int], None]  # items done, items in all
CancelCheck = Callable[[], bool] | threading.Event


class Cancelled(Exception):
    """The user cancelled the job."""


def cancel_requested(cancel: CancelCheck | None) -> bool:
    """Whether ``cancel`` (a callable, an Event, or None for work that cannot be cancelled) says stop."""
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


@dataclass(frozen=True)
class Job:
    """Progress reporting over the sub-range [start, start + span] of the whole job, plus cancel."""

    progress: ProgressCallback | None = None
    cancel: CancelCheck | None = None
    start: float = 0.0
    span: float = 1.0

    def cancelled(self) -> bool:
        return cancel_requested(self.cancel)

    def check(self) -> None:
        if self.cancelled():
            raise Cancelled("cancelled by the user")

    def report(self, fraction: float, stage: str) -> None:
        """Check for cancel, then report ``fraction`` of this part as progress of the whole job."""
        self.check()
        if self.progress is not None:
            self.progress(self.start + self.span * min(max(fraction, 0.0), 1.0), stage)

    def part(self, start: float, end: float) -> "Job":
        """The share [start, end] (fractions of this job) as a job of its own."""
        return Job(self.progress, self.cancel, self.start + self.span * start, self.span * (end - start))

    def counting(self, stage: str) -> CountProgress:
        """This job as a ``progress(done, total)`` for counted work (a loader's files), reported as ``stage``."""
        return lambda done, total: self.report(done / max(total, 1), stage)


class StderrProgress:
    """``progress(fraction, stage)`` printed on stderr: one updating line on a terminal, else a line per stage."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last = ""

    def __call__(self, fraction: float, stage: str) -> None:
        head = stage.split(":")[0]
        if self.tty:
            self.stream.write(f"\r[{fraction:5.0%}] {stage[:70]:<70}")
            if fraction >= 1.0:
                self.stream.write("\n")
        elif head != self.last:
            self.stream.write(f"[{fraction:5.0%}] {head}\n")
        self.last = head
        self.stream.flush()
