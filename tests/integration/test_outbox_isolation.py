"""The relay isolates failures: one row the broker refuses holds back nobody else's.

On a PostgreSQL of the tests' own (its outbox holds only what these tests put there) and
the session's broker. A payload over the producer's message size limit is a row that fails
every time, as a real poisoned row would.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from falcon import testing

from evidence.topic_reader import TopicReader
from service.adapters.postgres import PostgresUnitOfWork
from service.adapters.postgres_connections import ConnectionPool, DatabaseBounds
from service.app import create_app
from service.bootstrap import Runtime, prepare_database, start_runtime
from service.config import Config, load_config
from tests.integration.helpers import autocommit_connection, order_body, query_one, wait_for

STUCK_AFTER = 3


@pytest.fixture
def outbox_config(stack, dedicated_postgres) -> Config:
    return load_config(
        {
            "MARS_DATABASE_URL": dedicated_postgres.url,
            "MARS_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
            "MARS_PROFILES_ACTIVE": "outbox",
            "MARS_OUTBOX_POLL_INTERVAL_MS": "50",
            "MARS_OUTBOX_BACKOFF_MAX_MS": "200",
            "MARS_OUTBOX_STUCK_AFTER_ATTEMPTS": str(STUCK_AFTER),
            "MARS_KAFKA_CONSUMER_GROUP": f"order-service-isolation-{uuid.uuid4()}",
        }
    )


@pytest.fixture
def db(outbox_config: Config) -> Iterator[psycopg2.extensions.connection]:
    prepare_database(outbox_config)
    with autocommit_connection(outbox_config.database_url) as conn:
        yield conn


@pytest.fixture
def poisoned_key(db) -> Iterator[str]:
    """An outbox row whose payload (1.2 MB) the producer refuses every time."""
    key = str(uuid.uuid4())
    payload = '{"padding": "' + "x" * 1_200_000 + '"}'
    with db.cursor() as cursor:
        cursor.execute(
            "INSERT INTO outbox (event_id, topic, message_key, payload, created_at) "
            "VALUES (%s, 'order.created', %s, %s, now())",
            (str(uuid.uuid4()), key, payload),
        )
    try:
        yield key
    finally:
        with db.cursor() as cursor:
            cursor.execute("DELETE FROM outbox WHERE message_key = %s", (key,))


@pytest.fixture
def runtime(outbox_config: Config, poisoned_key: str) -> Iterator[Runtime]:
    running = start_runtime(outbox_config, consume_cancellations=False)
    try:
        yield running
    finally:
        running.close()


def test_a_row_the_broker_refuses_holds_back_no_other_order_and_is_reported_stuck(
    outbox_config, runtime, poisoned_key, db, stack
):
    client = testing.TestClient(create_app(outbox_config, runtime.adapters))
    since = TopicReader(stack.kafka_bootstrap_servers, "order.created").end_positions()
    # The poisoned row was first: its failures must not delay what comes after it.
    wait_for(
        lambda: query_one(db, "SELECT attempts FROM outbox WHERE message_key = %s", poisoned_key)[
            0
        ],
        10,
        "a first failed attempt of the poisoned row",
    )
    started = time.monotonic()
    order_ids = [
        client.simulate_post("/orders", json=order_body()).json["orderId"] for _ in range(5)
    ]

    def delivered() -> bool:
        keys = {
            r.key
            for r in TopicReader(stack.kafka_bootstrap_servers, "order.created").read_since(since)
        }
        return set(order_ids) <= keys

    wait_for(delivered, 10, "the events of the orders placed after the poisoned row", 0.1)
    delivered_after = time.monotonic() - started

    def stuck_health() -> dict | None:
        details = client.simulate_get("/actuator/health").json["components"]["outbox"]["details"]
        return details if details["stuckRows"] else None

    details = wait_for(stuck_health, 15, "the poisoned row reported stuck")
    metrics = client.simulate_get("/metrics").text
    attempts, last_error = query_one(
        db, "SELECT attempts, last_error FROM outbox WHERE message_key = %s", poisoned_key
    )
    print(
        f"\n5 orders delivered {delivered_after:.2f} s after they were placed, "
        "behind a poisoned row"
    )

    assert delivered_after < 2.0
    assert details["stuckRows"] == 1
    assert details["oldestStuckOrderId"] == poisoned_key
    assert "MSG_SIZE_TOO_LARGE" in details["oldestStuckLastError"]
    assert "outbox_stuck_rows 1.0" in metrics
    # Never deleted: still there, still retried.
    assert attempts >= STUCK_AFTER
    assert "MSG_SIZE_TOO_LARGE" in last_error


def test_a_frozen_relay_releases_its_claim_after_the_idle_in_transaction_timeout(
    dedicated_postgres, db, poisoned_key
):
    bounds = DatabaseBounds(idle_in_transaction=1.0)
    frozen, other = (ConnectionPool(dedicated_postgres.url, 1, bounds) for _ in range(2))
    try:
        with PostgresUnitOfWork(frozen) as uow:
            claimed = [m.key for m in uow.outbox.claim_batch(10)]
            assert poisoned_key in claimed
            started = time.monotonic()
            # This relay now stops answering while it holds the rows (its host froze).

            def claimed_by_the_other() -> bool:
                with PostgresUnitOfWork(other) as second:
                    return poisoned_key in [m.key for m in second.outbox.claim_batch(10)]

            assert not claimed_by_the_other()
            wait_for(claimed_by_the_other, 10, "the rows claimed by another relay", 0.1)
            released_after = time.monotonic() - started
    finally:
        frozen.close()
        other.close()
    print(f"\nthe claim was released {released_after:.2f} s after the relay froze")
    assert 1.0 <= released_after < 3.0


def test_the_service_sets_the_server_side_bounds_on_its_connections(outbox_config, runtime):
    with runtime.pool.connection() as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('statement_timeout'), "
            "current_setting('idle_in_transaction_session_timeout')"
        )
        statement, idle = cursor.fetchone()
    assert statement == "5s"
    # The publish timeout (5 s) + the statement timeout (5 s) + 5 s of slack.
    assert idle == "15s"
