"""The ``consumer`` component of the health check, from the consumer's status."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from service.json_forms import iso_instant
from service.monitoring import ConsumerStatus


class ConsumerDown(RuntimeError):
    """The consumer is not consuming; ``details`` says why, for the health check."""

    def __init__(self, message: str, details: Mapping[str, object]) -> None:
        super().__init__(message)
        self.details = dict(details)


class ConsumerHealthProbe:
    """The ``consumer`` component of the health check.

    UP while the consumer thread runs, its client works and no message is being retried;
    DOWN (it raises) while a message is retried, while the client is being replaced, or
    when the thread is gone. The message says the last error, when, and how many times the
    message in hand failed; ``ConsumerDown.details`` has the same as fields.
    """

    def __init__(self, status: Callable[[], ConsumerStatus]) -> None:
        self._status = status

    def __call__(self, timeout: float) -> dict[str, object]:
        """Return the consumer's details; raise ``ConsumerDown`` if it is not consuming."""
        status = self._status()
        details = health_details(status)
        if status.healthy:
            return details
        if not status.running:
            reason = "the order.cancelled consumer is not running"
        elif status.retrying is not None:
            retrying = status.retrying
            reason = (
                f"retrying the message at {retrying.position} (orderId={retrying.order_id}): "
                f"{retrying.failures} failed attempt(s) since {iso_instant(retrying.since)}"
            )
        else:
            reason = f"the consumer's client failed and is being replaced: {status.client_error}"
        last = status.last_error_at
        when = f" at {iso_instant(last)}" if last is not None else ""
        raise ConsumerDown(f"{reason}; lastError{when}: {status.last_error}", details)


def health_details(status: ConsumerStatus) -> dict[str, object]:
    """Return the consumer's state as health details (camelCase, JSON-ready)."""
    retrying = status.retrying
    return {
        "running": status.running,
        "processed": status.processed,
        "duplicates": status.duplicates,
        "skipped": status.skipped,
        "retried": status.retried,
        "commitFailures": status.commit_failures,
        "clientRestarts": status.client_restarts,
        "retrying": str(retrying.position) if retrying is not None else None,
        "retryingOrderId": str(retrying.order_id) if retrying and retrying.order_id else None,
        "retryingFailures": retrying.failures if retrying is not None else 0,
        "retryingSince": iso_instant(retrying.since) if retrying is not None else None,
        "lastError": status.last_error,
        "lastErrorAt": iso_instant(status.last_error_at) if status.last_error_at else None,
        "lag": sum(status.lag.values()),
        "prunedProcessedEvents": status.pruned,
    }
