"""Work off the GUI thread: one-off functions on Qt's thread pool, long workers, and the plumbing around them.

For one-off work that would stall the interface (an overview projection, a DICOM header read):
the function must not touch widgets; ``on_done(result)`` or ``on_error(message)`` runs on the GUI
thread. A task whose receiver has been deleted in the meantime is dropped silently.
Long work (loading, analysis, a PACS retrieve, a batch) is a :class:`Worker`: one thread each, with
the progress, cancel and failure signalling they all share. ``connect_while_current`` drops what a
superseded worker still sends, and ``wait_for`` lets headless runs and tests wait for one without a
busy loop.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable

from PySide6.QtCore import QEventLoop, QObject, QRunnable, QThread, QThreadPool, QTimer, Signal, SignalInstance

from inference.jobs import Cancelled

PROGRESS_STEPS = 1000  # a job's fraction travels to a progress bar as steps of this many


class Worker(QThread):
    """Long work on a thread of its own, speaking the ``inference.jobs`` vocabulary to the core.

    A subclass implements ``work()``, which runs in the thread and hands ``cancel_event`` to the core
    as its cancel check, and adds the signals of its own results. What every worker shares:

    - ``progress(done, total, stage)``, a progress bar's terms: counted work as it is, a job's
      fraction through ``report_fraction`` as ``PROGRESS_STEPS`` steps;
    - ``cancel()`` from the GUI; the core then raises ``jobs.Cancelled`` (the loader's and the
      retrieve's cancels are kinds of it): ``cancelled`` turns True and ``stopped(message)`` says
      how far it got; nothing else is sent;
    - ``failed(message)``: the sentence of an ``expected`` failure as it is, any other exception as
      ``unexpected(exc)`` words it: a worker never dies silently;
    - QThread's ``finished`` last, whatever happened.
    """

    progress = Signal(int, int, str)  # done, total, stage
    failed = Signal(str)
    stopped = Signal(str)  # cancelled, in the core's words

    expected: tuple[type[Exception], ...] = ()  # failures whose message a user can act on

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cancel_event = threading.Event()
        self.cancelled = False

    def cancel(self) -> None:
        self.cancel_event.set()

    def work(self) -> None:
        raise NotImplementedError

    def report_count(self, done: int, total: int, stage: str = "") -> None:
        """A ``jobs.CountProgress`` (with an optional stage) sent to the GUI."""
        self.progress.emit(int(done), int(total), str(stage))

    def report_fraction(self, fraction: float, stage: str) -> None:
        """A ``jobs.ProgressCallback`` sent to the GUI."""
        self.progress.emit(round(float(fraction) * PROGRESS_STEPS), PROGRESS_STEPS, str(stage))

    @staticmethod
    def unexpected(exc: Exception) -> str:
        return f"{type(exc).__name__}: {exc}"

    def run(self) -> None:
        try:
            self.work()
        except Cancelled as exc:
            self.cancelled = True
            self.stopped.emit(str(exc))
        except self.expected as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # never let a worker die silently: the window shows it
            self.failed.emit(self.unexpected(exc))


class _Relay(QObject):
    done = Signal(object)
    failed = Signal(str)


class _Task(QRunnable):
    def __init__(self, function: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.function, self.relay = function, relay

    def run(self) -> None:
        try:
            result = self.function()
        except Exception as exc:  # reported to the GUI, never raised in a pool thread
            self._deliver(self.relay.failed, f"{type(exc).__name__}: {exc}")
            return
        self._deliver(self.relay.done, result)

    @staticmethod
    def _deliver(signal, value) -> None:
        try:
            signal.emit(value)
        except RuntimeError:  # the receiver (and its relay) was deleted while we worked
            pass


def run_in_background(
    function: Callable[[], Any],
    on_done: Callable[[Any], None],
    receiver: QObject,
    on_error: Callable[[str], None] | None = None,
) -> None:
    """Call ``function()`` on the global thread pool; deliver the result to ``receiver``'s thread."""
    relay = _Relay()
    relay.moveToThread(receiver.thread())
    relay.setParent(receiver)
    relay.done.connect(on_done)
    relay.done.connect(relay.deleteLater)
    relay.failed.connect(relay.deleteLater)
    if on_error is not None:
        relay.failed.connect(on_error)
    QThreadPool.globalInstance().start(_Task(function, relay))


def as_outcome(function: Callable[[], Any], expected: tuple[type[Exception], ...]) -> Callable[[], tuple[bool, Any]]:
    """``function`` made to return (True, value), or (False, message) for an ``expected`` failure: a
    message the user can act on, shown as it is (other exceptions still reach ``on_error``)."""
    def run() -> tuple[bool, Any]:
        try:
            return True, function()
        except expected as exc:
            return False, str(exc)
    return run


def _unless_superseded(slot: Callable, is_current: Callable[[], bool]) -> Callable:
    return lambda *args: slot(*args) if is_current() else None


def connect_while_current(connections: Iterable[tuple[SignalInstance, Callable]], is_current: Callable[[], bool]) -> None:
    """Connect each (signal, slot) so the slot runs only while ``is_current()``: results a cancelled or
    superseded worker had already queued never land on what the user opened since."""
    for signal, slot in connections:
        signal.connect(_unless_superseded(slot, is_current))


def wait_for(signal: SignalInstance, done: Callable[[], bool], timeout_s: float) -> bool:
    """Process events until ``signal`` fires or ``timeout_s`` passes; returns ``done()``."""
    if done():
        return True
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    signal.disconnect(loop.quit)
    return done()
