"""The one bounded-polling helper of the stack, the tests, the suite's libraries and bench.

Waiting is polling with a limit, never a bare sleep: every caller names what it waits for,
so a timeout reads as a sentence. Built on tenacity, the retry library cosmicpython uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import tenacity

T = TypeVar("T")


class WaitTimedOut(TimeoutError):
    """Raise when what a caller waited for did not happen within its limit.

    Attributes:
        last: The last value the check returned (falsy), or None if it raised.
    """

    def __init__(self, message: str, last: object = None) -> None:
        super().__init__(message)
        self.last = last


def wait_until(
    check: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``check`` until it returns something truthy, and return that.

    Args:
        check: Called at once, then every ``interval`` seconds.
        timeout: Seconds after which the wait gives up.
        what: What is awaited, for the error ("the service answers UP").
        interval: Seconds between calls.
        ignoring: Exceptions of ``check`` that count as "not yet" (a refused connection);
            any other exception ends the wait at once.

    Returns:
        The first truthy value of ``check``.

    Raises:
        WaitTimedOut: ``check`` gave nothing truthy within ``timeout``; the message names
            ``what`` and, if the last call raised one of ``ignoring``, that error.
    """
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(timeout),
        wait=tenacity.wait_fixed(interval),
        retry=tenacity.retry_if_not_result(bool) | tenacity.retry_if_exception_type(ignoring),
        reraise=False,
    )
    try:
        return retrying(check)
    except tenacity.RetryError as ex:
        attempt = ex.last_attempt
        error = attempt.exception()
        detail = f" (last: {type(error).__name__}: {error})" if error is not None else ""
        last = None if error is not None else attempt.result()
        raise WaitTimedOut(f"{what} did not happen within {timeout:g} s{detail}", last) from None


def poll_until(condition: Callable[[], bool], *, timeout: float, interval: float = 0.02) -> bool:
    """Tell whether ``condition`` comes to hold within ``timeout`` seconds.

    The yes/no form of ``wait_until``, for callers that act on a timeout themselves (a
    start that kills what it spawned and raises its own error).
    """
    try:
        wait_until(condition, timeout=timeout, interval=interval, what="the condition")
    except WaitTimedOut:
        return False
    return True
