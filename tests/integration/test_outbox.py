"""Outbox mode on the real stack: orders and events commit together, the relay publishes.

The service runs in-process with the ``outbox`` and ``chaos`` profiles, on a database of
its own and the shared broker, beside the session's Dual Write service.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from falcon import testing

from evidence.topic_reader import TopicReader
from service.app import create_app
from service.bootstrap import Runtime, start_runtime
from service.config import Config, load_config
from tests.integration.helpers import order_body, wait_for
from tests.integration.outbox_support import (
    ORDER_CREATED_FIELDS,
    events_by_order,
    metric,
    scalar,
)

OUTBOX_ROWS_OF_ORDER = "SELECT count(*) FROM outbox WHERE message_key = %s"
POLL_INTERVAL_MS = 50
# The relay polls every 50 ms here; 10 s leaves room for a slow machine.
DELIVERY_TIMEOUT = 10


@pytest.fixture(scope="module")
def outbox_config(stack, module_database) -> Config:
    return load_config(
        {
            "MARS_DATABASE_URL": module_database,
            "MARS_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
            "MARS_PROFILES_ACTIVE": "outbox,chaos",
            "MARS_OUTBOX_POLL_INTERVAL_MS": str(POLL_INTERVAL_MS),
            "MARS_KAFKA_CONSUMER_GROUP": f"order-service-test-{uuid.uuid4()}",
        }
    )


@pytest.fixture(scope="module")
def outbox_runtime(outbox_config) -> Iterator[Runtime]:
    running = start_runtime(outbox_config, consume_cancellations=False)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def outbox_client(outbox_config, outbox_runtime) -> testing.TestClient:
    return testing.TestClient(create_app(outbox_config, outbox_runtime.adapters))


def test_created_order_event_arrives_through_the_relay_with_its_key_and_dual_write_payload(
    outbox_client, module_database, client, created_events: TopicReader
):
    before = created_events.end_positions()

    outbox_id = outbox_client.simulate_post("/orders", json=order_body(3, 19.99)).json["orderId"]
    dual_write_id = client.simulate_post("/orders", json=order_body()).json["orderId"]

    found = wait_for(
        lambda: (
            (events := events_by_order(created_events, before))[outbox_id]
            and events[dual_write_id]
            and events
        ),
        DELIVERY_TIMEOUT,
        "the outbox order's event",
    )
    [record] = found[outbox_id]
    [dual_write_record] = found[dual_write_id]
    event, order = record.value, outbox_client.simulate_get(f"/orders/{outbox_id}").json
    assert record.key == outbox_id
    assert set(event) == ORDER_CREATED_FIELDS == set(dual_write_record.value)
    assert {k: type(v) for k, v in event.items()} == {
        k: type(v) for k, v in dual_write_record.value.items()
    }
    assert (event["orderId"], event["customerId"], event["totalAmount"]) == (
        order["id"],
        order["customerId"],
        order["total"],
    )
    assert event["items"] == order["items"]
    assert event["occurredAt"] == order["createdAt"]
    # Sent and confirmed: the row is gone (deleted after its delivery report).
    wait_for(
        lambda: scalar(module_database, "SELECT count(*) FROM outbox") == 0,
        DELIVERY_TIMEOUT,
        "the outbox row's removal",
    )


def test_published_rows_and_their_delay_show_in_health_and_metrics(outbox_client, created_events):
    before = created_events.end_positions()
    order_id = outbox_client.simulate_post("/orders", json=order_body()).json["orderId"]
    wait_for(
        lambda: events_by_order(created_events, before)[order_id],
        DELIVERY_TIMEOUT,
        "the event",
    )

    def drained() -> dict | None:
        body = outbox_client.simulate_get("/actuator/health").json
        outbox = body["components"]["outbox"]
        return body if outbox["details"]["backlog"] == 0 else None

    health = wait_for(drained, DELIVERY_TIMEOUT, "an empty backlog in health")
    metrics = outbox_client.simulate_get("/metrics")

    assert health["status"] == "UP"
    details = health["components"]["outbox"]["details"]
    assert health["components"]["outbox"]["status"] == "UP"
    assert details["relayRunning"] is True
    assert details["oldestPendingAgeSeconds"] == 0
    assert details["publishedSinceStart"] >= 1
    assert details["lastPublishedAt"] is not None
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert metric(metrics.text, "outbox_backlog") == 0
    assert metric(metrics.text, "outbox_relay_running") == 1
    assert metric(metrics.text, "outbox_relay_passes_total") >= 1
    assert metric(metrics.text, "outbox_published_total") >= 1
    delays = metric(metrics.text, "outbox_relay_delay_seconds_count")
    assert delays == metric(metrics.text, "outbox_published_total")
    # Every delay so far is below the last finite bucket (10 min): none is negative or lost.
    assert metric(metrics.text, "outbox_relay_delay_seconds_sum") > 0


def test_phantom_attempt_in_outbox_mode_publishes_nothing_and_leaves_no_outbox_row(
    outbox_client, outbox_runtime, module_database, created_events
):
    before = created_events.end_positions()

    response = outbox_client.simulate_post("/chaos/phantom-event", json=order_body())
    passes = outbox_runtime.relay.status().passes
    marker_id = outbox_client.simulate_post("/orders", json=order_body()).json["orderId"]

    assert response.status_code == 200
    report = response.json
    phantom_id = report["orderId"]
    assert report["mode"] == "outbox"
    assert report["eventSentToKafka"] is False
    assert report["phantomEventProduced"] is False
    assert report["existsInDb"] is False
    assert report["dbRolledBack"] is True
    assert report["dbRowsFound"] == 0
    assert report["outboxRowsFound"] == 0
    assert report["kafkaOffset"] is None
    assert (
        "written to the outbox inside the transaction that rolled back" in (report["explanation"])
    )
    assert scalar(module_database, OUTBOX_ROWS_OF_ORDER, phantom_id) == 0
    # At least two relay passes after the rollback, and a later order's event delivered:
    # had the phantom's row survived, the relay would have published it by now.
    wait_for(
        lambda: outbox_runtime.relay.status().passes >= passes + 2,
        DELIVERY_TIMEOUT,
        "two relay passes",
    )
    events = wait_for(
        lambda: (found := events_by_order(created_events, before))[marker_id] and found,
        DELIVERY_TIMEOUT,
        "the later order's event",
    )
    assert events[phantom_id] == []
