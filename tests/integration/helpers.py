"""Small helpers shared by the integration tests."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg2
import psycopg2.extensions
from confluent_kafka import KafkaError, Producer

from embedded_stack.polling import wait_until
from evidence.topic_reader import TopicReader
from service.adapters.postgres_connections import ConnectionPool

T = TypeVar("T")

CUSTOMER = "550e8400-e29b-41d4-a716-446655440000"


def order_body(quantity: int = 2, unit_price: float = 149.95) -> dict:
    """Return a valid create-order body with a product id of its own."""
    return {
        "customerId": CUSTOMER,
        "items": [{"productId": str(uuid.uuid4()), "quantity": quantity, "unitPrice": unit_price}],
    }


@contextmanager
def autocommit_connection(database_url: str) -> Iterator[psycopg2.extensions.connection]:
    """Open a connection of the test's own, in autocommit mode; close it afterwards."""
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def connection_pool(database_url: str, size: int = 4) -> Iterator[ConnectionPool]:
    """A pool of the service's own kind on ``database_url``; closed afterwards."""
    pool = ConnectionPool(database_url, size)
    try:
        yield pool
    finally:
        pool.close()


def concurrently(call: Callable[[], T], times: int) -> list[T]:
    """Run ``call`` from ``times`` threads at once; return what each returned."""
    results: list[T] = []
    threads = [threading.Thread(target=lambda: results.append(call())) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def query_one(conn: psycopg2.extensions.connection, sql: str, *params: object) -> tuple:
    """Run a query and return its first row."""
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def wait_for(check: Callable[[], T | None], timeout: float, what: str, pause: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy, or fail after ``timeout`` seconds.

    The tests' positional shorthand for ``embedded_stack.polling.wait_until``.
    """
    return wait_until(check, timeout=timeout, what=what, interval=pause)


def produce_values(
    bootstrap: str,
    topic: str,
    values: list[str],
    *,
    timeout_ms: int = 20_000,
    retries: int = 2_147_483_647,
) -> list[KafkaError | None]:
    """Produce one message per value with ``acks=all``, one at a time; return each error.

    Not idempotent, as the service publishes: an idempotent producer is fenced for good
    after one timeout on Tansu, and ``retries=0`` (which idempotence forbids) lets a
    broker's refusal reach the report instead of a retry until the timeout.
    """
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": False,
            "acks": "all",
            "message.timeout.ms": timeout_ms,
            "linger.ms": 0,
            "retries": retries,
        }
    )
    errors: list[KafkaError | None] = []
    for value in values:
        producer.produce(topic, value.encode(), on_delivery=lambda err, _msg: errors.append(err))
        producer.flush(timeout_ms / 1000 + 5)
    assert len(errors) == len(values), "a delivery report is missing"
    return errors


def topic_values(bootstrap: str, topic: str, timeout: float = 30) -> list[str]:
    """Read the topic from its start to its end; return each message's text."""
    records = TopicReader(bootstrap, topic, timeout=timeout).read_since({})
    return [record.raw.decode() for record in records if record.raw is not None]
