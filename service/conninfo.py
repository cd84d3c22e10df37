"""libpq connection strings made safe to show: every secret replaced by ``***``.

libpq takes a connection string in two forms, and a password can sit in three places:

- a URI's user-info: ``postgresql://user:secret@host/db``;
- a URI's query: ``postgresql://host/db?user=u&password=secret`` (keys may be
  percent-encoded, several may be given);
- ``key=value`` pairs: ``host=h password=secret``, ``password = secret``,
  ``password='a \\'quoted\\' secret'``.

:func:`mask_password` hides all three, and ``sslpassword`` (the client key's passphrase).
A string libpq would refuse is masked more, not less: the start error that shows it is most
likely caused by a password whose special characters were not encoded. libpq's own error
for such a string quotes pieces of it; :func:`scrub` removes those from a message.

This module imports nothing but the standard library, so the embedded stack (a tool beside
the service) shows database addresses with the same function.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

MASK = "***"

# libpq's keywords whose values are secrets (libpq matches keywords exactly; case is
# ignored here so that a misspelt "PASSWORD=" is hidden too).
SECRET_KEYS = frozenset({"password", "sslpassword"})

_URI_PREFIX = re.compile(r"(?i)^\s*postgres(?:ql)?://")
# libpq quotes the pieces of a connection string it names in an error: "…".
_QUOTED = re.compile(r'"([^"]*)"')
# Shorter overlaps between a quoted piece and a secret are left: they would hide every
# piece that merely shares a letter with the password.
_MIN_OVERLAP = 2

Span = tuple[int, int]


def mask_password(conninfo: str) -> str:
    """Return ``conninfo`` with every password replaced by ``***``, in any form libpq takes.

    Args:
        conninfo: A ``postgresql://`` (or ``postgres://``) URI, or ``key=value`` pairs.

    Returns:
        The same text with the password of the user-info, of ``password=`` and of
        ``sslpassword=`` (URI query or ``key=value``) hidden; the rest unchanged.
    """
    shown, last = [], 0
    for start, end in secret_spans(conninfo):
        shown += [conninfo[last:start], MASK]
        last = end
    shown.append(conninfo[last:])
    return "".join(shown)


def scrub(message: str, conninfo: str) -> str:
    """Return ``message`` (an error about ``conninfo``) without any piece of its secrets.

    libpq names what it could not parse, and with a password that holds an unencoded
    ``@``, ``/`` or blank that piece is part of the password: ``invalid integer value "p"
    for connection option "port"``. libpq quotes every piece it names; each quoted piece
    that overlaps a secret becomes ``"***"`` (a user named like its password too).

    Args:
        message: Text that may quote parts of ``conninfo``, such as a driver's error.
        conninfo: The connection string the message is about.

    Returns:
        The message, safe to log.
    """
    secrets = set()
    for start, end in secret_spans(conninfo):
        secret = conninfo[start:end]
        secrets.update(s for s in (secret, unquote(secret), secret.strip("'")) if s)

    def quoted(match: re.Match[str]) -> str:
        piece = match.group(1)
        return f'"{MASK}"' if any(_overlaps(piece, s) for s in secrets) else match.group(0)

    return _QUOTED.sub(quoted, message)


def secret_spans(conninfo: str) -> list[Span]:
    """Return the ``(start, end)`` ranges of ``conninfo`` that hold secrets, in order."""
    prefix = _URI_PREFIX.match(conninfo)
    if prefix is not None:
        return _uri_spans(conninfo, prefix.end())
    return _key_value_spans(conninfo)


def _overlaps(piece: str, secret: str) -> bool:
    if piece and (piece in secret or secret in piece):
        return True
    # A password split by libpq at an unencoded "@" or "/": its tail starts the piece.
    return any(
        piece.startswith(secret[i:]) or piece.endswith(secret[: len(secret) - i])
        for i in range(len(secret) - _MIN_OVERLAP + 1)
    )


def _uri_spans(uri: str, rest_start: int) -> list[Span]:
    """Secrets of a URI: the user-info's password and the values of secret query keys."""
    spans: list[Span] = []
    userinfo_end = _userinfo_end(uri, rest_start)
    location_start = rest_start
    if userinfo_end is not None:
        colon = uri.find(":", rest_start, userinfo_end)
        if colon >= 0:
            spans.append((colon + 1, userinfo_end))
        location_start = userinfo_end + 1
    question = uri.find("?", location_start)
    if question >= 0:
        spans += _query_spans(uri, question + 1)
    return spans


def _userinfo_end(uri: str, rest_start: int) -> int | None:
    """Return the index of the ``@`` that ends the user-info, or None if there is none.

    In a well-formed URI the user-info ends at the last ``@`` before the first ``/`` or ``?``
    (a password may hold an unencoded ``@``: libpq would fail, the mask still covers it).
    An ``@`` further on, in the path or in a query part that is not ``key=value``, means
    the password held an unencoded ``/`` or ``?``: the user-info then ends at that ``@``.
    """
    stops = [i for i in (uri.find("/", rest_start), uri.find("?", rest_start)) if i >= 0]
    end = uri.rfind("@", rest_start, min(stops, default=len(uri)))
    question = uri.find("?", rest_start)
    location_end = len(uri) if question < 0 else question
    end = max(end, uri.rfind("@", rest_start, location_end))
    offset = location_end + 1
    for part in uri[offset:].split("&") if question >= 0 else ():
        if "=" not in part and "@" in part:
            end = max(end, offset + part.rfind("@"))
        offset += len(part) + 1
    return end if end >= 0 else None


def _query_spans(uri: str, start: int) -> list[Span]:
    """Values of secret keys in ``key=value&...`` (keys may be percent-encoded)."""
    spans = []
    offset = start
    for part in uri[start:].split("&"):
        key, equals, _value = part.partition("=")
        if equals and unquote(key).strip().lower() in SECRET_KEYS:
            spans.append((offset + len(key) + 1, offset + len(part)))
        offset += len(part) + 1
    return spans


def _key_value_spans(conninfo: str) -> list[Span]:
    """Secrets of libpq's ``key = value`` form, read as libpq reads it.

    A value is a run of non-blank characters (a backslash escapes the next one) or a
    single-quoted string with ``\\'`` and ``\\\\`` escapes. Where the text stops making
    sense (a keyword without ``=``, an unterminated quote) the rest is a secret.
    """
    spans: list[Span] = []
    pos, size = 0, len(conninfo)
    while (pos := _skip_blanks(conninfo, pos)) < size:
        key_end = pos
        while key_end < size and conninfo[key_end] != "=" and not conninfo[key_end].isspace():
            key_end += 1
        equals = _skip_blanks(conninfo, key_end)
        if equals >= size or conninfo[equals] != "=":
            # Not "key = value": whatever follows may be part of a password.
            spans.append((pos, size))
            break
        value_start = _skip_blanks(conninfo, equals + 1)
        value_end = _value_end(conninfo, value_start)
        if value_end is None:
            spans.append((value_start, size))
            break
        if conninfo[pos:key_end].lower() in SECRET_KEYS:
            spans.append((value_start, value_end))
        pos = value_end
    return spans


def _skip_blanks(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _value_end(text: str, pos: int) -> int | None:
    """Return where the value starting at ``pos`` ends, or None if its quote never closes."""
    size = len(text)
    if pos < size and text[pos] == "'":
        pos += 1
        while pos < size:
            if text[pos] == "\\":
                pos += 2
            elif text[pos] == "'":
                return pos + 1
            else:
                pos += 1
        return None
    while pos < size and not text[pos].isspace():
        pos += 2 if text[pos] == "\\" else 1
    return min(pos, size)
