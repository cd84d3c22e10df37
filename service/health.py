"""The health of the service's dependencies, each probe bounded in time."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

# A probe asks one dependency, gives up after ``timeout`` seconds by itself if it can,
# and returns details or raises.
Probe = Callable[[float], Mapping[str, object]]


@dataclass(frozen=True)
class ComponentStatus:
    """The outcome of one probe."""

    up: bool
    details: Mapping[str, object] = field(default_factory=dict)


class HealthCheck:
    """Runs every probe in parallel and answers within ``deadline`` seconds.

    A probe that hangs (a paused server) is reported DOWN at the deadline; its thread
    finishes on its own later, bounded by the probe's own timeout.
    """

    def __init__(self, probes: Mapping[str, Probe], deadline: float = 1.5) -> None:
        self._probes = dict(probes)
        self._deadline = deadline
        self._pool = ThreadPoolExecutor(
            max_workers=4 * max(1, len(probes)), thread_name_prefix="health"
        )

    def __call__(self) -> dict[str, ComponentStatus]:
        """Return the status of every component."""
        futures = {
            name: self._pool.submit(probe, self._deadline * 0.8)
            for name, probe in self._probes.items()
        }
        # One deadline for all: probes run in parallel, so hung ones cost it once, not each.
        wait(futures.values(), timeout=self._deadline)
        results = {}
        for name, future in futures.items():
            if not future.done():
                results[name] = ComponentStatus(
                    False, {"error": f"no answer within {self._deadline:g} s"}
                )
            elif future.exception() is not None:
                ex = future.exception()
                # A probe may say more than its message (the consumer: lastError, retries).
                details = {"error": str(ex).strip() or repr(ex), **getattr(ex, "details", {})}
                results[name] = ComponentStatus(False, details)
            else:
                results[name] = ComponentStatus(True, future.result())
        return results

    def close(self) -> None:
        """Stop the probe threads (without waiting for a hung one)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
