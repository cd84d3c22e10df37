"""The ``order.cancelled`` consumer on the real broker and PostgreSQL: it cancels, and never dies.

The service's own consumer (the session's runtime) reads ``order.cancelled``. The tests that
make a handler fail run a consumer of their own on a topic of their own (or on a dedicated
broker behind a proxy), so the runtime's consumer cannot handle their events first.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client import CollectorRegistry, generate_latest

from embedded_stack import BrokerProcess, TcpProxy
from embedded_stack.polling import wait_until
from service.adapters.cancellation_consumer import OrderCancelledConsumer
from service.adapters.consumer_health import ConsumerHealthProbe
from service.adapters.kafka import TopicSpec, ensure_topics
from service.adapters.prometheus import OrderCancelledCollector
from service.app import utc_now
from service.domain.errors import DatabaseUnavailable
from service.domain.events import ORDER_CANCELLED_TOPIC
from service.domain.use_cases import CancelOrder, ProcessedEventsPruner
from service.health import HealthCheck
from tests.integration.helpers import order_body, query_one, wait_for
from tests.integration.outbox_support import metric
from tests.integration.ports import free_port

# A new group's first assignment can take about half the session timeout (6 s) on Tansu.
CANCEL_TIMEOUT = 20
# The consumer's default back-off: 0.5 s doubled per failure, at most 5 s (jittered).
RETRY_MAX = 5.0
# stop() ends the back-off at once; what is left is one poll (0.5 s) and leaving the group.
STOP_BOUND = 3.0

logger = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def producer(config):
    producer = Producer({"bootstrap.servers": config.kafka_bootstrap_servers})
    yield producer
    producer.flush(5)


def send(
    producer: Producer, value: bytes, key: str | None = None, topic=ORDER_CANCELLED_TOPIC
) -> TopicPartition:
    """Produce one message and return where it was written, from its delivery report."""
    reports = []
    producer.produce(
        topic, value=value, key=key, on_delivery=lambda error, msg: reports.append((error, msg))
    )
    assert producer.flush(10) == 0, "the test message was not delivered"
    [(error, message)] = reports
    assert error is None, error
    return TopicPartition(message.topic(), message.partition(), message.offset())


def committed_offset(config, partition: int) -> int:
    """Return the service group's committed offset on one ``order.cancelled`` partition.

    The committed offset is the next one the group reads; negative while none is committed.
    """
    probe = Consumer(
        {
            "bootstrap.servers": config.kafka_bootstrap_servers,
            "group.id": config.kafka_consumer_group,
        }
    )
    try:
        [committed] = probe.committed([TopicPartition(ORDER_CANCELLED_TOPIC, partition)], timeout=5)
        return committed.offset
    finally:
        probe.close()


def cancellation(order_id: str, event_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "eventId": event_id or str(uuid.uuid4()),
            "orderId": order_id,
            "reason": "customer asked",
            "occurredAt": datetime.now(UTC).isoformat(),
        }
    ).encode()


def place_order(client) -> str:
    response = client.simulate_post("/orders", json=order_body())
    assert response.status_code == 201, response.text
    return response.json["orderId"]


def status_of(db, order_id: str) -> str:
    return query_one(db, "SELECT status FROM orders WHERE id = %s", order_id)[0]


class FlakyCancel:
    """The real cancel-order use case, raising ``DatabaseUnavailable`` while ``down`` is set.

    ``then`` runs after each successful cancellation (a fault the test injects there).
    """

    def __init__(self, uow_factory, *, down: bool = False, then: Callable[[], None] = lambda: None):
        self._cancel = CancelOrder(utc_now)
        self._uow_factory = uow_factory
        self.down = threading.Event()
        if down:
            self.down.set()
        self._then = then
        self.failures = 0
        self.succeeded_at: float | None = None

    def __call__(self, event):
        if self.down.is_set():
            self.failures += 1
            raise DatabaseUnavailable("the test says the database is down")
        order = self._cancel(event, self._uow_factory())
        self.succeeded_at = time.monotonic()
        self._then()
        return order


@pytest.fixture
def own_topic(config) -> str:
    """A topic of the test's own, one partition, on the session's broker."""
    name = f"order.cancelled.test-{uuid.uuid4().hex[:12]}"
    ensure_topics(config.kafka_bootstrap_servers, [TopicSpec(name, 1)], timeout=5)
    return name


@contextmanager
def consuming(bootstrap: str, handler, **options) -> Iterator[OrderCancelledConsumer]:
    """Run a consumer of its own group until the block ends."""
    consumer = OrderCancelledConsumer(
        bootstrap, f"cancellation-test-{uuid.uuid4()}", handler, **options
    )
    consumer.start()
    try:
        yield consumer
    finally:
        consumer.stop()


@contextmanager
def health_of(consumer: OrderCancelledConsumer) -> Iterator[HealthCheck]:
    """The health check with the consumer's component only, as ``/actuator/health`` runs it."""
    check = HealthCheck({"consumer": ConsumerHealthProbe(consumer.status)})
    try:
        yield check
    finally:
        check.close()


