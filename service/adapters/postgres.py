"""PostgreSQL adapters: a connection pool, the unit of work and its repositories."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import datetime
from uuid import UUID

import psycopg2
import psycopg2.extensions

# The one sibling this module imports: the pool and the bounded transaction it runs on
# (PostgreSQL both, split only to keep each module readable).
from service.adapters.postgres_connections import (
    OUTBOX_CHANNEL,
    ConnectionPool,
    DatabaseBounds,
    Transaction,
    connection_options,
)
from service.domain.events import ORDER_CREATED_TOPIC, OrderCreated
from service.domain.model import Order, OrderItem, OrderStatus
from service.domain.ports import (
    FailedAttempt,
    OrderRepository,
    OutboxMessage,
    OutboxRepository,
    ProcessedEventRepository,
    RowCount,
    UnitOfWork,
)
from service.json_forms import encode_order_created
from service.monitoring import OutboxBacklog

logger = logging.getLogger(__name__)

Connection = psycopg2.extensions.connection


class PostgresUnitOfWork(UnitOfWork):
    """A unit of work on one pooled connection."""

    def __init__(self, pool: ConnectionPool) -> None:
        super().__init__()
        self._pool = pool
        self._lease = ExitStack()
        self._transaction: Transaction | None = None

    def _begin(self) -> None:
        self._transaction = self._lease.enter_context(self._pool.transaction())
        self.orders = PostgresOrderRepository(self._transaction)
        self.outbox = PostgresOutboxRepository(self._transaction)
        self.processed_events = PostgresProcessedEventRepository(self._transaction)

    def _commit(self) -> None:
        self._transaction.commit()

    def _rollback(self) -> None:
        self._transaction.rollback()

    def _end(self) -> None:
        self._transaction = None
        self._lease.close()


# One round trip. An Idempotency-Key another order holds inserts no order, so no items
# either (they are selected from the inserted row): the statement then counts 0 rows.
_INSERT_ORDER = """
WITH new_order AS (
    INSERT INTO orders (id, customer_id, status, total, created_at, updated_at, idempotency_key)
    VALUES (%(id)s, %(customer_id)s, %(status)s, %(total)s, %(created_at)s, %(updated_at)s,
            %(idempotency_key)s)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
)
INSERT INTO order_items (order_id, product_id, quantity, unit_price)
SELECT new_order.id, item.product_id, item.quantity, item.unit_price
FROM new_order,
     unnest(%(product_ids)s::uuid[], %(quantities)s::integer[], %(unit_prices)s::numeric[])
     WITH ORDINALITY AS item(product_id, quantity, unit_price, position)
ORDER BY item.position
"""

_SELECT_ORDER = """
SELECT o.id, o.customer_id, o.status, o.created_at, o.updated_at, o.idempotency_key,
       i.product_id, i.quantity, i.unit_price
