"""The unit of work on the real database (``PostgresUnitOfWork``), as cosmicpython's test_uow.

Leaving the block rolls back unless ``commit()`` ran; an error rolls back too. Nested
blocks on one unit of work join the outer transaction (``service.domain.ports.UnitOfWork``):
an inner ``commit()`` is left to the outermost block, which is what lets the chaos boundary
roll back an order the ordinary use case believes it committed. What another connection
sees is read on the test's own autocommit connection (``db``), so "committed" means
committed in PostgreSQL, not in the unit of work's flags.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID, uuid4

import psycopg2.extensions
import pytest

from service.adapters.postgres import PostgresUnitOfWork
from service.adapters.postgres_connections import ConnectionPool
from service.bootstrap import prepare_database
from service.domain.model import Order, OrderItem
from service.domain.use_cases import CreateOrderCommand, CreateOrderViaOutbox, ItemLine
from tests.integration.helpers import connection_pool, query_one


class Boom(Exception):
    """The error a test raises inside a block."""


@pytest.fixture(scope="module")
def pool(config) -> Iterator[ConnectionPool]:
    """A pool of the service's own kind on the migrated database."""
    prepare_database(config)
    with connection_pool(config.database_url) as pool:
        yield pool


@pytest.fixture
def uow(pool: ConnectionPool) -> PostgresUnitOfWork:
    return PostgresUnitOfWork(pool)


def an_order() -> Order:
    """Return a new order whose ids no other test uses."""
    item = OrderItem(uuid4(), 2, Decimal("149.95"))
    return Order.place(uuid4(), uuid4(), (item,), datetime.now(UTC))


def stored_rows(db: psycopg2.extensions.connection, order_id: UUID) -> tuple[int, int]:
    """Return the committed ``orders`` and ``order_items`` rows of the order."""
    (orders,) = query_one(db, "SELECT count(*) FROM orders WHERE id = %s", str(order_id))
    (items,) = query_one(db, "SELECT count(*) FROM order_items WHERE order_id = %s", str(order_id))
    return orders, items


def test_rolls_back_uncommitted_work_by_default(uow, db):
    order = an_order()

    with uow:
        uow.orders.add(order)

    assert stored_rows(db, order.id) == (0, 0)
    assert (uow.rolled_back, uow.committed) == (True, False)


def test_rolls_back_on_error(uow, db):
    order = an_order()

    with pytest.raises(Boom), uow:
        uow.orders.add(order)
        raise Boom

    assert stored_rows(db, order.id) == (0, 0)
    assert uow.rolled_back


def test_commits_when_commit_is_called(uow, pool, db):
    order = an_order()

    with uow:
        uow.orders.add(order)
        uow.commit()

    assert stored_rows(db, order.id) == (1, 1)
    assert (uow.committed, uow.rolled_back) == (True, False)
    with PostgresUnitOfWork(pool) as fresh:
        assert fresh.orders.get(order.id) == order


def test_a_nested_commit_is_left_to_the_outermost_block(uow, db):
    order = an_order()

    with uow:
        with uow:
            assert uow.joined
            uow.orders.add(order)
            uow.commit()
        # Still inside the outer block: nothing is committed, nothing visible elsewhere.
        assert stored_rows(db, order.id) == (0, 0)
        assert not uow.committed
        uow.commit()

    assert stored_rows(db, order.id) == (1, 1)
    assert uow.committed


def test_leaving_the_outer_block_rolls_back_what_a_nested_block_committed(uow, db):
    order = an_order()

    with pytest.raises(Boom), uow:
        with uow:
            uow.orders.add(order)
            uow.commit()
        raise Boom

    assert stored_rows(db, order.id) == (0, 0)
    assert (uow.rolled_back, uow.committed) == (True, False)


def test_a_use_case_that_commits_inside_an_outer_block_is_rolled_back_with_it(uow, db):
    # The chaos boundary's shape, with the outbox use case (it publishes nothing itself).
    command = CreateOrderCommand(uuid4(), (ItemLine(uuid4(), 1, Decimal("5.00")),))

    with uow:
        result = CreateOrderViaOutbox(lambda: datetime.now(UTC))(command, uow)
        assert uow.outbox.count_for_order(result.order_id) == 1

    assert stored_rows(db, result.order_id) == (0, 0)
    assert query_one(
        db, "SELECT count(*) FROM outbox WHERE message_key = %s", str(result.order_id)
    ) == (0,)
    assert uow.rolled_back


def test_each_outermost_block_is_a_transaction_of_its_own(uow, db):
    dropped, kept = an_order(), an_order()

    with uow:
        uow.orders.add(dropped)
    with uow:
        uow.orders.add(kept)
        uow.commit()

    assert stored_rows(db, dropped.id) == (0, 0)
    assert stored_rows(db, kept.id) == (1, 1)


def test_the_count_shows_the_query_it_ran_with_the_id_filled_in(uow, db):
    order = an_order()
    with uow:
        uow.orders.add(order)
        uow.commit()

    with uow:
        count = uow.orders.count_rows(order.id)

    assert count.rows == 1
    assert count.query == f"SELECT count(*) FROM orders WHERE id = '{order.id}'"
    # The shown text is runnable as it stands and counts the same.
    assert query_one(db, count.query) == (1,)
