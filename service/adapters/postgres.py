"""PostgreSQL adapters: a connection pool, the unit of work and its repositories."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg2
import psycopg2.extensions
import psycopg2.pool

from service.adapters.event_json import encode_order_created
from service.adapters.kafka import ORDER_CREATED
from service.domain.events import OrderCreated
from service.domain.model import Order, OrderItem, OrderStatus
from service.domain.ports import (
    OrderRepository,
    OutboxMessage,
    OutboxRepository,
    ProcessedEventRepository,
    UnitOfWork,
)

logger = logging.getLogger(__name__)

Connection = psycopg2.extensions.connection


class DatabaseUnavailable(Exception):
    """No database connection could be had in time."""


class ConnectionPool:
    """A thread-safe pool that makes callers wait (bounded) instead of failing when empty.

    psycopg2's own pool raises at once when every connection is in use; a semaphore in
    front of it turns that into a short wait, so a burst of requests queues instead of
    answering 500.
    """

    def __init__(self, dsn: str, size: int, *, acquire_timeout: float = 5.0) -> None:
        # minconn = maxconn: psycopg2 closes every returned connection beyond minconn, so a
        # smaller minimum would open a new connection (a backend and a SCRAM handshake,
        # ~6 ms) for every request.
        self._pool = psycopg2.pool.ThreadedConnectionPool(size, size, dsn, **connection_options())
        self._slots = threading.BoundedSemaphore(size)
        self._acquire_timeout = acquire_timeout

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Lend a connection; a broken one is closed instead of going back to the pool."""
        if not self._slots.acquire(timeout=self._acquire_timeout):
            raise DatabaseUnavailable("every database connection stayed busy")
        try:
            try:
                conn = self._pool.getconn()
            except psycopg2.OperationalError as ex:
                raise DatabaseUnavailable(str(ex).strip()) from ex
            try:
                yield conn
            finally:
                self._pool.putconn(conn, close=bool(conn.closed))
        finally:
            self._slots.release()

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.closeall()


def connection_options(*, connect_timeout: int = 3) -> dict[str, object]:
    """Return libpq options that keep a dead or hung server from blocking a thread forever."""
    return {
        "connect_timeout": connect_timeout,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 2,
        "options": "-c statement_timeout=10000",
        "application_name": "order-service",
    }


class PostgresUnitOfWork(UnitOfWork):
    """A unit of work on one pooled connection."""

    def __init__(self, pool: ConnectionPool) -> None:
        super().__init__()
        self._pool = pool
        self._lease = ExitStack()
        self._conn: Connection | None = None

    def _begin(self) -> None:
        self._conn = self._lease.enter_context(self._pool.connection())
        self.orders = PostgresOrderRepository(self._conn)
        self.outbox = PostgresOutboxRepository(self._conn)
        self.processed_events = PostgresProcessedEventRepository(self._conn)

    def _commit(self) -> None:
        self._conn.commit()

    def _rollback(self) -> None:
        if not self._conn.closed:
            self._conn.rollback()

    def _end(self) -> None:
        self._conn = None
        self._lease.close()


_INSERT_ORDER = """
WITH new_order AS (
    INSERT INTO orders (id, customer_id, status, total, created_at, updated_at)
    VALUES (%(id)s, %(customer_id)s, %(status)s, %(total)s, %(created_at)s, %(updated_at)s)
)
INSERT INTO order_items (order_id, product_id, quantity, unit_price)
SELECT %(id)s, item.product_id, item.quantity, item.unit_price
FROM unnest(%(product_ids)s::uuid[], %(quantities)s::integer[], %(unit_prices)s::numeric[])
     WITH ORDINALITY AS item(product_id, quantity, unit_price, position)
ORDER BY item.position
"""

_SELECT_ORDER = """
SELECT o.id, o.customer_id, o.status, o.created_at, o.updated_at,
       i.product_id, i.quantity, i.unit_price
FROM orders o JOIN order_items i ON i.order_id = o.id
WHERE o.id = %s
ORDER BY i.id
"""

# The seed's own check (step 6), kept as evidence in the phantom-event report.
COUNT_ORDER_ROWS = "SELECT count(*) FROM orders WHERE id = %s"