FROM orders o JOIN order_items i ON i.order_id = o.id
WHERE o.{column} = %s
ORDER BY i.id
"""

# The seed's own check (step 6), kept as evidence in the phantom-event report.
COUNT_ORDER_ROWS = "SELECT count(*) FROM orders WHERE id = %s"


class PostgresOrderRepository(OrderRepository):
    """Orders in the ``orders`` and ``order_items`` tables, plain SQL with bound parameters."""

    def __init__(self, conn: Transaction) -> None:
        self._conn = conn

    def add(self, order: Order) -> bool:
        """Store the order and its items in one round trip; False if its key is taken."""
        params = {
            "id": str(order.id),
            "customer_id": str(order.customer_id),
            "status": order.status.value,
            "total": order.total,
            "created_at": order.created_at,
            "updated_at": order.updated_at,
            "idempotency_key": order.idempotency_key,
            "product_ids": [str(item.product_id) for item in order.items],
            "quantities": [item.quantity for item in order.items],
            "unit_prices": [item.unit_price for item in order.items],
        }
        with self._conn.cursor() as cursor:
            cursor.execute(_INSERT_ORDER, params)
            return cursor.rowcount > 0

    def get(self, order_id: UUID, *, for_update: bool = False) -> Order | None:
        """Load the order and its items."""
        query = _SELECT_ORDER.format(column="id") + (" FOR UPDATE OF o" if for_update else "")
        return self._load(query, str(order_id))

    def get_by_idempotency_key(self, key: str) -> Order | None:
        """Load the order placed with this Idempotency-Key."""
        return self._load(_SELECT_ORDER.format(column="idempotency_key"), key)

    def _load(self, query: str, value: str) -> Order | None:
        with self._conn.cursor() as cursor:
            cursor.execute(query, (value,))
            rows = cursor.fetchall()
        if not rows:
            return None
        first = rows[0]
        items = tuple(OrderItem(UUID(row[6]), row[7], row[8]) for row in rows)
        return Order(
            id=UUID(first[0]),
            customer_id=UUID(first[1]),
            items=items,
            status=OrderStatus(first[2]),
            created_at=first[3],
            updated_at=first[4],
            idempotency_key=first[5],
        )

    def update_status(self, order: Order) -> None:
        """Store the order's status and update time."""
        with self._conn.cursor() as cursor:
            cursor.execute(
                "UPDATE orders SET status = %s, updated_at = %s WHERE id = %s",
                (order.status.value, order.updated_at, str(order.id)),
            )

    def count_rows(self, order_id: UUID) -> RowCount:
        """Count the ``orders`` rows with this id; give the query with the id filled in."""
        params = (str(order_id),)
        with self._conn.cursor() as cursor:
            cursor.execute(COUNT_ORDER_ROWS, params)
            rows = cursor.fetchone()[0]
            # Bound by the driver's own quoting, so the shown query is the one the server ran.
            return RowCount(rows, cursor.mogrify(COUNT_ORDER_ROWS, params))


# The NOTIFY reaches the relay only when this transaction commits, and in the same round
# trip as the insert: the relay publishes within milliseconds instead of at its next poll.
_INSERT_OUTBOX = f"""
INSERT INTO outbox (event_id, topic, message_key, payload, created_at)
VALUES (%s, %s, %s, %s, %s);
NOTIFY {OUTBOX_CHANNEL}
"""

# Only the oldest pending row of each order (message_key) is eligible: a later row waits
# until the earlier one is confirmed and gone, also when another relay holds the earlier
# one locked (the NOT EXISTS sees locked rows; SKIP LOCKED only skips them). A drain goes
# on after the last id it claimed: deleted rows stay in the primary key's index until a
# vacuum, and a scan from the first id walks through every one of them.
_CLAIM_OUTBOX = """
SELECT o.id, o.event_id, o.topic, o.message_key, o.payload::text, o.created_at, o.attempts
FROM outbox o
WHERE NOT EXISTS (
    SELECT 1 FROM outbox earlier
    WHERE earlier.message_key = o.message_key AND earlier.id < o.id
)
AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= now())
AND o.id > %s
ORDER BY o.id
LIMIT %s
FOR UPDATE OF o SKIP LOCKED
"""

_RECORD_FAILURES = """
UPDATE outbox
SET attempts = attempts + 1, last_error = failure.error,
    last_attempt_at = now(), next_attempt_at = failure.retry_at
FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[]) AS failure(id, error, retry_at)
WHERE outbox.id = failure.id
"""

_COUNT_OUTBOX_ROWS = "SELECT count(*) FROM outbox WHERE message_key = %s"


