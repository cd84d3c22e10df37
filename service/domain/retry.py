"""How long to wait before trying again: one back-off rule for the relay and the consumer."""

from __future__ import annotations

import random
from collections.abc import Callable

# 2**62 steps are far beyond any cap; a larger exponent would only overflow the float.
_MAX_DOUBLINGS = 62


class RetryDelay:
    """Exponential back-off with equal jitter: step ``initial * 2**(n-1)``, capped at ``maximum``.

    The wait after the n-th failure in a row is drawn between half the step and the step:
    never shorter than half (a dependency that is down is not hammered), never longer than
    ``maximum`` (one that is back is found again within that bound), and spread, so that
    several instances or rows that failed together do not retry in lockstep.
    """

    def __init__(
        self, initial: float, maximum: float, *, draw: Callable[[], float] = random.random
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self._draw = draw

    def __call__(self, failures: int) -> float:
        """Return the seconds to wait after ``failures`` failures in a row (at least 1)."""
        doublings = min(max(0, failures - 1), _MAX_DOUBLINGS)
        step = min(self.maximum, self.initial * 2**doublings)
        return step / 2 + self._draw() * step / 2


class Backoff:
    """The failures in a row of one loop, and the wait after each (see ``RetryDelay``)."""

    def __init__(
        self, initial: float, maximum: float, *, draw: Callable[[], float] = random.random
    ) -> None:
        self._delay = RetryDelay(initial, maximum, draw=draw)
        self.failures = 0

    def next_delay(self) -> float:
        """Count one more failure and return how long to wait before the next attempt."""
        self.failures += 1
        return self._delay(self.failures)

    def reset(self) -> None:
        """Forget the failures: the next one waits the shortest step again."""
        self.failures = 0
