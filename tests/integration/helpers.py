"""Small helpers shared by the integration tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TypeVar

import psycopg2.extensions

T = TypeVar("T")

CUSTOMER = "550e8400-e29b-41d4-a716-446655440000"


def order_body(quantity: int = 2, unit_price: float = 149.95) -> dict:
    """Return a valid create-order body with a product id of its own."""
    return {
        "customerId": CUSTOMER,
        "items": [{"productId": str(uuid.uuid4()), "quantity": quantity, "unitPrice": unit_price}],
    }


def query_one(conn: psycopg2.extensions.connection, sql: str, *params: object) -> tuple:
    """Run a query and return its first row."""
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def wait_for(check: Callable[[], T | None], timeout: float, what: str, pause: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        time.sleep(pause)
