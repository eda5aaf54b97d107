"""How a long load reports progress, is stopped, and fails.

Loading runs off the GUI thread: the caller passes ``progress(done, total)`` to drive a progress bar
and ``cancel() -> bool`` to stop early. A failure that concerns one series or one file is a
``LoadError`` carrying a sentence a user can act on; cancelling raises ``LoadCancelled``.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]


class LoadError(Exception):
    """A file or series could not be loaded; ``str(error)`` is the user-facing reason."""


class LoadCancelled(Exception):
    """The caller's ``cancel()`` returned True; work done so far is dropped."""


def check_cancelled(cancel: Cancel | None) -> None:
    if cancel is not None and cancel():
        raise LoadCancelled("loading was cancelled")


def report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)
