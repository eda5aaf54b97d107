"""Run a plain function on Qt's thread pool and get its result back on the GUI thread.

For one-off work that would stall the interface (an overview projection, a DICOM header read):
the function must not touch widgets; ``on_done(result)`` or ``on_error(message)`` runs on the GUI
thread. A task whose receiver has been deleted in the meantime is dropped silently.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


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
