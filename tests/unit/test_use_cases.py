"""The use cases on fakes: create (the Dual Write), get and cancel."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from service.domain.errors import InvalidOrder, OrderNotFound
from service.domain.events import OrderCancelled
from service.domain.model import Order, OrderItem, OrderStatus
from service.domain.ports import Delivery
from service.domain.use_cases import (
    CancelOrder,
    CreateOrder,
    CreateOrderCommand,
    GetOrder,
    ItemLine,
)

from .conftest import NOW, fixed_clock
from .fakes import FailingUnitOfWork, FakeDatabase, FakePublisher, FakeUnitOfWork

LATER = NOW + timedelta(minutes=10)


class CommitCheckingPublisher(FakePublisher):
    """Notes, at each publish, whether the event's order was already committed."""

    def __init__(self, database: FakeDatabase) -> None:
        super().__init__()
        self._database = database
        self.committed_at_publish: list[bool] = []

    def publish(self, event):
        self.committed_at_publish.append(event.order_id in self._database.committed)
        return super().publish(event)


def a_command(*lines: ItemLine) -> CreateOrderCommand:
    lines = lines or (ItemLine(uuid4(), 2, Decimal("149.95")),)
    return CreateOrderCommand(customer_id=uuid4(), items=lines)


def a_stored_order(database: FakeDatabase, status=OrderStatus.CREATED) -> Order:
    order = Order(uuid4(), uuid4(), (OrderItem(uuid4(), 1, Decimal("5.00")),), status, NOW, NOW)
    database.committed[order.id] = order
    return order


def a_cancellation(order_id: UUID) -> OrderCancelled:
    return OrderCancelled(uuid4(), order_id, "customer changed their mind", LATER)


def test_create_order_commits_the_order(database, publisher):
    command = a_command()

    result = CreateOrder(publisher, fixed_clock)(command, FakeUnitOfWork(database))

    stored = database.committed[result.order_id]
    assert stored.customer_id == command.customer_id
    assert stored.status is OrderStatus.CREATED
    assert stored.total == Decimal("299.90")
    assert stored.created_at == NOW


def test_create_order_publishes_its_event_after_the_commit(database):
    publisher = CommitCheckingPublisher(database)

    CreateOrder(publisher, fixed_clock)(a_command(), FakeUnitOfWork(database))

    assert publisher.committed_at_publish == [True]


def test_create_order_event_carries_the_order_id_total_and_items(database, publisher):
    line = ItemLine(uuid4(), 3, Decimal("0.10"))
    command = a_command(line)

    result = CreateOrder(publisher, fixed_clock)(command, FakeUnitOfWork(database))

    [event] = publisher.events
    assert event == result.event
    assert event.order_id == result.order_id
    assert event.customer_id == command.customer_id
    assert event.total_amount == Decimal("0.30")
    assert [(i.product_id, i.quantity, i.unit_price) for i in event.items] == [
        (line.product_id, 3, Decimal("0.10"))
    ]
    assert event.occurred_at == NOW
    assert event.event_id != event.order_id


def test_create_order_returns_the_delivery_report(database, publisher):
    result = CreateOrder(publisher, fixed_clock)(a_command(), FakeUnitOfWork(database))

    assert result.delivery == Delivery("order.created", 0, 0)
    assert result.event_sent
    assert result.publish_error is None


def test_create_order_uses_the_id_factory_for_order_and_event(database, publisher):
    ids = iter([UUID(int=1), UUID(int=2)])

    result = CreateOrder(publisher, fixed_clock, new_id=lambda: next(ids))(
        a_command(), FakeUnitOfWork(database)
    )

    assert (result.order_id, result.event.event_id) == (UUID(int=1), UUID(int=2))