def metrics_with(client, fragment: str) -> str | None:
    page = client.simulate_get("/metrics").text
    return page if fragment in page else None


def up_or_none(health: HealthCheck):
    component = health()["consumer"]
    return component if component.up else None


def consumer_metric(consumer: OrderCancelledConsumer, name: str) -> float | None:
    registry = CollectorRegistry()
    registry.register(OrderCancelledCollector(consumer.status))
    return metric(generate_latest(registry).decode(), name)


# --- the service's own consumer ---------------------------------------------------------


def test_cancelled_event_moves_the_order_to_cancelled(client, db, producer):
    order_id = place_order(client)

    send(producer, cancellation(order_id), key=order_id)

    wait_for(lambda: status_of(db, order_id) == "CANCELLED", CANCEL_TIMEOUT, "the cancellation")
    assert client.simulate_get(f"/orders/{order_id}").json["status"] == "CANCELLED"


def test_malformed_and_unknown_cancellations_are_skipped_without_stopping_the_consumer(
    client, db, producer, runtime
):
    order_id = place_order(client)
    skipped_before = runtime.consumer.status().skipped

    send(producer, b"{not json")
    send(producer, b'{"orderId": 42}')
    send(producer, cancellation(str(uuid.uuid4())))
    send(producer, cancellation(order_id), key=order_id)

    wait_for(lambda: status_of(db, order_id) == "CANCELLED", CANCEL_TIMEOUT, "the cancellation")
    assert runtime.consumer.status().skipped - skipped_before == 3


def test_consumer_commits_the_offset_of_the_message_it_handled(config, client, db, producer):
    order_id = place_order(client)
    # Any partition of the topic may get the message: read them all before it is sent.
    partitions = (
        producer.list_topics(ORDER_CANCELLED_TOPIC, timeout=5)
        .topics[ORDER_CANCELLED_TOPIC]
        .partitions
    )
    before = {partition: committed_offset(config, partition) for partition in partitions}

    written = send(producer, cancellation(order_id), key=order_id)
    wait_for(lambda: status_of(db, order_id) == "CANCELLED", CANCEL_TIMEOUT, "the cancellation")

    def committed_past_the_message() -> int | None:
        offset = committed_offset(config, written.partition)
        return offset if offset > written.offset else None

    # Commits are asynchronous: the next offset to read moves past this message shortly
    # after it was handled, so a restarted consumer does not read it again.
    after = wait_until(
        committed_past_the_message,
        timeout=10,
        what=f"the commit past {written.topic}[{written.partition}]@{written.offset}",
    )
    assert before[written.partition] <= written.offset < after


