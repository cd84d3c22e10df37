"""Outbox mode under broker faults: a dedicated broker behind a proxy the test controls.

The service runs in-process with the ``outbox`` profile on a database of its own. Cutting
the proxy makes the broker unreachable (connections refused) without emptying it; pausing
the broker makes it hang, so a publish times out and may still be written later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from falcon import testing

from embedded_stack import BrokerProcess, TcpProxy
from embedded_stack.databases import private_database
from evidence.topic_reader import Record, TopicReader
from service.app import create_app
from service.bootstrap import Runtime, start_runtime
from service.config import load_config
from tests.integration.helpers import order_body, wait_for
from tests.integration.outbox_support import events_by_order, metric
from tests.integration.ports import free_port

PUBLISH_TIMEOUT_MS = 2000
POLL_INTERVAL_MS = 50
BACKOFF_MAX_MS = 1000
ORDERS_DURING_THE_OUTAGE = 20
# Once the broker is reachable again, every pending event must be on the topic within
# this bound. What it is made of, at most: the pass in hand when the proxy came back
# (publish timeout, 2 s), one backoff wait (1 s), librdkafka's reconnect (up to 1 s),
# one pass to publish the batch, and the test's own reads; measured here: 1.4-1.6 s.
DELIVERY_BOUND = 10.0
# A POST /orders in outbox mode does not wait for the broker: far below the publish timeout.
REQUEST_BOUND = 1.0

logger = logging.getLogger(__name__)


@dataclass
class OutboxUnderFaults:
    """A dedicated broker, the proxy in front of it, and an outbox-mode service using both."""

    broker: BrokerProcess
    proxy: TcpProxy
    runtime: Runtime
    client: testing.TestClient
    reader: TopicReader

    def health(self) -> tuple[int, dict]:
        response = self.client.simulate_get("/actuator/health")
        return response.status_code, response.json

    def metrics(self) -> str:
        return self.client.simulate_get("/metrics").text

    def place_order(self) -> tuple[str, float]:
        started = time.monotonic()
        response = self.client.simulate_post("/orders", json=order_body())
        assert response.status_code == 201, response.text
        return response.json["orderId"], time.monotonic() - started


@pytest.fixture
def outbox_faults(stack) -> Iterator[OutboxUnderFaults]:
    broker_port, proxy_port = free_port(), free_port()
    bootstrap = f"127.0.0.1:{proxy_port}"
    with (
        private_database(stack.database_url) as database_url,
        BrokerProcess(broker_port, advertised=bootstrap) as broker,
        TcpProxy(proxy_port, "127.0.0.1", broker_port) as proxy,
    ):
        config = load_config(
            {
                "MARS_DATABASE_URL": database_url,
                "MARS_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "MARS_PROFILES_ACTIVE": "outbox",
                "MARS_KAFKA_PUBLISH_TIMEOUT_MS": str(PUBLISH_TIMEOUT_MS),
                "MARS_OUTBOX_POLL_INTERVAL_MS": str(POLL_INTERVAL_MS),
                "MARS_OUTBOX_BACKOFF_MAX_MS": str(BACKOFF_MAX_MS),
            }
        )
        runtime = start_runtime(config, consume_cancellations=False)
        try:
            client = testing.TestClient(create_app(config, runtime.adapters))
            yield OutboxUnderFaults(
                broker, proxy, runtime, client, TopicReader(bootstrap, "order.created")
            )
        finally:
            if broker.is_paused:
                broker.resume()
            runtime.close()


def delivered(
    kafka: OutboxUnderFaults, positions: dict[int, int], order_ids: list[str]
) -> dict[str, list[Record]] | None:
    """Return the events by order once every order has at least one, else None."""
    events = events_by_order(kafka.reader, positions)
    return events if all(events[order_id] for order_id in order_ids) else None


def assert_at_least_once(events: dict[str, list[Record]], order_ids: list[str]) -> None:
    """Each order has one event or more, and all copies of an order's event are the same."""
    for order_id in order_ids:
        copies = events[order_id]
        assert copies, f"no event for orderId={order_id}"
        assert len({copy.value["eventId"] for copy in copies}) == 1, copies
        assert len({copy.raw for copy in copies}) == 1, "the copies differ"


def test_orders_get_201_during_an_outage_and_the_backlog_shows_then_drains_in_bound(
    outbox_faults,
):
    kafka = outbox_faults
    positions = kafka.reader.end_positions()
    kafka.proxy.cut()

    placed = [kafka.place_order() for _ in range(ORDERS_DURING_THE_OUTAGE)]

    order_ids = [order_id for order_id, _ in placed]
    slowest = max(seconds for _, seconds in placed)
    assert slowest < REQUEST_BOUND, f"a POST /orders took {slowest:.2f} s during the outage"

    def outage_seen() -> tuple[int, dict] | None:
        status, body = kafka.health()
        details = body["components"]["outbox"]["details"]
        seen = details["backlog"] >= ORDERS_DURING_THE_OUTAGE and details["consecutiveFailures"]
        return (status, body) if seen else None

    status, body = wait_for(outage_seen, 15, "the backlog and a failed pass in health")
    assert status == 503
    assert body["components"]["kafka"]["status"] == "DOWN"
    outbox = body["components"]["outbox"]
    assert outbox["status"] == "UP"
    assert outbox["details"]["lastError"]
    assert outbox["details"]["oldestPendingAgeSeconds"] > 0
    text = kafka.metrics()
    assert metric(text, "outbox_backlog") >= ORDERS_DURING_THE_OUTAGE
    assert metric(text, "outbox_oldest_pending_age_seconds") > 0
    assert metric(text, "outbox_publish_failures_total") >= 1

    kafka.proxy.restore()
    restored = time.monotonic()
    events = wait_for(
        lambda: delivered(kafka, positions, order_ids), DELIVERY_BOUND, "every event", 0.2
    )
    elapsed = time.monotonic() - restored
    logger.info("%d events delivered %.2f s after the broker came back", len(order_ids), elapsed)

    assert_at_least_once(events, order_ids)
    wait_for(lambda: metric(kafka.metrics(), "outbox_backlog") == 0, 5, "an empty backlog")
    assert metric(kafka.metrics(), "outbox_published_total") >= ORDERS_DURING_THE_OUTAGE


def test_a_hung_broker_is_retried_and_every_event_arrives_at_least_once(outbox_faults):
    kafka = outbox_faults
    positions = kafka.reader.end_positions()
    kafka.broker.pause()

    order_ids = [kafka.place_order()[0] for _ in range(5)]
    # A pass timed out: its events are indeterminate, the broker may write them on resume.
    wait_for(lambda: kafka.runtime.relay.status().consecutive_failures >= 1, 15, "a timed-out pass")
    kafka.broker.resume()

    events = wait_for(
        lambda: delivered(kafka, positions, order_ids), DELIVERY_BOUND, "every event", 0.2
    )
    wait_for(lambda: metric(kafka.metrics(), "outbox_backlog") == 0, 10, "an empty backlog")

    events = events_by_order(kafka.reader, positions)
    assert_at_least_once(events, order_ids)
    logger.info(
        "after the hung broker: %d duplicate(s) among %d orders",
        sum(len(events[order_id]) - 1 for order_id in order_ids),
        len(order_ids),
    )
