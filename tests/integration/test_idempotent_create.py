"""Retries are safe: an Idempotency-Key places one order, and a lost COMMIT says so.

On a PostgreSQL of the tests' own (a deferred trigger there holds COMMIT open while the
test ends the connection) and the session's broker; rows are read by query, events on the
topic.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal

import psycopg2
import pytest

from evidence.topic_reader import TopicReader
from service.adapters.kafka import KafkaOrderEventPublisher
from service.adapters.postgres import PostgresUnitOfWork
from service.adapters.postgres_connections import ConnectionPool
from service.app import utc_now
from service.bootstrap import prepare_database, prepare_topics
from service.config import load_config
from service.domain.errors import CommitOutcomeUnknown, IdempotencyKeyReused
from service.domain.use_cases import (
    CreateOrder,
    CreateOrderCommand,
    CreateOrderViaOutbox,
    ItemLine,
)
from tests.integration.helpers import (
    autocommit_connection,
    concurrently,
    connection_pool,
    query_one,
    wait_for,
)


@pytest.fixture
def database(dedicated_postgres, stack) -> str:
    config = load_config(
        {
            "MARS_DATABASE_URL": dedicated_postgres.url,
            "MARS_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
        }
    )
    prepare_database(config)
    prepare_topics(config)
    return dedicated_postgres.url


@pytest.fixture
def pool(database) -> Iterator[ConnectionPool]:
    with connection_pool(database) as pool:
        yield pool


@pytest.fixture
def publisher(stack) -> Iterator[KafkaOrderEventPublisher]:
    publisher = KafkaOrderEventPublisher(stack.kafka_bootstrap_servers)
    try:
        yield publisher
    finally:
        publisher.close()


@pytest.fixture
def db(database) -> Iterator[psycopg2.extensions.connection]:
    with autocommit_connection(database) as conn:
        yield conn


def a_command(key: str | None, quantity: int = 2) -> CreateOrderCommand:
    return CreateOrderCommand(
        uuid.UUID("550e8400-e29b-41d4-a716-446655440000"),
        (ItemLine(uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), quantity, Decimal("9.90")),),
        key,
    )


def orders_with_key(db, key: str) -> int:
    return query_one(db, "SELECT count(*) FROM orders WHERE idempotency_key = %s", key)[0]


def events_of(stack, since: dict, order_id: object) -> int:
    records = TopicReader(stack.kafka_bootstrap_servers, "order.created").read_since(since)
    return sum(1 for r in records if r.key == str(order_id))


@pytest.mark.parametrize("outbox", [False, True], ids=["dual-write", "outbox"])
def test_a_repeat_with_the_same_key_answers_the_first_order_and_writes_nothing(
    pool, publisher, db, stack, outbox
):
    create = CreateOrderViaOutbox(utc_now) if outbox else CreateOrder(publisher, utc_now)
    key = f"retry-{uuid.uuid4()}"
    since = TopicReader(stack.kafka_bootstrap_servers, "order.created").end_positions()

    first = create(a_command(key), PostgresUnitOfWork(pool))
    again = create(a_command(key), PostgresUnitOfWork(pool))

    assert again.order_id == first.order_id
    assert again.replayed and not first.replayed
    assert orders_with_key(db, key) == 1
    outbox_rows = query_one(
        db, "SELECT count(*) FROM outbox WHERE message_key = %s", str(first.order_id)
    )[0]
    assert outbox_rows == (1 if outbox else 0)
    if not outbox:
        assert events_of(stack, since, first.order_id) == 1


def test_the_same_key_with_another_order_is_refused_and_writes_nothing(pool, publisher, db):
    create = CreateOrder(publisher, utc_now)
    key = f"reuse-{uuid.uuid4()}"
    first = create(a_command(key, quantity=2), PostgresUnitOfWork(pool))
    rows_before = query_one(db, "SELECT count(*) FROM orders")[0]

    with pytest.raises(IdempotencyKeyReused) as refused:
        create(a_command(key, quantity=3), PostgresUnitOfWork(pool))

    assert refused.value.order_id == first.order_id
    assert query_one(db, "SELECT count(*) FROM orders")[0] == rows_before


def test_concurrent_requests_with_one_key_place_one_order(pool, publisher, db):
    create = CreateOrder(publisher, utc_now)
    key = f"race-{uuid.uuid4()}"
    results = concurrently(lambda: create(a_command(key), PostgresUnitOfWork(pool)), 4)

    assert len({r.order_id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert orders_with_key(db, key) == 1


@pytest.fixture
def slow_commit(db) -> Iterator[uuid.UUID]:
    """A deferred trigger that holds COMMIT for 10 s for orders of one customer."""
    customer = uuid.uuid4()
    with db.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION test_slow_commit() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN PERFORM pg_sleep(10); RETURN NULL; END $$"
        )
        cursor.execute(
            "CREATE CONSTRAINT TRIGGER test_slow_commit AFTER INSERT ON orders "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            f"WHEN (NEW.customer_id = '{customer}') EXECUTE FUNCTION test_slow_commit()"
        )
    try:
        yield customer
    finally:
        with db.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS test_slow_commit ON orders")
            cursor.execute("DROP FUNCTION IF EXISTS test_slow_commit()")


def test_a_commit_whose_connection_is_lost_is_named_unknown_and_publishes_nothing(
    pool, publisher, db, stack, slow_commit, caplog
):
    create = CreateOrder(publisher, utc_now)
    since = TopicReader(stack.kafka_bootstrap_servers, "order.created").end_positions()
    command = CreateOrderCommand(slow_commit, a_command(None).items)
    outcome: list[BaseException] = []

    def place() -> None:
        try:
            create(command, PostgresUnitOfWork(pool))
        except BaseException as ex:
            outcome.append(ex)

    with caplog.at_level(logging.WARNING):
        thread = threading.Thread(target=place)
        thread.start()
        # The connection that sits in COMMIT (inside the deferred trigger) is cut.
        backend = wait_for(
            lambda: query_one(
                db,
                "SELECT pid FROM pg_stat_activity WHERE query = 'COMMIT' AND state = 'active'",
            ),
            10,
            "the order's COMMIT in flight",
        )[0]
        query_one(db, "SELECT pg_terminate_backend(%s)", backend)
        thread.join(timeout=30)

    (error,) = outcome
    assert isinstance(error, CommitOutcomeUnknown)
    order_id = error.order_id
    assert order_id is not None
    assert f"COMMIT OUTCOME UNKNOWN for orderId={order_id}" in caplog.text
    assert f"DUAL WRITE FAILURE — EVENT LOST for orderId={order_id}" in caplog.text
    # This time the server had not committed: no row, and no event was published.
    assert query_one(db, "SELECT count(*) FROM orders WHERE id = %s", str(order_id))[0] == 0
    assert events_of(stack, since, order_id) == 0
