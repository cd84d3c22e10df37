"""Hand-written fakes for our own ports: the repositories, the unit of work, the publishers.

``FakeUnitOfWork`` subclasses the real ``UnitOfWork``, so the nesting and rollback rules
under test are the production ones; only the storage underneath is a dict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from uuid import UUID

from service.domain.errors import PublishFailed
from service.domain.events import ORDER_CREATED_TOPIC, OrderCreated
from service.domain.model import Order
from service.domain.ports import (
    Delivery,
    FailedAttempt,
    MessagePublisher,
    OrderEventPublisher,
    OrderRepository,
    OutboxMessage,
    OutboxRepository,
    ProcessedEventRepository,
    PublishOutcome,
    RowCount,
    UnitOfWork,
)
from service.json_forms import encode_order_created


class FakeOrderRepository(OrderRepository):
    """Orders in a dict keyed by id; ``count_rows`` answers as the SQL count would.

    Its query text is this fake's own rendering of the count the Postgres repository runs
    (whose text the integration tests check): the unit tests see it passed through as given.
    """

    def __init__(self, orders: dict[UUID, Order] | None = None) -> None:
        self.orders: dict[UUID, Order] = {} if orders is None else orders
        self.locked: list[UUID] = []

    def add(self, order: Order) -> bool:
        if order.id in self.orders:
            raise ValueError(f"duplicate key: order {order.id} exists")
        if order.idempotency_key is not None and self.get_by_idempotency_key(order.idempotency_key):
            return False
        self.orders[order.id] = order
        return True

    def get_by_idempotency_key(self, key: str) -> Order | None:
        return next((o for o in self.orders.values() if o.idempotency_key == key), None)

    def get(self, order_id: UUID, *, for_update: bool = False) -> Order | None:
        if for_update:
            self.locked.append(order_id)
        return self.orders.get(order_id)

    def update_status(self, order: Order) -> None:
        if order.id not in self.orders:
            raise KeyError(order.id)
        self.orders[order.id] = order

    def count_rows(self, order_id: UUID) -> RowCount:
        rows = 1 if order_id in self.orders else 0
        return RowCount(rows, f"SELECT count(*) FROM orders WHERE id = '{order_id}'")


class FakeOutboxRepository(OutboxRepository):
    """Outbox rows in a dict keyed by id; claims follow the SQL's rules (see the port)."""

    def __init__(self, database: FakeDatabase) -> None:
        self._database = database
        self.rows: dict[int, OutboxMessage] = dict(database.outbox)
        self.errors: dict[int, str] = dict(database.outbox_errors)
        self.retry_at: dict[int, datetime] = dict(database.outbox_retry_at)

    def add(self, event: OrderCreated) -> None:
        # Like a sequence, ids are never handed out twice, even after a rollback.
        self._database.last_outbox_id += 1
        row_id = self._database.last_outbox_id
        self.rows[row_id] = OutboxMessage(
            row_id,
            event.event_id,
            ORDER_CREATED_TOPIC,
            str(event.order_id),
            encode_order_created(event),
            event.occurred_at,
        )

    def count_for_order(self, order_id: UUID) -> int:
        return sum(1 for row in self.rows.values() if row.key == str(order_id))

    def claim_batch(self, limit: int, after_id: int = 0) -> list[OutboxMessage]:
        oldest_per_key: dict[str, OutboxMessage] = {}
        for row in sorted(self.rows.values(), key=lambda r: r.id):
            oldest_per_key.setdefault(row.key, row)
        now = self._database.now()
        eligible = [
            r
            for r in oldest_per_key.values()
            if r.id > after_id
            and r.id not in self._database.locked
            and self.retry_at.get(r.id, now) <= now
        ]
        return sorted(eligible, key=lambda r: r.id)[:limit]

    def mark_sent(self, ids: Sequence[int]) -> None:
        for row_id in ids:
            del self.rows[row_id]
            self.errors.pop(row_id, None)
            self.retry_at.pop(row_id, None)

    def record_failures(self, failures: Sequence[FailedAttempt]) -> None:
        for failure in failures:
            row = self.rows[failure.message_id]
            self.rows[row.id] = replace(row, attempts=row.attempts + 1)
            self.errors[row.id] = failure.error
            self.retry_at[row.id] = failure.retry_at


