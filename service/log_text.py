"""Client text made safe for one log line: no newline or control character can forge another."""

from __future__ import annotations

_LIMIT = 200


def first_line(ex: BaseException) -> str:
    """Return the first line of an error's message (libpq's span several), or its type."""
    text = str(ex).strip()
    return text.splitlines()[0] if text else type(ex).__name__


def printable(text: object, limit: int = _LIMIT) -> str:
    """Return ``text`` quoted as a Python string literal, shortened to ``limit`` characters.

    ``repr`` escapes newlines, carriage returns, tabs, escape sequences and every other
    non-printable character, so text a client chose stays inside the line it is logged on,
    and the quotes show where it starts and ends.
    """
    value = str(text)
    if len(value) > limit:
        value = value[:limit] + "…"
    return repr(value)


def describe_error(error: BaseException) -> str:
    """Return the error's type and first line, short enough for health details."""
    kind = type(error).__name__
    message = first_line(error)
    return (kind if message == kind else f"{kind}: {message}")[:300]