def test_failed_publish_keeps_the_order_committed(database, publisher):
    publisher.fail_with("broker unreachable")

    result = CreateOrder(publisher, fixed_clock)(a_command(), FakeUnitOfWork(database))

    assert result.order_id in database.committed
    assert result.delivery is None
    assert not result.event_sent
    assert result.publish_error == "broker unreachable"
    assert publisher.events == []
    assert [e.order_id for e in publisher.attempts] == [result.order_id]


def test_failed_publish_logs_the_lost_event(database, publisher, caplog):
    publisher.fail_with("no delivery report within 5 s")

    with caplog.at_level(logging.WARNING, logger="service.domain.use_cases"):
        result = CreateOrder(publisher, fixed_clock)(a_command(), FakeUnitOfWork(database))

    [record] = [r for r in caplog.records if "DUAL WRITE FAILURE" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert f"DUAL WRITE FAILURE — EVENT LOST for orderId={result.order_id}" in record.getMessage()
    assert "no delivery report within 5 s" in record.getMessage()


def test_successful_publish_logs_no_failure(database, publisher, caplog):
    with caplog.at_level(logging.WARNING):
        CreateOrder(publisher, fixed_clock)(a_command(), FakeUnitOfWork(database))

    assert "DUAL WRITE FAILURE" not in caplog.text


def test_order_whose_commit_fails_is_never_published(database, publisher):
    uow = FailingUnitOfWork(database, ConnectionError("server closed the connection"), "commit")

    with pytest.raises(ConnectionError):
        CreateOrder(publisher, fixed_clock)(a_command(), uow)

    assert database.committed == {}
    assert publisher.untouched


def test_rejected_order_writes_nothing_and_publishes_nothing(database, publisher):
    command = a_command(ItemLine(uuid4(), 0, Decimal("1.00")))

    with pytest.raises(InvalidOrder):
        CreateOrder(publisher, fixed_clock)(command, FakeUnitOfWork(database))

    assert database.untouched
    assert database.begun == 0
    assert publisher.untouched


def test_get_order_returns_the_stored_order(database):
    order = a_stored_order(database)

    assert GetOrder()(order.id, FakeUnitOfWork(database)) == order


def test_get_order_raises_order_not_found_for_an_unknown_id(database):
    unknown = uuid4()

    with pytest.raises(OrderNotFound) as caught:
        GetOrder()(unknown, FakeUnitOfWork(database))

    assert caught.value.order_id == unknown
    assert str(unknown) in str(caught.value)


def test_get_order_leaves_no_transaction_open(database):
    order = a_stored_order(database)

    GetOrder()(order.id, FakeUnitOfWork(database))
    with pytest.raises(OrderNotFound):
        GetOrder()(uuid4(), FakeUnitOfWork(database))

    assert database.open_transactions == 0
    assert database.commits == 0


def test_cancel_order_cancels_and_commits(database):
    order = a_stored_order(database)
    uow = FakeUnitOfWork(database)

    cancelled = CancelOrder(lambda: LATER)(a_cancellation(order.id), uow)

    assert cancelled.status is OrderStatus.CANCELLED
    assert database.committed[order.id].status is OrderStatus.CANCELLED
    assert database.committed[order.id].updated_at == LATER
    assert uow.orders.locked == [order.id]


def test_cancel_order_is_a_no_op_on_a_cancelled_order(database):
    order = a_stored_order(database, OrderStatus.CANCELLED)
    event = a_cancellation(order.id)

    result = CancelOrder(lambda: LATER)(event, FakeUnitOfWork(database))

    assert result == order
    assert database.committed[order.id].updated_at == NOW
    # The order is unchanged; only the event's id is recorded as handled.
    assert database.processed == {event.event_id: "OrderCancelled"}


def test_cancel_order_raises_order_not_found_for_an_unknown_id(database):
    unknown = uuid4()

    with pytest.raises(OrderNotFound) as caught:
        CancelOrder(lambda: LATER)(a_cancellation(unknown), FakeUnitOfWork(database))

    assert caught.value.order_id == unknown
    assert database.committed == {}
    assert database.open_transactions == 0