class FakeProcessedEventRepository(ProcessedEventRepository):
    """Handled event ids in a dict, and when each was handled (``now`` for new ones)."""

    def __init__(
        self,
        ids: dict[UUID, str],
        processed_at: dict[UUID, datetime] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.ids = ids
        self.processed_at: dict[UUID, datetime] = {} if processed_at is None else processed_at
        self._now = now

    def add(self, event_id: UUID, event_type: str) -> bool:
        if event_id in self.ids:
            return False
        self.ids[event_id] = event_type
        self.processed_at[event_id] = self._now()
        return True

    def prune(self, older_than: datetime, limit: int) -> int:
        old = sorted(
            (at, event_id) for event_id, at in self.processed_at.items() if at < older_than
        )[:limit]
        for _, event_id in old:
            del self.ids[event_id]
            del self.processed_at[event_id]
        return len(old)


@dataclass
class FakeDatabase:
    """The committed state every unit of work starts from, and a tally of transactions."""

    committed: dict[UUID, Order] = field(default_factory=dict)
    outbox: dict[int, OutboxMessage] = field(default_factory=dict)
    outbox_errors: dict[int, str] = field(default_factory=dict)
    outbox_retry_at: dict[int, datetime] = field(default_factory=dict)
    # The database's now(), against which a failed row's retry time is compared.
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    processed: dict[UUID, str] = field(default_factory=dict)
    processed_at: dict[UUID, datetime] = field(default_factory=dict)
    # Outbox row ids another relay holds locked: skipped, and they block later rows.
    locked: set[int] = field(default_factory=set)
    last_outbox_id: int = 0
    begun: int = 0
    commits: int = 0
    rollbacks: int = 0
    ended: int = 0

    @property
    def open_transactions(self) -> int:
        """Return how many transactions began and have not ended."""
        return self.begun - self.ended

    @property
    def untouched(self) -> bool:
        """Tell whether nothing was ever written (no order, no outbox row, no commit)."""
        return not self.committed and not self.outbox and self.commits == 0


class FakeUnitOfWork(UnitOfWork):
    """A transaction on a ``FakeDatabase``: writes are staged and reach it only on commit."""

    def __init__(self, database: FakeDatabase | None = None) -> None:
        super().__init__()
        self.database = FakeDatabase() if database is None else database
        self._open_repositories()

    def _open_repositories(self) -> None:
        self.orders = FakeOrderRepository(dict(self.database.committed))
        self.outbox = FakeOutboxRepository(self.database)
        self.processed_events = FakeProcessedEventRepository(
            dict(self.database.processed), dict(self.database.processed_at), self.database.now
        )

    def _begin(self) -> None:
        self.database.begun += 1
        self._open_repositories()

    def _commit(self) -> None:
        self.database.commits += 1
        self.database.committed.update(self.orders.orders)
        self.database.outbox = dict(self.outbox.rows)
        self.database.outbox_errors = dict(self.outbox.errors)
        self.database.outbox_retry_at = dict(self.outbox.retry_at)
        self.database.processed = dict(self.processed_events.ids)
        self.database.processed_at = dict(self.processed_events.processed_at)

    def _rollback(self) -> None:
        self.database.rollbacks += 1
        self._open_repositories()

    def _end(self) -> None:
        self.database.ended += 1


class LeakyRollbackUnitOfWork(FakeUnitOfWork):
    """A broken transaction whose rollback keeps the staged writes: the boundary did not hold."""

    def _rollback(self) -> None:
        self.database.rollbacks += 1
        self.database.committed.update(self.orders.orders)
        self.database.outbox.update(self.outbox.rows)


class NonJoiningUnitOfWork(FakeUnitOfWork):
    """A broken transaction whose nested blocks commit on their own instead of joining."""

    @property
    def joined(self) -> bool:
        return False


class FailingUnitOfWork(FakeUnitOfWork):
    """A transaction that fails at ``stage`` ("begin" or "commit") with ``error``."""

    def __init__(self, database: FakeDatabase, error: Exception, stage: str = "begin") -> None:
        super().__init__(database)
        self._error = error
        self._stage = stage

    def _begin(self) -> None:
        if self._stage == "begin":
            raise self._error
        super()._begin()

    def _commit(self) -> None:
        if self._stage == "commit":
            raise self._error
        super()._commit()


class FakePublisher(OrderEventPublisher):
    """Records what it is asked to publish; confirms it, or fails once told to."""

    def __init__(self, topic: str = ORDER_CREATED_TOPIC, partition: int = 0) -> None:
        self.topic = topic
        self.partition = partition
        self.attempts: list[OrderCreated] = []
        self.events: list[OrderCreated] = []
        self.deliveries: list[Delivery] = []
        self.failure: str | None = None
        self._next_offset = 0

    def fail_with(self, reason: str = "no delivery report within 5 s") -> None:
        """Make every later publish raise ``PublishFailed(reason)``."""
        self.failure = reason

    def publish(self, event: OrderCreated) -> Delivery:
        self.attempts.append(event)
        if self.failure is not None:
            raise PublishFailed(self.failure)
        delivery = Delivery(self.topic, self.partition, self._next_offset)
        self._next_offset += 1
        self.events.append(event)
        self.deliveries.append(delivery)
        return delivery

    @property
    def untouched(self) -> bool:
        """Tell whether nobody asked to publish anything."""
        return not self.attempts


class FakeMessagePublisher(MessagePublisher):
    """Records the batches it is asked to publish; confirms them, or fails chosen ones."""

    def __init__(self) -> None:
        self.batches: list[list[OutboxMessage]] = []
        self.published: list[OutboxMessage] = []
        self.failure: str | None = None
        self.failing_keys: set[str] = set()
        self._next_offset = 0

    def fail_with(self, reason: str = "no delivery report within 5 s", *keys: str) -> None:
        """Fail every later message (or only those with one of ``keys``) with ``reason``."""
        self.failure = reason
        self.failing_keys = set(keys)

    def recover(self) -> None:
        """Confirm every later message again."""
        self.failure = None
        self.failing_keys = set()

    def publish_messages(self, messages: Sequence[OutboxMessage]) -> list[PublishOutcome]:
        self.batches.append(list(messages))
        outcomes = []
        for message in messages:
            if self.failure is not None and (
                not self.failing_keys or message.key in self.failing_keys
            ):
                outcomes.append(PublishOutcome(None, self.failure))
                continue
            outcomes.append(PublishOutcome(Delivery(message.topic, 0, self._next_offset)))
            self._next_offset += 1
            self.published.append(message)
        return outcomes
