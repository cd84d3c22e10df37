"""The outbox use cases on fakes: create via the outbox, relay, and idempotent cancel."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

import pytest

from service.domain.errors import DuplicateEvent, InvalidOrder, OrderNotFound
from service.domain.events import OrderCancelled
from service.domain.model import OrderStatus
from service.domain.use_cases import (
    CancelOrder,
    CreateOrderCommand,
    CreateOrderViaOutbox,
    ItemLine,
    RelayOutbox,
)
from service.json_forms import encode_order_created

from .conftest import NOW, fixed_clock
from .fakes import FailingUnitOfWork, FakeMessagePublisher, FakeUnitOfWork
from .test_use_cases import a_stored_order

LATER = NOW + timedelta(seconds=3)


def a_command(quantity: int = 2) -> CreateOrderCommand:
    return CreateOrderCommand(uuid4(), (ItemLine(uuid4(), quantity, Decimal("149.95")),))


def create(database, command=None):
    return CreateOrderViaOutbox(fixed_clock)(command or a_command(), FakeUnitOfWork(database))


def relay(database, publisher, batch_size=100, clock=lambda: LATER):
    return RelayOutbox(publisher, clock, batch_size)(FakeUnitOfWork(database))


@pytest.fixture
def messages():
    return FakeMessagePublisher()


def test_create_via_outbox_commits_the_order_and_its_event_together(database, publisher):
    result = create(database)

    assert result.order_id in database.committed
    [row] = database.outbox.values()
    assert (row.event_id, row.topic, row.key) == (
        result.event.event_id,
        "order.created",
        str(result.order_id),
    )
    assert row.payload == encode_order_created(result.event)
    assert row.created_at == NOW == result.event.occurred_at
    assert database.commits == 1


def test_create_via_outbox_publishes_nothing_itself(database, publisher):
    result = create(database)

    assert result.via_outbox
    assert not result.event_sent
    assert (result.delivery, result.publish_error) == (None, None)
    assert publisher.untouched


def test_order_and_its_outbox_row_roll_back_together(database):
    uow = FakeUnitOfWork(database)

    with pytest.raises(RuntimeError), uow:
        CreateOrderViaOutbox(fixed_clock)(a_command(), uow)
        raise RuntimeError("the surrounding transaction fails")

    assert database.committed == {}
    assert database.outbox == {}


def test_failed_commit_leaves_neither_order_nor_event(database):
    uow = FailingUnitOfWork(database, ConnectionError("server closed the connection"), "commit")

    with pytest.raises(ConnectionError):
        CreateOrderViaOutbox(fixed_clock)(a_command(), uow)

    assert database.committed == {}
    assert database.outbox == {}


def test_rejected_order_writes_no_outbox_row(database):
    with pytest.raises(InvalidOrder):
        create(database, a_command(quantity=0))

    assert database.untouched
    assert database.begun == 0


def test_relay_publishes_pending_rows_and_removes_them_after_their_reports(database, messages):
    first, second = create(database), create(database)

    result = relay(database, messages)

    assert [m.key for m in messages.published] == [str(first.order_id), str(second.order_id)]
    assert [m.payload for m in messages.published] == [
        encode_order_created(first.event),
        encode_order_created(second.event),
    ]
    assert database.outbox == {}
    assert result.claimed == 2
    assert result.delays() == [3.0, 3.0]


def test_relay_keeps_unconfirmed_rows_pending_with_their_error(database, messages):
    confirmed, refused = create(database), create(database)
    messages.fail_with("no delivery report within 5 s", str(refused.order_id))

    result = relay(database, messages)

    assert [m.key for m in result.published] == [str(confirmed.order_id)]
    assert [m.key for m in result.failed] == [str(refused.order_id)]
    assert result.error == "no delivery report within 5 s"
    [row_id] = database.outbox
    assert database.outbox[row_id].attempts == 1
    assert database.outbox_errors == {row_id: "no delivery report within 5 s"}


def test_relay_publishes_a_row_again_until_it_is_confirmed(database, messages):
    order = create(database)
    messages.fail_with("broker unreachable")
    relay(database, messages)
    relay(database, messages)
    messages.recover()

    relay(database, messages)

    assert [len(batch) for batch in messages.batches] == [1, 1, 1]
    assert [m.event_id for m in messages.published] == [order.event.event_id]
    assert database.outbox == {}


def test_relay_with_an_empty_outbox_publishes_nothing_and_commits_nothing(database, messages):
    result = relay(database, messages)

    assert result.claimed == 0
    assert messages.batches == []
    assert database.commits == 0
    assert database.open_transactions == 0


def test_relay_takes_at_most_a_batch(database, messages):
    for _ in range(5):
        create(database)

    result = relay(database, messages, batch_size=2)

    assert result.claimed == 2
    assert len(database.outbox) == 3


def test_later_row_of_an_order_waits_until_the_earlier_one_is_confirmed(database, messages):
    first = create(database)
    # A second event of the same order (a later change), queued behind the first.
    with FakeUnitOfWork(database) as uow:
        uow.outbox.add(replace(first.event, event_id=uuid4()))
        uow.commit()
    messages.fail_with("broker unreachable")

    relay(database, messages)
    messages.recover()
    relay(database, messages)
    relay(database, messages)

    assert [len(batch) for batch in messages.batches] == [1, 1, 1]
    assert messages.published[0].event_id == first.event.event_id
    assert len(messages.published) == 2


def test_rows_locked_by_another_relay_are_skipped_and_hold_back_their_order(database, messages):
    held, free = create(database), create(database)
    held_row = next(r.id for r in database.outbox.values() if r.key == str(held.order_id))
    database.locked.add(held_row)

    relay(database, messages)

    assert [m.key for m in messages.published] == [str(free.order_id)]
    assert [r.key for r in database.outbox.values()] == [str(held.order_id)]


def test_relay_reports_delivery_delays_from_each_rows_creation(database, messages):
    create(database)

    result = relay(database, messages, clock=lambda: NOW + timedelta(milliseconds=250))

    assert result.delays() == [0.25]
    assert result.confirmed_at == NOW + timedelta(milliseconds=250)


def test_publisher_gets_each_row_as_stored(database, messages):
    created = create(database)

    relay(database, messages)

    [[message]] = messages.batches
    assert message.topic == "order.created"
    assert message.event_id == created.event.event_id
    assert message.attempts == 0


def keys(batch):
    return [m.key for m in batch]


def test_a_backlog_drain_goes_on_after_the_last_row_claimed(database, messages):
    orders = [str(create(database).order_id) for _ in range(5)]
    passes = RelayOutbox(messages, lambda: LATER, 2)

    results = [passes(FakeUnitOfWork(database)) for _ in range(4)]

    assert [r.after_id for r in results] == [0, 2, 4, 0]
    assert [keys(batch) for batch in messages.batches] == [orders[:2], orders[2:4], orders[4:]]
    # The short third pass looked only after row 4: one more pass follows at once.
    assert [r.rows_may_wait(2) for r in results] == [True, True, True, False]


def test_a_row_committed_after_later_ones_is_taken_by_the_next_scan_from_the_start(
    database, messages
):
    orders = [str(create(database).order_id) for _ in range(4)]
    late = database.outbox.pop(2)  # row 2's transaction has not committed yet
    passes = RelayOutbox(messages, lambda: LATER, 2)
    passes(FakeUnitOfWork(database))
    database.outbox[2] = late  # now it has

    after_the_cursor = passes(FakeUnitOfWork(database))
    from_the_start = passes(FakeUnitOfWork(database))

    assert keys(after_the_cursor.published) == [orders[3]]
    assert keys(from_the_start.published) == [orders[1]]
    assert database.outbox == {}


def test_the_drain_starts_from_the_first_row_again_every_rescan_interval(database, messages):
    for _ in range(6):
        create(database)
    now = [LATER]
    passes = RelayOutbox(messages, lambda: now[0], 2, rescan_every=timedelta(seconds=1))

    first = passes(FakeUnitOfWork(database))
    now[0] += timedelta(seconds=1)
    second = passes(FakeUnitOfWork(database))

    assert (first.after_id, second.after_id) == (0, 0)


def test_a_pass_that_failed_does_not_move_the_drain_on(database, messages):
    for _ in range(4):
        create(database)
    passes = RelayOutbox(messages, lambda: LATER, 2)

    with pytest.raises(ConnectionError):
        passes(FailingUnitOfWork(database, ConnectionError("database away"), stage="commit"))
    result = passes(FakeUnitOfWork(database))

    assert result.after_id == 0
    assert [m.id for m in result.published] == [1, 2]


def a_cancellation(order_id, event_id=None) -> OrderCancelled:
    return OrderCancelled(event_id or uuid4(), order_id, "customer asked", LATER)


def test_cancel_records_the_event_in_the_same_transaction(database):
    order = a_stored_order(database)
    event = a_cancellation(order.id)

    CancelOrder(lambda: LATER)(event, FakeUnitOfWork(database))

    assert database.committed[order.id].status is OrderStatus.CANCELLED
    assert database.processed == {event.event_id: "OrderCancelled"}
    assert database.commits == 1


def test_second_delivery_of_a_cancellation_raises_duplicate_and_changes_nothing(database):
    order = a_stored_order(database)
    event = a_cancellation(order.id)
    CancelOrder(lambda: LATER)(event, FakeUnitOfWork(database))

    with pytest.raises(DuplicateEvent) as caught:
        CancelOrder(lambda: LATER + timedelta(hours=1))(event, FakeUnitOfWork(database))

    assert caught.value.event_id == event.event_id
    assert database.committed[order.id].updated_at == LATER
    assert database.commits == 1


def test_duplicate_is_recognised_by_its_event_id_alone(database):
    first, second = a_stored_order(database), a_stored_order(database)
    event = a_cancellation(first.id)
    CancelOrder(lambda: LATER)(event, FakeUnitOfWork(database))

    with pytest.raises(DuplicateEvent):
        CancelOrder(lambda: LATER)(
            a_cancellation(second.id, event.event_id), FakeUnitOfWork(database)
        )

    assert database.committed[second.id].status is OrderStatus.CREATED


def test_cancellation_of_an_unknown_order_is_not_recorded_as_handled(database):
    event = a_cancellation(uuid4())

    with pytest.raises(OrderNotFound):
        CancelOrder(lambda: LATER)(event, FakeUnitOfWork(database))

    assert database.processed == {}
    assert database.open_transactions == 0
