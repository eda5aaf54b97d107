"""How a long load reports progress, is stopped, and fails.

Loading runs off the GUI thread and speaks ``inference.jobs``: the caller passes a count progress
``progress(done, total)`` to drive a progress bar and a cancel check to stop early. A failure that
concerns one series or one file is a ``LoadError`` carrying a sentence a user can act on; cancelling
raises ``LoadCancelled``, a kind of ``jobs.Cancelled``.
"""

from __future__ import annotations

from inference.jobs import CancelCheck, Cancelled, CountProgress, cancel_requested


class LoadError(Exception):
    """A file or series could not be loaded; ``str(error)`` is the user-facing reason."""


class LoadCancelled(Cancelled):
    """The caller's cancel check said stop; work done so far is dropped."""


def check_cancelled(cancel: CancelCheck | None) -> None:
    if cancel_requested(cancel):
        raise LoadCancelled("loading was cancelled")


def report(progress: CountProgress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)
