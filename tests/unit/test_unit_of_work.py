"""The unit of work's rules (``service.domain.ports.UnitOfWork``), run on the dict-backed fake."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest

from service.domain.model import Order, OrderItem

from .conftest import NOW
from .fakes import FakeDatabase, FakeUnitOfWork


def an_order() -> Order:
    return Order.place(uuid4(), uuid4(), (OrderItem(uuid4(), 1, Decimal("5.00")),), NOW)


class RollbackFails(FakeUnitOfWork):
    def _rollback(self) -> None:
        raise ConnectionError("connection lost during rollback")


def test_rolls_back_uncommitted_work_by_default(database):
    order = an_order()
    uow = FakeUnitOfWork(database)

    with uow:
        uow.orders.add(order)

    assert order.id not in database.committed
    assert uow.rolled_back
    assert not uow.committed


def test_commit_persists_the_work(database):
    order = an_order()
    uow = FakeUnitOfWork(database)

    with uow:
        uow.orders.add(order)
        uow.commit()

    assert database.committed == {order.id: order}
    assert uow.committed
    assert not uow.rolled_back


def test_rolls_back_on_error(database):
    uow = FakeUnitOfWork(database)

    with pytest.raises(RuntimeError), uow:
        uow.orders.add(an_order())
        raise RuntimeError("boom")

    assert database.committed == {}
    assert uow.rolled_back


def test_a_later_unit_of_work_sees_only_committed_orders(database):
    kept, dropped = an_order(), an_order()
    with FakeUnitOfWork(database) as uow:
        uow.orders.add(kept)
        uow.commit()
    with FakeUnitOfWork(database) as uow:
        uow.orders.add(dropped)

    with FakeUnitOfWork(database) as fresh:
        assert fresh.orders.count_rows(kept.id).rows == 1
        assert fresh.orders.count_rows(dropped.id).rows == 0


def test_nested_block_joins_the_outer_transaction(database):
    uow = FakeUnitOfWork(database)

    with uow:
        assert not uow.joined
        with uow:
            assert uow.joined
        assert not uow.joined

    assert (database.begun, database.ended) == (1, 1)


def test_inner_commit_is_left_to_the_outermost_block(database):
    order = an_order()
    uow = FakeUnitOfWork(database)

    with uow:
        with uow:
            uow.orders.add(order)
            uow.commit()
        assert database.committed == {}
        assert not uow.committed
        uow.commit()

    assert database.committed == {order.id: order}


def test_outer_rollback_discards_the_inner_commit(database):
    order = an_order()
    uow = FakeUnitOfWork(database)

    with pytest.raises(RuntimeError), uow:
        with uow:
            uow.orders.add(order)
            uow.commit()
        raise RuntimeError("the outer block fails after the inner one committed")

    assert database.committed == {}
    assert database.commits == 0
    assert uow.rolled_back


def test_reusing_a_unit_of_work_starts_a_new_transaction(database):
    uow = FakeUnitOfWork(database)
    with uow:
        uow.commit()

    with uow:
        pass

    assert uow.rolled_back
    assert not uow.committed
    assert database.begun == 2


def test_transaction_is_released_even_when_the_rollback_fails():
    database = FakeDatabase()
    uow = RollbackFails(database)

    with pytest.raises(ConnectionError), uow:
        pass

    assert database.open_transactions == 0