def test_health_and_metrics_show_the_service_consumer(client, db, producer):
    order_id = place_order(client)
    send(producer, cancellation(order_id), key=order_id)
    wait_for(lambda: status_of(db, order_id) == "CANCELLED", CANCEL_TIMEOUT, "the cancellation")

    component = client.simulate_get("/actuator/health").json["components"]["consumer"]
    # The consumer thread reads the lag once a second, after a poll.
    text = wait_for(lambda: metrics_with(client, "order_cancelled_lag{"), 3, "the lag in /metrics")

    assert component["status"] == "UP", component
    assert component["details"]["running"] is True
    assert component["details"]["processed"] >= 1
    assert metric(text, "order_cancelled_processed_total") >= 1
    assert metric(text, "order_cancelled_consumer_running") == 1
    assert metric(text, "order_cancelled_retried_total") is not None


# --- failures: the consumer retries and goes on -------------------------------------------


def test_a_failing_handler_is_retried_until_the_order_is_cancelled_and_health_recovers(
    config, runtime, client, db, producer, own_topic
):
    order_id = place_order(client)
    handler = FlakyCancel(runtime.adapters.uow_factory, down=True)
    with (
        consuming(config.kafka_bootstrap_servers, handler, topic=own_topic) as consumer,
        health_of(consumer) as health,
    ):
        send(producer, cancellation(order_id), key=order_id, topic=own_topic)

        wait_for(lambda: consumer.status().retried >= 3, CANCEL_TIMEOUT, "3 failed attempts", 0.02)
        component = health()["consumer"]
        assert not component.up
        error = component.details["error"]
        assert "retrying the message at" in error
        assert order_id in error
        assert "DatabaseUnavailable: the test says the database is down" in error
        assert status_of(db, order_id) == "CREATED"

        handler.down.clear()
        recovered = time.monotonic()
        wait_for(lambda: status_of(db, order_id) == "CANCELLED", RETRY_MAX + 5, "the retry", 0.02)
        elapsed = time.monotonic() - recovered
        logger.info(
            "FIGURE handler retry: %d failures; CANCELLED %.2f s after the handler recovered",
            handler.failures,
            elapsed,
        )
        assert elapsed <= RETRY_MAX + 1.0

        component = wait_for(lambda: up_or_none(health), 2, "the consumer UP again")
        assert component.details["processed"] == 1
        assert component.details["retried"] == handler.failures >= 3
        assert component.details["retrying"] is None
        assert consumer.status().running
        assert consumer_metric(consumer, "order_cancelled_retried_total") == handler.failures
        assert consumer_metric(consumer, "order_cancelled_processed_total") == 1
        assert consumer_metric(consumer, "order_cancelled_retrying") == 0


def test_stop_does_not_wait_out_a_back_off(config, runtime, client, producer, own_topic):
    order_id = place_order(client)
    handler = FlakyCancel(runtime.adapters.uow_factory, down=True)
    consumer = OrderCancelledConsumer(
        config.kafka_bootstrap_servers,
        f"cancellation-test-{uuid.uuid4()}",
        handler,
        topic=own_topic,
        retry_initial=20.0,
        retry_max=20.0,
    )
    consumer.start()
    try:
        send(producer, cancellation(order_id), key=order_id, topic=own_topic)
        wait_for(lambda: consumer.status().retried >= 1, CANCEL_TIMEOUT, "a failed attempt")
        started = time.monotonic()
    finally:
        consumer.stop()
    elapsed = time.monotonic() - started

    logger.info("FIGURE stop during a 10-20 s back-off took %.2f s", elapsed)
    assert elapsed < STOP_BOUND
    assert not consumer.status().running
    assert handler.failures == 1


def test_a_broken_client_is_replaced_after_a_pause_and_the_thread_lives_on(config):
    # An invalid topic pattern makes subscribe() raise, as a broken client would.
    with (
        consuming(config.kafka_bootstrap_servers, lambda event: None, topic="^(") as consumer,
        health_of(consumer) as health,
    ):
        wait_for(lambda: consumer.status().client_restarts >= 2, 10, "two client restarts")
        component = health()["consumer"]
        status = consumer.status()

    assert status.running
    assert not component.up
    assert "being replaced" in component.details["error"]
    assert "Failed to set subscription" in component.details["error"]


