"""What the background workers show to the health check and the metrics: plain values.

The outbox relay, the ``order.cancelled`` consumer and the outbox backlog query are
adapters of different technologies; the health probes and the Prometheus collectors read
their state. These values are the contract between them, so that no adapter imports
another one. Imports only the standard library.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True)
class OutboxBacklog:
    """The pending rows of the outbox: how many, the oldest, and the stuck ones.

    A row is stuck once it failed ``stuck_after`` times: it is still retried, never deleted,
    and shown here so that someone looks at it.
    """

    pending: int
    oldest_created_at: datetime | None
    stuck: int = 0
    oldest_stuck_order_id: str | None = None
    oldest_stuck_error: str | None = None

    def pending_age(self, now: datetime) -> float:
        """Return the age in seconds of the oldest pending row; 0 when nothing is pending."""
        if self.oldest_created_at is None:
            return 0.0
        return round(max(0.0, (now - self.oldest_created_at).total_seconds()), 3)


class RelayObserver:
    """Hears what the relay did, for metrics; this base class ignores it."""

    def published(self, delays: Sequence[float]) -> None:
        """Rows confirmed by the broker; ``delays`` from each row's creation, in seconds."""

    def failed(self, count: int) -> None:
        """Rows whose publish was not confirmed in one pass (they stay pending)."""


@dataclass(frozen=True)
class RelayStatus:
    """The relay as the health check sees it."""

    running: bool
    consecutive_failures: int
    last_error: str | None
    last_error_at: datetime | None
    last_published_at: datetime | None
    published: int
    # Passes completed since the start, failed ones included.
    passes: int


@dataclass(frozen=True)
class Position:
    """Where a message is: topic, partition, offset."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(frozen=True)
class RetryState:
    """A message whose handling failed and is being retried."""

    position: Position
    order_id: UUID | None
    failures: int
    since: datetime


@dataclass(frozen=True)
class ConsumerStatus:
    """The consumer as the health check and the metrics see it."""

    running: bool
    processed: int
    duplicates: int
    skipped: int
    # Failed attempts at a message, each followed by another one after a back-off.
    retried: int
    commit_failures: int
    client_restarts: int
    pruned: int
    last_error: str | None
    last_error_at: datetime | None
    # The message retried the longest, while any is.
    retrying: RetryState | None
    # Set while the client is broken and about to be replaced; cleared by its next poll.
    client_error: str | None
    # Messages behind the end, per partition, as last read by the consumer thread.
    lag: Mapping[int, int] = field(default_factory=dict)
    # Polls answered by the client: it moves while the thread is not stuck.
    polls: int = 0

    @property
    def healthy(self) -> bool:
        """Tell whether the thread runs, its client works and no message is being retried."""
        return self.running and self.retrying is None and self.client_error is None
