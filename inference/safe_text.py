"""Text that came from a file or a file name, made safe to show a user.

A damaged file can put anything into a message: half a megabyte of header bytes swallowed by a
misparsed length, a patient's name, or a file name carrying terminal escape sequences. Reasons and
warnings are one printable line of bounded length, and what reaches a terminal has no control
characters, so a crafted name cannot move the cursor or rewrite what the user reads.
"""

from __future__ import annotations

import re
import unicodedata

MAX_REASON_CHARS = 240
# Values echoed from a header: numbers and the words a number parser accepts, nothing that could be a name.
_NUMBER_LIKE = re.compile(r"[-+0-9.eE ]{1,24}|[-+]?(nan|inf|infinity)", re.IGNORECASE)


def printable(text: str) -> str:
    """``text`` with control and format characters (ESC, NUL, bidi overrides) and undecodable bytes
    of a file name shown as '?'; newlines and tabs are kept."""
    return "".join(
        c if c in "\n\t" or not (unicodedata.category(c).startswith("C")) else "?"
        for c in text
    )


def one_line(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """A printable single line of at most ``limit`` characters (whitespace runs collapsed)."""
    line = " ".join(printable(text).split())
    return line if len(line) <= limit else line[: limit - 3].rstrip() + "..."


def error_summary(exc: BaseException) -> str:
    """What a parser or decoder said, when it is short and quotes nothing from the file (a quoted value
    can be any header text, the patient's name included); else only the kind of error."""
    text = str(exc)
    quoted = any(q in text for q in "'\"")
    return f"{type(exc).__name__}: {one_line(text)}" if text and len(text) <= 120 and not quoted else type(exc).__name__


def shown_value(value: object) -> str:
    """A header value as it may appear in a message: quoted when it is number-like, else not at all
    (a misparsed element can hold any text of the header, the patient's name included)."""
    text = str(value).strip()
    return repr(text) if _NUMBER_LIKE.fullmatch(text) else "(an unreadable value)"
