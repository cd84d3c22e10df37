"""The ``order.cancelled`` consumer's decisions, retries, health, metrics and pruning, on fakes.

The polling loop itself (seek, commit, client replacement) runs against the real broker
in ``tests/integration/test_cancellation_consumer.py``; everything it decides is here.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import psycopg2
import pytest
from confluent_kafka import KafkaError, TopicPartition
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import ValidationError

from service.adapters.cancellation_consumer import RETRY_MAX_LIMIT, OrderCancelledConsumer
from service.adapters.cancellation_processing import OrderCancelledProcessor, Outcome, decide
from service.adapters.consumer_health import ConsumerDown, ConsumerHealthProbe
from service.adapters.prometheus import OrderCancelledCollector
from service.config import load_config
from service.domain.errors import DatabaseUnavailable
from service.domain.model import Order, OrderItem, OrderStatus
from service.domain.retry import Backoff
from service.domain.use_cases import CancelOrder, ProcessedEventsPruner
from service.monitoring import Position

from .conftest import NOW, fixed_clock
from .fakes import FakeDatabase, FakeUnitOfWork

LOGGER = "service.adapters.cancellation_processing"
RETRY_INITIAL = 0.5
RETRY_MAX = 4.0


def a_stored_order(database: FakeDatabase) -> Order:
    order = Order(
        uuid4(), uuid4(), (OrderItem(uuid4(), 1, Decimal("5.00")),), OrderStatus.CREATED, NOW, NOW
    )
    database.committed[order.id] = order
    return order


def a_message(order_id: UUID, reason: str = "customer asked", event_id: UUID | None = None):
    return json.dumps(
        {
            "eventId": str(event_id or uuid4()),
            "orderId": str(order_id),
            "reason": reason,
            "occurredAt": NOW.isoformat(),
        }
    ).encode()


class FlakyCancel:
    """The real cancel-order use case on fakes; its first ``failures`` calls raise ``error``."""

    def __init__(self, database: FakeDatabase, failures: int = 0, error: Exception | None = None):
        self._cancel = CancelOrder(fixed_clock)
        self._database = database
        self.failures = failures
        self.error = error or DatabaseUnavailable("connection refused")
        self.calls = 0

    def __call__(self, event):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self._cancel(event, FakeUnitOfWork(self._database))


def a_processor(handle, draw=lambda: 1.0) -> OrderCancelledProcessor:
    return OrderCancelledProcessor(
        handle, Backoff(RETRY_INITIAL, RETRY_MAX, draw=draw), fixed_clock
    )


def probe_of(processor: OrderCancelledProcessor, running: bool = True) -> ConsumerHealthProbe:
    return ConsumerHealthProbe(lambda: processor.status(running))


AT = Position("order.cancelled", 1, 42)


# --- decide: one message, one outcome ---------------------------------------------------


def test_a_cancellation_of_a_stored_order_is_cancelled(database):
    order = a_stored_order(database)

    decision = decide(a_message(order.id), FlakyCancel(database))

    assert decision.outcome is Outcome.CANCELLED
    assert decision.done
    assert database.committed[order.id].status is OrderStatus.CANCELLED


@pytest.mark.parametrize(
    "value",
    [None, b"", b"{not json", b"[]", b'{"orderId": 42}', b'{"eventId": "x", "orderId": "y"}'],
)
def test_a_malformed_message_is_skipped_without_calling_the_handler(database, value):
    handler = FlakyCancel(database)

    decision = decide(value, handler)

    assert decision.outcome is Outcome.MALFORMED
    assert decision.done
    assert handler.calls == 0


def test_a_cancellation_of_an_unknown_order_is_skipped_and_not_recorded(database):
    decision = decide(a_message(uuid4()), FlakyCancel(database))

    assert decision.outcome is Outcome.UNKNOWN_ORDER
    assert decision.done
    assert database.processed == {}


def test_a_second_copy_of_an_event_is_a_duplicate(database):
    order = a_stored_order(database)
    message = a_message(order.id)
    decide(message, FlakyCancel(database))

    decision = decide(message, FlakyCancel(database))

    assert decision.outcome is Outcome.DUPLICATE
    assert decision.done


@pytest.mark.parametrize(
    "error",
    [
        DatabaseUnavailable("every database connection stayed busy"),
        psycopg2.OperationalError("server closed the connection unexpectedly"),
        RuntimeError("a bug"),
    ],
)
def test_a_failing_handler_means_the_same_message_is_retried(database, error):
    order = a_stored_order(database)

    decision = decide(a_message(order.id), FlakyCancel(database, failures=1, error=error))

    assert decision.outcome is Outcome.RETRY
    assert not decision.done
    assert decision.error is error
    assert decision.event.order_id == order.id
    assert database.committed[order.id].status is OrderStatus.CREATED


# --- the processor: retries with back-off, counts, log ---------------------------------


def test_a_message_that_fails_a_few_times_is_retried_then_cancels_its_order(database):
    order = a_stored_order(database)
    handler = FlakyCancel(database, failures=4)
    processor = a_processor(handler)
    message = a_message(order.id)

    delays = [processor.on_message(AT, message) for _ in range(5)]

    # The draw is fixed at its top: each wait is the full step, doubled, capped.
    assert delays == [0.5, 1.0, 2.0, 4.0, None]
    assert handler.calls == 5
    assert database.committed[order.id].status is OrderStatus.CANCELLED
    status = processor.status(running=True)
    assert (status.processed, status.retried, status.skipped) == (1, 4, 0)
    assert status.retrying is None
    assert status.healthy


def test_every_back_off_wait_is_jittered_and_bounded(database):
    order = a_stored_order(database)
    processor = a_processor(FlakyCancel(database, failures=50), draw=lambda: 0.0)

    delays = [processor.on_message(AT, a_message(order.id)) for _ in range(50)]

    # The bottom of the draw: half of each step, never less, never above the cap.
    assert delays[:3] == [0.25, 0.5, 1.0]
    assert max(delays) == RETRY_MAX / 2


def test_a_retry_streak_logs_one_warning_then_debug_then_one_recovery(database, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    order = a_stored_order(database)
    processor = a_processor(FlakyCancel(database, failures=3))

    for _ in range(4):
        processor.on_message(AT, a_message(order.id, event_id=UUID(int=7)))

    records = [r for r in caplog.records if r.name == LOGGER]
    levels = [r.levelname for r in records]
    assert levels == ["WARNING", "DEBUG", "DEBUG", "INFO", "INFO"], levels
    assert "tried again" in records[0].getMessage()
    assert str(order.id) in records[0].getMessage()
    assert "cancelled orderId" in records[3].getMessage()
    assert "recovered" in records[4].getMessage()
    assert "after 3 failed attempt(s)" in records[4].getMessage()
    # A database error is expected: no traceback.
    assert records[0].exc_info is None


def test_an_unexpected_handler_error_is_logged_with_its_traceback(database, caplog):
    order = a_stored_order(database)
    processor = a_processor(FlakyCancel(database, failures=1, error=KeyError("bug")))

    processor.on_message(AT, a_message(order.id))

    warning = next(r for r in caplog.records if r.levelname == "WARNING")
    assert warning.exc_info is not None


def test_the_reason_cannot_forge_a_log_line(database, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    order = a_stored_order(database)
    processor = a_processor(FlakyCancel(database))

    processor.on_message(AT, a_message(order.id, reason="ok\nERROR forged line\r\x1b[31m"))

    line = next(r.getMessage() for r in caplog.records if "cancelled orderId" in r.getMessage())
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert "\\nERROR forged line" in line


def test_a_malformed_message_cannot_forge_a_log_line(caplog):
    processor = a_processor(lambda event: None)
    value = json.dumps(
        {"eventId": str(uuid4()), "orderId": str(uuid4()), "occurredAt": "x\nERROR forged"}
    ).encode()

    assert processor.on_message(AT, value) is None

    line = next(r.getMessage() for r in caplog.records if "malformed" in r.getMessage())
    assert "\n" not in line
    assert processor.status(running=True).skipped == 1


def test_skips_and_duplicates_are_counted_apart(database):
    order = a_stored_order(database)
    processor = a_processor(FlakyCancel(database))
    message = a_message(order.id)

    for value in (b"{not json", a_message(uuid4()), message, message):
        assert processor.on_message(AT, value) is None

    status = processor.status(running=True)
    assert (status.processed, status.duplicates, status.skipped, status.retried) == (1, 1, 2, 0)


def test_a_revoked_partition_gives_up_its_message_in_hand(database):
    order = a_stored_order(database)
    processor = a_processor(FlakyCancel(database, failures=10))
    processor.on_message(AT, a_message(order.id))

    processor.forget([(AT.topic, AT.partition)])

    assert processor.status(running=True).healthy


def test_a_failed_commit_is_counted_and_leaves_the_consumer_up(caplog):
    processor = a_processor(lambda event: None)

    processor.on_commit_failed(AT, RuntimeError("Local: Waiting for coordinator"))

    status = processor.status(running=True)
    assert status.commit_failures == 1
    assert status.healthy
    assert "commit failed" in status.last_error
    assert any("processed_events" in r.getMessage() for r in caplog.records)


def test_an_asynchronous_commit_reported_failed_is_counted():
    consumer = OrderCancelledConsumer("127.0.0.1:1", "group", lambda event: None)

    consumer._committed(
        KafkaError(KafkaError._WAIT_COORD), [TopicPartition("order.cancelled", 2, 41)]
    )
    consumer._committed(None, [TopicPartition("order.cancelled", 0, 8)])

    status = consumer.status()
    assert status.commit_failures == 1
    assert "commit failed" in status.last_error
    assert "_WAIT_COORD" in status.last_error


# --- health ------------------------------------------------------------------------------


def test_health_is_down_with_the_last_error_while_a_message_is_retried(database):
    order = a_stored_order(database)
    processor = a_processor(FlakyCancel(database, failures=2))
    probe = probe_of(processor)
    processor.on_message(AT, a_message(order.id))
    processor.on_message(AT, a_message(order.id))

    with pytest.raises(ConsumerDown) as raised:
        probe(1.0)

    message = str(raised.value)
    assert "retrying the message at order.cancelled[1]@42" in message
    assert str(order.id) in message
    assert "2 failed attempt(s) since 2025-01-02T03:04:05Z" in message
    assert "lastError at 2025-01-02T03:04:05Z: DatabaseUnavailable: connection refused" in message
    details = raised.value.details
    assert details["retryingFailures"] == 2
    assert details["lastError"] == "DatabaseUnavailable: connection refused"


def test_health_is_up_with_the_counts_once_the_message_went_through(database):
    order = a_stored_order(database)
    processor = a_processor(FlakyCancel(database, failures=2))
    probe = probe_of(processor)
    for _ in range(3):
        processor.on_message(AT, a_message(order.id))
    processor.on_message(AT, b"{not json")

    details = probe(1.0)

    assert details["processed"] == 1
    assert details["retried"] == 2
    assert details["skipped"] == 1
    assert details["retrying"] is None
    assert details["lastError"] == "DatabaseUnavailable: connection refused"


def test_health_is_down_when_the_consumer_thread_does_not_run():
    consumer = OrderCancelledConsumer("127.0.0.1:1", "group", lambda event: None)

    with pytest.raises(ConsumerDown, match="not running"):
        ConsumerHealthProbe(consumer.status)(1.0)


def test_a_broken_client_makes_health_down_until_a_poll_answers():
    processor = a_processor(lambda event: None)
    probe = probe_of(processor)

    processor.on_client_error(RuntimeError("Failed to set subscription"))
    with pytest.raises(ConsumerDown, match="being replaced"):
        probe(1.0)

    processor.on_client_working()
    assert probe(1.0)["clientRestarts"] == 1


def test_a_back_off_longer_than_a_tenth_of_the_poll_interval_is_refused():
    with pytest.raises(ValueError, match="retry_max"):
        OrderCancelledConsumer("127.0.0.1:1", "g", print, retry_max=RETRY_MAX_LIMIT + 1)


# --- metrics -------------------------------------------------------------------------------


def test_metrics_show_the_counts_and_the_lag_per_partition(database):
    order = a_stored_order(database)
    processor = a_processor(FlakyCancel(database, failures=1))
    processor.on_message(AT, a_message(order.id))
    processor.on_message(AT, a_message(order.id))
    processor.on_message(AT, b"{not json")
    processor.set_lag({0: 3, 2: 0})
    registry = CollectorRegistry()
    registry.register(OrderCancelledCollector(lambda: processor.status(running=True)))

    text = generate_latest(registry).decode()

    for line in (
        "order_cancelled_processed_total 1.0",
        "order_cancelled_retried_total 1.0",
        "order_cancelled_skipped_total 1.0",
        "order_cancelled_duplicates_total 0.0",
        "order_cancelled_consumer_running 1.0",
        "order_cancelled_retrying 0.0",
        'order_cancelled_lag{partition="0"} 3.0',
        'order_cancelled_lag{partition="2"} 0.0',
    ):
        assert line in text, line


def test_metrics_show_a_message_being_retried():
    processor = a_processor(FlakyCancel(FakeDatabase(), failures=1))
    processor.on_message(AT, a_message(uuid4()))
    registry = CollectorRegistry()
    registry.register(OrderCancelledCollector(lambda: processor.status(running=True)))

    text = generate_latest(registry).decode()

    assert "order_cancelled_retrying 1.0" in text


# --- pruning processed_events ----------------------------------------------------------------


def seed_processed(database: FakeDatabase, ages: list[timedelta]) -> list[UUID]:
    ids = [uuid4() for _ in ages]
    for event_id, age in zip(ids, ages, strict=True):
        database.processed[event_id] = "OrderCancelled"
        database.processed_at[event_id] = NOW - age
    return ids


def test_the_prune_deletes_old_rows_in_batches_and_keeps_recent_ones(database):
    old = seed_processed(database, [timedelta(hours=400 + n) for n in range(5)])
    recent = seed_processed(database, [timedelta(hours=1), timedelta(hours=335)])
    pruner = ProcessedEventsPruner(
        lambda: FakeUnitOfWork(database), fixed_clock, timedelta(hours=336), batch_size=2
    )

    assert pruner.prune() == (5, True)

    assert set(database.processed) == set(recent)
    assert not set(old) & set(database.processed_at)
    # Batches of two: 2, 2, 1, each its own transaction.
    assert database.commits == 3


def test_a_prune_stops_after_its_batch_limit_and_says_rows_are_left(database):
    seed_processed(database, [timedelta(days=30)] * 5)
    pruner = ProcessedEventsPruner(
        lambda: FakeUnitOfWork(database),
        fixed_clock,
        timedelta(hours=336),
        batch_size=2,
        max_batches=2,
    )

    assert pruner.prune() == (4, False)
    assert len(database.processed) == 1


def test_the_fake_prune_takes_the_oldest_first(database):
    youngest, _oldest = seed_processed(database, [timedelta(days=20), timedelta(days=40)])
    uow = FakeUnitOfWork(database)

    with uow:
        assert uow.processed_events.prune(NOW - timedelta(days=14), 1) == 1
        uow.commit()

    assert list(database.processed) == [youngest]


def test_a_handled_event_is_stamped_with_the_time_it_was_handled():
    database = FakeDatabase(now=fixed_clock)
    order = a_stored_order(database)

    decide(a_message(order.id, event_id=UUID(int=1)), FlakyCancel(database))

    assert database.processed_at == {UUID(int=1): NOW}


# --- the retention setting --------------------------------------------------------------------


def test_the_retention_defaults_to_two_weeks():
    assert load_config({}).processed_events_retention_hours == 336


def test_the_retention_is_read_from_its_variable():
    config = load_config({"MARS_PROCESSED_EVENTS_RETENTION_HOURS": "720"})

    assert config.processed_events_retention_hours == 720


def test_a_retention_under_a_day_is_refused():
    with pytest.raises(ValidationError, match="processed_events_retention_hours"):
        load_config({"MARS_PROCESSED_EVENTS_RETENTION_HOURS": "23"})