@pytest.fixture
def broker_behind_a_proxy() -> Iterator[tuple[str, TcpProxy]]:
    """A dedicated broker that advertises a proxy the test can cut, with ``order.cancelled``."""
    broker_port, proxy_port = free_port(), free_port()
    bootstrap = f"127.0.0.1:{proxy_port}"
    with (
        BrokerProcess(broker_port, advertised=bootstrap),
        TcpProxy(proxy_port, "127.0.0.1", broker_port) as proxy,
    ):
        ensure_topics(bootstrap, [TopicSpec(ORDER_CANCELLED_TOPIC, 1)], timeout=10)
        yield bootstrap, proxy


def test_a_commit_the_broker_cannot_take_neither_blocks_nor_ends_the_consumer(
    runtime, client, db, broker_behind_a_proxy
):
    bootstrap, proxy = broker_behind_a_proxy
    first, second = place_order(client), place_order(client)
    first_event = str(uuid.uuid4())
    cut_once = threading.Event()

    def cut_the_proxy_once() -> None:
        # Right after the first cancellation is stored: its commit finds no broker.
        if not cut_once.is_set():
            cut_once.set()
            proxy.cut()

    handler = FlakyCancel(runtime.adapters.uow_factory, then=cut_the_proxy_once)
    producer = Producer({"bootstrap.servers": bootstrap})
    with consuming(bootstrap, handler) as consumer:
        send(producer, cancellation(first, first_event), key=first)
        wait_for(lambda: status_of(db, first) == "CANCELLED", CANCEL_TIMEOUT, "the first")
        # The consumer thread is not stuck in that commit: it polls on, and says so.
        polls = consumer.status().polls
        wait_for(lambda: consumer.status().polls > polls + 2, 5, "polls after the cut")
        assert consumer.status().running

        proxy.restore()
        restored = time.monotonic()
        send(producer, cancellation(second), key=second)
        wait_for(lambda: status_of(db, second) == "CANCELLED", 30, "the next cancellation")
        elapsed = time.monotonic() - restored
        status = consumer.status()
        stopping = time.monotonic()
    stopped_after = time.monotonic() - stopping

    logger.info(
        "FIGURE commit during a cut: next cancellation applied %.2f s after the broker was "
        "back; %d commit failure(s), %d duplicate(s) (an uncommitted message read again); "
        "stopped in %.2f s",
        elapsed,
        status.commit_failures,
        status.duplicates,
        stopped_after,
    )
    assert status.running
    assert status.client_restarts == 0
    assert status.processed == 2
    assert stopped_after < STOP_BOUND
    recorded = query_one(
        db, "SELECT count(*) FROM processed_events WHERE event_id = %s", first_event
    )
    assert recorded == (1,)


# --- pruning processed_events --------------------------------------------------------------


def test_the_prune_deletes_old_rows_in_batches_and_keeps_recent_ones(runtime, db):
    ages = {uuid.uuid4(): hours for hours in (400, 401, 402, 500, 900, 1, 335)}
    with db.cursor() as cursor:
        for event_id, hours in ages.items():
            cursor.execute(
                "INSERT INTO processed_events (event_id, event_type, processed_at) "
                "VALUES (%s, 'OrderCancelled', now() - make_interval(hours => %s))",
                (str(event_id), hours),
            )
    old = {str(event_id) for event_id, hours in ages.items() if hours > 336}
    recent = {str(event_id) for event_id, hours in ages.items() if hours < 336}
    retention = timedelta(hours=336)

    uow = runtime.adapters.uow_factory()
    with uow:
        one_batch = uow.processed_events.prune(utc_now() - retention, 2)
        uow.commit()
    pruned, finished = ProcessedEventsPruner(
        runtime.adapters.uow_factory, utc_now, retention, batch_size=2
    ).prune()

    with db.cursor() as cursor:
        cursor.execute(
            "SELECT event_id FROM processed_events WHERE event_id = ANY(%s::uuid[])",
            ([str(event_id) for event_id in ages],),
        )
        left = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "DELETE FROM processed_events WHERE event_id = ANY(%s::uuid[])", (list(left),)
        )
    assert one_batch == 2
    assert finished
    assert pruned >= len(old) - 2
    assert left == recent
