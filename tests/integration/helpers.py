"""Small helpers shared by the integration tests."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg2
import psycopg2.extensions

from embedded_stack.polling import wait_until
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