class PostgresOrderRepository(OrderRepository):
    """Orders in the ``orders`` and ``order_items`` tables, plain SQL with bound parameters."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, order: Order) -> None:
        """Store the order and its items in one round trip."""
        params = {
            "id": str(order.id),
            "customer_id": str(order.customer_id),
            "status": order.status.value,
            "total": order.total,
            "created_at": order.created_at,
            "updated_at": order.updated_at,
            "product_ids": [str(item.product_id) for item in order.items],
            "quantities": [item.quantity for item in order.items],
            "unit_prices": [item.unit_price for item in order.items],
        }
        with self._conn.cursor() as cursor:
            cursor.execute(_INSERT_ORDER, params)

    def get(self, order_id: UUID, *, for_update: bool = False) -> Order | None:
        """Load the order and its items."""
        query = _SELECT_ORDER + (" FOR UPDATE OF o" if for_update else "")
        with self._conn.cursor() as cursor:
            cursor.execute(query, (str(order_id),))
            rows = cursor.fetchall()
        if not rows:
            return None
        first = rows[0]
        items = tuple(OrderItem(UUID(row[5]), row[6], row[7]) for row in rows)
        return Order(
            id=UUID(first[0]),
            customer_id=UUID(first[1]),
            items=items,
            status=OrderStatus(first[2]),
            created_at=first[3],
            updated_at=first[4],
        )

    def update_status(self, order: Order) -> None:
        """Store the order's status and update time."""
        with self._conn.cursor() as cursor:
            cursor.execute(
                "UPDATE orders SET status = %s, updated_at = %s WHERE id = %s",
                (order.status.value, order.updated_at, str(order.id)),
            )

    def count_rows(self, order_id: UUID) -> int:
        """Count the ``orders`` rows with this id."""
        with self._conn.cursor() as cursor:
            cursor.execute(COUNT_ORDER_ROWS, (str(order_id),))
            return cursor.fetchone()[0]


_INSERT_OUTBOX = """
INSERT INTO outbox (event_id, topic, message_key, payload, created_at)
VALUES (%s, %s, %s, %s, %s)
"""

# Only the oldest pending row of each order (message_key) is eligible: a later row waits
# until the earlier one is confirmed and gone, also when another relay holds the earlier
# one locked (the NOT EXISTS sees locked rows; SKIP LOCKED only skips them).
_CLAIM_OUTBOX = """
SELECT o.id, o.event_id, o.topic, o.message_key, o.payload::text, o.created_at, o.attempts
FROM outbox o
WHERE NOT EXISTS (
    SELECT 1 FROM outbox earlier
    WHERE earlier.message_key = o.message_key AND earlier.id < o.id
)
ORDER BY o.id
LIMIT %s
FOR UPDATE OF o SKIP LOCKED
"""

# Shown as evidence in the phantom-event report, as COUNT_ORDER_ROWS is.
COUNT_OUTBOX_ROWS = "SELECT count(*) FROM outbox WHERE message_key = %s"


class PostgresOutboxRepository(OutboxRepository):
    """The ``outbox`` table: events stored with their order, removed once confirmed.

    The payload is the exact JSON the Dual Write publisher sends (a ``json`` column keeps
    the text as written), so the relay publishes the same bytes.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, event: OrderCreated) -> None:
        """Store the ``order.created`` message of ``event``, keyed by its order id."""
        with self._conn.cursor() as cursor:
            cursor.execute(
                _INSERT_OUTBOX,
                (
                    str(event.event_id),
                    ORDER_CREATED,
                    str(event.order_id),
                    encode_order_created(event).decode(),
                    event.occurred_at,
                ),
            )

    def count_for_order(self, order_id: UUID) -> int:
        """Count the pending rows keyed by this order id."""
        with self._conn.cursor() as cursor:
            cursor.execute(COUNT_OUTBOX_ROWS, (str(order_id),))
            return cursor.fetchone()[0]

    def claim_batch(self, limit: int) -> list[OutboxMessage]:
        """Lock the oldest eligible rows (see ``_CLAIM_OUTBOX``) until this transaction ends."""
        with self._conn.cursor() as cursor:
            cursor.execute(_CLAIM_OUTBOX, (limit,))
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

    def record_failure(self, ids: Sequence[int], error: str) -> None:
        """Count the attempt and keep its error on each row, for whoever looks at the table."""
        with self._conn.cursor() as cursor:
            cursor.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = %s WHERE id = ANY(%s)",
                (error[:1000], list(ids)),
            )


class PostgresProcessedEventRepository(ProcessedEventRepository):
    """The ``processed_events`` table: one row per handled event id."""

    def __init__(self, conn: Connection) -> None:
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


def _quick_connection(dsn: str, timeout: float) -> Connection:
    """Open a connection of its own whose statements give up after ``timeout`` seconds."""
    options = connection_options(connect_timeout=max(1, int(timeout)))
    options["options"] = f"-c statement_timeout={int(timeout * 1000)}"
    return psycopg2.connect(dsn, **options)


def check_database(dsn: str, timeout: float) -> dict[str, object]:
    """Open a fresh connection and ask the server's version (used by the health check)."""
    conn = _quick_connection(dsn, timeout)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return {"database": conn.info.dbname, "version": cursor.fetchone()[0]}
    finally:
        conn.close()


@dataclass(frozen=True)
class OutboxBacklog:
    """The pending rows of the outbox: how many, and when the oldest was written."""

    pending: int
    oldest_created_at: datetime | None


def read_outbox_backlog(dsn: str, timeout: float) -> OutboxBacklog:
    """Count the pending outbox rows on a fresh connection (health and metrics).

    A connection of its own, not the pool's: health must answer while every pooled
    connection is busy.
    """
    conn = _quick_connection(dsn, timeout)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*), min(created_at) FROM outbox")
            pending, oldest = cursor.fetchone()
            return OutboxBacklog(pending, oldest)
    finally:
        conn.close()
