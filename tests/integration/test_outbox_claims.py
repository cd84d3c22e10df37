"""The outbox's SQL on real PostgreSQL: one transaction, row locks, per-order ordering.

The publisher is a fake of our own port (no broker is needed to test which rows a relay
locks and when it removes them); the database, its locks and ``SKIP LOCKED`` are real.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import replace
from decimal import Decimal
from uuid import uuid4

import psycopg2
import pytest

from embedded_stack.databases import private_database
from service.adapters.migrations import apply_migrations
from service.adapters.postgres import ConnectionPool, PostgresUnitOfWork, read_outbox_backlog
from service.app import utc_now
from service.domain.ports import OutboxMessage, PublishOutcome
from service.domain.use_cases import (
    CreateOrderCommand,
    CreateOrderViaOutbox,
    ItemLine,
    RelayOutbox,
)
from service.json_forms import encode_order_created
from tests.integration.helpers import connection_pool
from tests.integration.outbox_support import scalar
from tests.unit.fakes import FakeMessagePublisher

WAIT = 10


class HoldingPublisher(FakeMessagePublisher):
    """Confirms like the fake, but only once released: a relay caught mid-publish."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = threading.Event()
        self.release = threading.Event()

    def publish_messages(self, messages: Sequence[OutboxMessage]) -> list[PublishOutcome]:
        self.holding.set()
        assert self.release.wait(WAIT), "the test never released the publisher"
        return super().publish_messages(messages)


@pytest.fixture
def database(stack) -> Iterator[str]:
    with private_database(stack.database_url) as url:
        with closing(psycopg2.connect(url)) as conn:
            apply_migrations(conn)
        yield url


@pytest.fixture
def pool(database) -> Iterator[ConnectionPool]:
    with connection_pool(database) as pool:
        yield pool


def a_command() -> CreateOrderCommand:
    return CreateOrderCommand(uuid4(), (ItemLine(uuid4(), 2, Decimal("149.95")),))


def place_orders(pool: ConnectionPool, how_many: int) -> list[str]:
    create = CreateOrderViaOutbox(utc_now)
    return [str(create(a_command(), PostgresUnitOfWork(pool)).order_id) for _ in range(how_many)]


def in_thread(target) -> threading.Thread:
    thread = threading.Thread(target=target)
    thread.start()
    return thread


def test_order_and_its_outbox_row_commit_together_with_the_exact_payload(pool, database):
    result = CreateOrderViaOutbox(utc_now)(a_command(), PostgresUnitOfWork(pool))

    order_id = str(result.order_id)
    assert scalar(database, "SELECT count(*) FROM orders WHERE id = %s", order_id) == 1
    with closing(psycopg2.connect(database)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT event_id, topic, message_key, payload::text, created_at FROM outbox")
        [(event_id, topic, key, payload, created_at)] = cursor.fetchall()
    assert (event_id, topic, key) == (str(result.event.event_id), "order.created", order_id)
    assert payload.encode() == encode_order_created(result.event)
    assert created_at == result.event.occurred_at


def test_order_and_its_outbox_row_roll_back_together(pool, database):
    uow = PostgresUnitOfWork(pool)

    with pytest.raises(RuntimeError), uow:
        result = CreateOrderViaOutbox(utc_now)(a_command(), uow)
        raise RuntimeError("the surrounding transaction fails after the use case")

    assert uow.rolled_back
    assert scalar(database, "SELECT count(*) FROM orders WHERE id = %s", str(result.order_id)) == 0
    assert scalar(database, "SELECT count(*) FROM outbox") == 0


def test_relay_removes_only_confirmed_rows_and_notes_the_failed_attempt(pool, database):
    confirmed_id, refused_id = place_orders(pool, 2)
    publisher = FakeMessagePublisher()
    publisher.fail_with("no delivery report within 2 s", refused_id)

    result = RelayOutbox(publisher, utc_now)(PostgresUnitOfWork(pool))

    assert [m.key for m in result.published] == [confirmed_id]
    assert [m.key for m in result.failed] == [refused_id]
    with closing(psycopg2.connect(database)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT message_key, attempts, last_error FROM outbox")
        assert cursor.fetchall() == [(refused_id, 1, "no delivery report within 2 s")]
    backlog = read_outbox_backlog(database, 2)
    assert backlog.pending == 1
    assert backlog.oldest_created_at is not None


def test_two_relays_never_publish_the_same_row(pool, database):
    order_ids = place_orders(pool, 30)
    holding = HoldingPublisher()
    other = FakeMessagePublisher()

    first = in_thread(lambda: RelayOutbox(holding, utc_now, 10)(PostgresUnitOfWork(pool)))
    assert holding.holding.wait(WAIT)
    RelayOutbox(other, utc_now, 100)(PostgresUnitOfWork(pool))
    holding.release.set()
    first.join(WAIT)

    held = [m.key for m in holding.published]
    taken = [m.key for m in other.published]
    assert len(held) == 10
    assert set(held).isdisjoint(taken)
    assert sorted(held + taken) == sorted(order_ids)
    assert scalar(database, "SELECT count(*) FROM outbox") == 0


def test_later_row_of_an_order_waits_while_another_relay_holds_the_earlier_one(pool, database):
    first_event = CreateOrderViaOutbox(utc_now)(a_command(), PostgresUnitOfWork(pool)).event
    order_id = str(first_event.order_id)
    # A second event of the same order (say, a later status change) queued behind the first.
    second_event = replace(first_event, event_id=uuid4())
    with PostgresUnitOfWork(pool) as uow:
        uow.outbox.add(second_event)
        uow.commit()
    [unrelated_id] = place_orders(pool, 1)
    holding = HoldingPublisher()
    other = FakeMessagePublisher()

    first = in_thread(lambda: RelayOutbox(holding, utc_now, 1)(PostgresUnitOfWork(pool)))
    assert holding.holding.wait(WAIT)
    while_held = RelayOutbox(other, utc_now, 100)(PostgresUnitOfWork(pool))
    holding.release.set()
    first.join(WAIT)
    after = RelayOutbox(other, utc_now, 100)(PostgresUnitOfWork(pool))

    assert [m.event_id for m in holding.published] == [first_event.event_id]
    # While the first row was held, the other relay took the unrelated order only.
    assert [m.key for m in while_held.published] == [unrelated_id]
    assert [(m.key, m.event_id) for m in after.published] == [(order_id, second_event.event_id)]


def test_a_claim_after_an_id_skips_the_rows_before_it_but_not_their_hold(pool, database):
    first_event = CreateOrderViaOutbox(utc_now)(a_command(), PostgresUnitOfWork(pool)).event
    [unrelated_id] = place_orders(pool, 1)
    # A later event of the first order, behind the claim's starting point.
    with PostgresUnitOfWork(pool) as uow:
        uow.outbox.add(replace(first_event, event_id=uuid4()))
        uow.commit()
    first_row = scalar(database, "SELECT min(id) FROM outbox")

    with PostgresUnitOfWork(pool) as uow:
        claimed = [m.key for m in uow.outbox.claim_batch(10, after_id=first_row)]
    with PostgresUnitOfWork(pool) as uow:
        from_the_start = [m.key for m in uow.outbox.claim_batch(10)]

    # The earlier row of the first order still holds back its later one.
    assert claimed == [unrelated_id]
    assert from_the_start == [str(first_event.order_id), unrelated_id]