class PostgresOutboxRepository(OutboxRepository):
    """The ``outbox`` table: events stored with their order, removed once confirmed.

    The payload is the exact JSON the Dual Write publisher sends (a ``json`` column keeps
    the text as written), so the relay publishes the same bytes.
    """

    def __init__(self, conn: Transaction) -> None:
        self._conn = conn

    def add(self, event: OrderCreated) -> None:
        """Store the ``order.created`` message of ``event``, keyed by its order id."""
        with self._conn.cursor() as cursor:
            cursor.execute(
                _INSERT_OUTBOX,
                (
                    str(event.event_id),
                    ORDER_CREATED_TOPIC,
                    str(event.order_id),
                    encode_order_created(event).decode(),
                    event.occurred_at,
                ),
            )

    def count_for_order(self, order_id: UUID) -> int:
        """Count the pending rows keyed by this order id."""
        with self._conn.cursor() as cursor:
            cursor.execute(_COUNT_OUTBOX_ROWS, (str(order_id),))
            return cursor.fetchone()[0]

    def claim_batch(self, limit: int, after_id: int = 0) -> list[OutboxMessage]:
        """Lock the oldest eligible rows (see ``_CLAIM_OUTBOX``) until this transaction ends."""
        with self._conn.cursor() as cursor:
            cursor.execute(_CLAIM_OUTBOX, (after_id, limit))
            rows = cursor.fetchall()
        return [
            OutboxMessage(
                id=row[0],
                event_id=UUID(row[1]),
                topic=row[2],
                key=row[3],
                payload=row[4].encode(),
                created_at=row[5],
                attempts=row[6],
            )
            for row in rows
        ]

    def mark_sent(self, ids: Sequence[int]) -> None:
        """Delete the confirmed rows: the topic is the record of what was published."""
        with self._conn.cursor() as cursor:
            cursor.execute("DELETE FROM outbox WHERE id = ANY(%s)", (list(ids),))

    def record_failures(self, failures: Sequence[FailedAttempt]) -> None:
        """Count the attempt, keep its error and the row's own retry time, in one statement."""
        with self._conn.cursor() as cursor:
            cursor.execute(
                _RECORD_FAILURES,
                (
                    [f.message_id for f in failures],
                    [f.error[:1000] for f in failures],
                    [f.retry_at for f in failures],
                ),
            )


# A bounded batch through the processed_at index (V003). SKIP LOCKED: a row another
# transaction holds (a concurrent prune, say) is left for later instead of waited for.
_PRUNE_PROCESSED_EVENTS = """
DELETE FROM processed_events
WHERE event_id IN (
    SELECT event_id FROM processed_events
    WHERE processed_at < %s
    ORDER BY processed_at
    LIMIT %s
    FOR UPDATE SKIP LOCKED
)
"""


class PostgresProcessedEventRepository(ProcessedEventRepository):
    """The ``processed_events`` table: one row per handled event id."""

    def __init__(self, conn: Transaction) -> None:
        self._conn = conn

    def add(self, event_id: UUID, event_type: str) -> bool:
        """Insert the id; a concurrent insert of the same id waits for its transaction."""
        with self._conn.cursor() as cursor:
            cursor.execute(
                "INSERT INTO processed_events (event_id, event_type) VALUES (%s, %s) "
                "ON CONFLICT (event_id) DO NOTHING",
                (str(event_id), event_type),
            )
            return cursor.rowcount == 1

    def prune(self, older_than: datetime, limit: int) -> int:
        """Delete the oldest rows handled before ``older_than``, at most ``limit`` of them."""
        with self._conn.cursor() as cursor:
            cursor.execute(_PRUNE_PROCESSED_EVENTS, (older_than, limit))
            return cursor.rowcount


def _quick_connection(dsn: str, timeout: float) -> Connection:
    """Open a connection of its own whose statements give up after ``timeout`` seconds."""
    bounds = DatabaseBounds(connect=timeout, statement=timeout, idle_in_transaction=timeout)
    return psycopg2.connect(dsn, **connection_options(bounds))


def check_database(dsn: str, timeout: float) -> dict[str, object]:
    """Open a fresh connection and ask the server's version (used by the health check)."""
    conn = _quick_connection(dsn, timeout)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return {"database": conn.info.dbname, "version": cursor.fetchone()[0]}
    finally:
        conn.close()


_READ_BACKLOG = """
SELECT count(*), min(created_at), count(*) FILTER (WHERE attempts >= %(stuck_after)s),
       (SELECT message_key FROM outbox WHERE attempts >= %(stuck_after)s ORDER BY id LIMIT 1),
       (SELECT last_error FROM outbox WHERE attempts >= %(stuck_after)s ORDER BY id LIMIT 1)
FROM outbox
"""


def read_outbox_backlog(dsn: str, timeout: float, stuck_after: int = 10) -> OutboxBacklog:
    """Count the pending and stuck outbox rows on a fresh connection (health and metrics).

    A connection of its own, not the pool's: health must answer while every pooled
    connection is busy.
    """
    conn = _quick_connection(dsn, timeout)
    try:
        with conn.cursor() as cursor:
            cursor.execute(_READ_BACKLOG, {"stuck_after": stuck_after})
            return OutboxBacklog(*cursor.fetchone())
    finally:
        conn.close()
