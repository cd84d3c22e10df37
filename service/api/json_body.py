"""Read a JSON request body exactly and strictly, or say in one line what is wrong with it.

Falcon answers 400 "malformed JSON" for any ``ValueError`` its JSON handler raises, so every
problem found here is an :class:`InvalidJson` (a ``ValueError``) whose message the error map
shows to the client. Nothing a client sends may escape as another exception: that would be
a 500 with a traceback in the log.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from service.log_text import printable

# Integers up to 18 digits are Python ints; longer ones stay Decimals, so a 5000-digit
# literal costs no quadratic int conversion (and meets no 4300-digit limit) and is then
# rejected by the range check that names its field.
_INT_DIGITS = 18


class InvalidJson(ValueError):
    """The body is not JSON this API reads; the message says why."""


def loads_exact(text: str) -> object:
    """Parse ``text``: numbers with a fraction or exponent as exact ``Decimal``.

    Raises:
        InvalidJson: not JSON, ``NaN`` or ``Infinity``, a duplicate key in any object, a
            number whose exponent no ``Decimal`` holds, or nesting deeper than Python's
            recursion limit.
    """
    try:
        return json.loads(
            text,
            parse_float=_exact_number,
            parse_int=_integer,
            parse_constant=_no_constant,
            object_pairs_hook=_unique_keys,
        )
    except RecursionError:
        raise InvalidJson("the JSON body is nested too deeply") from None
    except json.JSONDecodeError as ex:
        raise InvalidJson(
            f"the body is not valid JSON: {ex.msg} at line {ex.lineno} column {ex.colno}"
        ) from None


def _exact_number(literal: str) -> Decimal:
    try:
        return Decimal(literal)
    except InvalidOperation:
        # decimal.InvalidOperation is an ArithmeticError, not a ValueError: it would be a 500.
        raise InvalidJson(
            f"the number {printable(literal, 40)} is out of range (its exponent is too large)"
        ) from None


def _integer(literal: str) -> int | Decimal:
    digits = len(literal) - literal.startswith("-")
    return int(literal) if digits <= _INT_DIGITS else Decimal(literal)


def _no_constant(name: str) -> object:
    raise InvalidJson(f"{name} is not a JSON number")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if not key.isascii() and _has_lone_surrogate(key):
            # "\ud800" is valid JSON syntax but no character: no field is named so.
            raise InvalidJson(f"the key {printable(key, 60)} holds a lone surrogate")
        if key in result:
            # Parsers disagree on which duplicate wins, so a body with one means two things.
            raise InvalidJson(f"the key {printable(key, 60)} appears twice in one object")
        result[key] = value
    return result


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
