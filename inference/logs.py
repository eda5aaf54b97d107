"""Where the command line's log goes: warnings on stderr, more with ``--verbose``, everything in ``--log FILE``.

Log lines name files, models and timings, never what is inside a study. Third-party chatter (pydicom
noting each odd header value it tolerates, also as Python warnings) is kept for ``--verbose`` and
the log file: the loader already reports every problem that matters as a reason or a warning.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CHATTY = ("pydicom", "py.warnings", "PIL")


def configure_logging(verbose: int = 0, log_file: Path | None = None) -> None:
    """stderr at WARNING (INFO with -v, DEBUG with -vv); ``log_file`` gets DEBUG whatever the verbosity."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "lunglens", False)]:  # from an earlier call
        root.removeHandler(handler)
        handler.close()
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG)
    console.setFormatter(logging.Formatter("lunglens: %(levelname)s %(name)s: %(message)s"))
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setLevel(logging.DEBUG)
        to_file.setFormatter(logging.Formatter(FORMAT))
        handlers.append(to_file)
    for handler in handlers:
        handler.lunglens = True
        root.addHandler(handler)
    root.setLevel(min(h.level for h in handlers))
    logging.captureWarnings(True)
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose or log_file else logging.ERROR)
    if not verbose:  # the console keeps quiet about them even when the file records them
        console.addFilter(lambda record: not record.name.startswith(CHATTY))
