"""The final read: what PostgreSQL and the topic hold for the campaign's orders, after the heal.

Only the campaign's own customers count: other clients may write to the same table and
topic meanwhile, and their rows and events are recognised by their customerId and left out.
The topic is read on every partition from offsets recorded before the run, to its true end.
"""

from __future__ import annotations

from collections.abc import Collection

import psycopg2

from campaign.final_read import Event, FinalRead, ProcessedCancellation, Row
from evidence.topic_reader import Record, TopicReader
from service.domain.events import ORDER_CREATED_TOPIC

_ROWS = """
    SELECT id::text, status, created_at, idempotency_key
    FROM orders WHERE customer_id = ANY(%s::uuid[])
    ORDER BY created_at, id
"""
# processed_events records each handled eventId once (its primary key): present means the
# consumer applied it, and the key itself rules out a second application.
_PROCESSED = "SELECT event_id::text FROM processed_events WHERE event_id = ANY(%s::uuid[])"


def record_start_offsets(bootstrap_servers: str) -> dict[int, int]:
    """Return, per partition of ``order.created``, where the campaign's events will begin."""
    return TopicReader(bootstrap_servers, ORDER_CREATED_TOPIC).end_positions()


def collect_final_read(
    *,
    mode: str,
    database_url: str,
    bootstrap_servers: str,
    customer_ids: Collection[str],
    start_offsets: dict[int, int],
    cancellations: dict[str, str] | None = None,
    read_timeout: float = 60.0,
) -> FinalRead:
    """Read the campaign's rows, events and applied cancellations.

    Args:
        mode: ``dual-write`` or ``outbox``.
        database_url: PostgreSQL.
        bootstrap_servers: Kafka.
        customer_ids: The campaign's customers; everything else is another client's.
        start_offsets: ``record_start_offsets`` taken before the run.
        cancellations: The ``order.cancelled`` messages the campaign sent, eventId → orderId.
        read_timeout: Seconds the topic may take to be read to its end.
    """
    customers = sorted(customer_ids)
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(_ROWS, (customers,))
        rows = [
            Row(order_id, status, created_at.isoformat(), key)
            for order_id, status, created_at, key in cursor.fetchall()
        ]
        sent = cancellations or {}
        cursor.execute(_PROCESSED, (sorted(sent),))
        applied = [ProcessedCancellation(event_id, sent[event_id], 1) for (event_id,) in cursor]
    connection.close()
    reader = TopicReader(bootstrap_servers, ORDER_CREATED_TOPIC, timeout=read_timeout)
    wanted = set(customers)
    events = [
        _event(record) for record in reader.read_since(start_offsets) if _ours(record, wanted)
    ]
    return FinalRead(
        mode=mode,
        rows=rows,
        events=events,
        start_offsets=dict(start_offsets),
        processed_cancellations=applied,
    )


def _ours(record: Record, customers: set[str]) -> bool:
    return (record.value or {}).get("customerId") in customers and record.order_id is not None


def _event(record: Record) -> Event:
    value = record.value or {}
    return Event(
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        order_id=str(record.order_id),
        event_id=str(value.get("eventId")),
        timestamp_ms=int(record.timestamp_ms or 0),
    )
