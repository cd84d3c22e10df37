"""The ports: what the use cases need from the outside world, as abstract classes."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Self
from uuid import UUID

from service.domain.events import OrderCreated
from service.domain.model import Order


@dataclass(frozen=True)
class RowCount:
    """What a count found, and the query that counted, with its parameters filled in."""

    rows: int
    query: str


class OrderRepository(abc.ABC):
    """Orders, stored inside the current unit of work's transaction."""

    @abc.abstractmethod
    def add(self, order: Order) -> bool:
        """Store a new order and its items; return False, storing nothing, if its key is taken.

        An order whose ``idempotency_key`` another order already holds is not stored: the
        caller reads that order with :meth:`get_by_idempotency_key`. An insert racing a
        concurrent one with the same key waits for that transaction, then decides.
        """

    @abc.abstractmethod
    def get_by_idempotency_key(self, key: str) -> Order | None:
        """Return the order placed with this Idempotency-Key, or None."""

    @abc.abstractmethod
    def get(self, order_id: UUID, *, for_update: bool = False) -> Order | None:
        """Return the order with this id, or None."""

    @abc.abstractmethod
    def update_status(self, order: Order) -> None:
        """Store the status and update time of an existing order."""

    @abc.abstractmethod
    def count_rows(self, order_id: UUID) -> RowCount:
        """Count the rows of ``orders`` with this id (0 or 1): evidence, not a guess."""


@dataclass(frozen=True)
class OutboxMessage:
    """One pending row of the outbox: an event stored with its order, waiting for the relay."""

    id: int
    event_id: UUID
    topic: str
    key: str
    payload: bytes
    created_at: datetime
    attempts: int = 0


@dataclass(frozen=True)
class FailedAttempt:
    """One outbox row whose publish was not confirmed, and when to try it again."""

    message_id: int
    error: str
    retry_at: datetime


class OutboxRepository(abc.ABC):
    """The transactional outbox, inside the current unit of work's transaction."""

    @abc.abstractmethod
    def add(self, event: OrderCreated) -> None:
        """Store ``event`` for the relay, in the same transaction as its order."""

    @abc.abstractmethod
    def count_for_order(self, order_id: UUID) -> int:
        """Return how many pending rows carry this order's events: evidence, not a guess."""

    @abc.abstractmethod
    def claim_batch(self, limit: int, after_id: int = 0) -> list[OutboxMessage]:
        """Lock and return up to ``limit`` pending rows, oldest first, for this transaction only.

        Rows locked by another transaction are skipped, and so is every row of an order
        whose earlier row is still pending: only the oldest pending row of each order is
        eligible, so two relays never publish the same row at once, nor an order's events
        out of order. Only rows after ``after_id`` are candidates (where a backlog's drain
        goes on); an earlier row of the same order still holds a later one back.
        """

    @abc.abstractmethod
    def mark_sent(self, ids: Sequence[int]) -> None:
        """Remove the rows whose delivery the broker confirmed."""

    @abc.abstractmethod
    def record_failures(self, failures: Sequence[FailedAttempt]) -> None:
        """Note a failed attempt on each row: its error and when it may be claimed again.

        The rows stay pending; until ``retry_at`` only that row (and the later rows of its
        own order, which wait behind it) is held back.
        """


class ProcessedEventRepository(abc.ABC):
    """The ids of the events already handled, inside the current unit of work's transaction."""

    @abc.abstractmethod
    def add(self, event_id: UUID, event_type: str) -> bool:
        """Record that this event is handled; return False if it was recorded before."""

    @abc.abstractmethod
    def prune(self, older_than: datetime, limit: int) -> int:
        """Forget up to ``limit`` events handled before ``older_than``; return how many.

        Oldest first. A forgotten event that is delivered again is handled again, so the
        caller keeps events far longer than any redelivery can come (see the retention
        setting). Rows another transaction holds are left for a later prune.
        """


class UnitOfWork(abc.ABC):
    """One database transaction: leaving the outermost ``with`` rolls back unless committed.

    Nested ``with`` blocks join the outer transaction, as Spring's ``REQUIRED``
    propagation does in the original project: an inner ``commit()`` is left to the
    outermost block. This is what lets the chaos boundary roll back an order that the
    ordinary create-order use case believes it committed.
    """

    orders: OrderRepository
    outbox: OutboxRepository
    processed_events: ProcessedEventRepository

    def __init__(self) -> None:
        self._depth = 0
        self.committed = False
        self.rolled_back = False

    def __enter__(self) -> Self:
        if self._depth == 0:
            self.committed = False
            self.rolled_back = False
            self._begin()
        self._depth += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            try:
                if not self.committed:
                    self._rollback()
                    self.rolled_back = True
            finally:
                self._end()

    @property
    def joined(self) -> bool:
        """Tell whether this block runs inside an outer transaction."""
        return self._depth > 1

    def commit(self) -> None:
        """Commit, unless an outer block owns the transaction (it decides then)."""
        if self.joined:
            return
        self._commit()
        self.committed = True

    @abc.abstractmethod
    def _begin(self) -> None:
        """Open the transaction (borrow a connection)."""

    @abc.abstractmethod
    def _commit(self) -> None:
        """Commit the transaction."""

    @abc.abstractmethod
    def _rollback(self) -> None:
        """Roll the transaction back."""

    @abc.abstractmethod
    def _end(self) -> None:
        """Release what ``_begin`` took."""


@dataclass(frozen=True)
class Delivery:
    """The broker's delivery report for one event: where it was written."""

    topic: str
    partition: int
    offset: int


class OrderEventPublisher(abc.ABC):
    """Publishes order events to the message broker."""

    @abc.abstractmethod
    def publish(self, event: OrderCreated) -> Delivery:
        """Publish ``event`` and wait for the broker's delivery report.

        Raises:
            PublishFailed: the broker did not confirm the event in time.
        """


@dataclass(frozen=True)
class PublishOutcome:
    """What became of one message: its delivery report, or why it is not confirmed."""

    delivery: Delivery | None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        """Tell whether the broker confirmed the message."""
        return self.delivery is not None


class MessagePublisher(abc.ABC):
    """Publishes stored messages (the outbox's rows) as they are, topic, key and value."""

    @abc.abstractmethod
    def publish_messages(self, messages: Sequence[OutboxMessage]) -> list[PublishOutcome]:
        """Publish every message and wait (bounded) for each one's own delivery report.

        Returns:
            One outcome per message, in the same order. A message without a report in
            time is indeterminate: the broker may still write it later.
        """
