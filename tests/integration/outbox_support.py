"""Shared pieces of the outbox integration tests: metrics, topic reads, one-off queries.

Each outbox test runs on a database of its own (``embedded_stack.databases``): another
outbox-mode service on the shared database would otherwise relay this test's rows, or count
them in its backlog.
"""

from __future__ import annotations

from collections import defaultdict

import psycopg2
from prometheus_client.parser import text_string_to_metric_families

from evidence.topic_reader import Record, TopicReader

# Payload fields of order.created, in both modes (README "Events").
ORDER_CREATED_FIELDS = {"eventId", "orderId", "customerId", "totalAmount", "items", "occurredAt"}


def scalar(database_url: str, sql: str, *params: object) -> object:
    """Return the first column of the first row, read on a fresh connection (committed data)."""
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]
    finally:
        conn.close()


def metric(text: str, name: str) -> float | None:
    """Return the value of the unlabelled sample ``name`` in a Prometheus text page."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and not sample.labels:
                return sample.value
    return None


def events_by_order(reader: TopicReader, positions: dict[int, int]) -> dict[str, list[Record]]:
    """Read the topic from ``positions`` on every partition; group the records by key."""
    found: dict[str, list[Record]] = defaultdict(list)
    for record in reader.read_since(positions):
        if record.key is not None:
            found[record.key].append(record)
    return found
