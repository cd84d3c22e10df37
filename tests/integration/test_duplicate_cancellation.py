"""The ``order.cancelled`` consumer handles each eventId once: delivery is at least once.

The service runs in-process on a database of its own (so no other service on the shared
database handles this test's events first), with the shared broker and a group of its own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from confluent_kafka import Producer
from falcon import testing

from service.app import create_app
from service.bootstrap import Runtime, start_runtime
from service.config import load_config
from tests.integration.helpers import order_body, wait_for
from tests.integration.outbox_support import scalar

# A new group's first assignment can take about half the session timeout (6 s) on Tansu.
CANCEL_TIMEOUT = 20


@pytest.fixture(scope="module")
def own_service(stack, module_database) -> Iterator[tuple[Runtime, testing.TestClient]]:
    config = load_config(
        {
            "MARS_DATABASE_URL": module_database,
            "MARS_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
            "MARS_KAFKA_CONSUMER_GROUP": f"order-service-test-{uuid.uuid4()}",
        }
    )
    runtime = start_runtime(config)
    try:
        yield runtime, testing.TestClient(create_app(config, runtime.adapters))
    finally:
        runtime.close()


def cancellation(event_id: str, order_id: str) -> bytes:
    return json.dumps(
        {
            "eventId": event_id,
            "orderId": order_id,
            "reason": "customer asked",
            "occurredAt": datetime.now(UTC).isoformat(),
        }
    ).encode()


def status_of(database_url: str, order_id: str) -> str:
    return scalar(database_url, "SELECT status FROM orders WHERE id = %s", order_id)


def test_a_second_delivery_of_the_same_cancellation_event_changes_nothing(
    own_service, module_database, stack
):
    runtime, client = own_service
    first_order = client.simulate_post("/orders", json=order_body()).json["orderId"]
    second_order = client.simulate_post("/orders", json=order_body()).json["orderId"]
    third_order = client.simulate_post("/orders", json=order_body()).json["orderId"]
    event_id = str(uuid.uuid4())
    duplicates_before = runtime.consumer.duplicates
    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap_servers})

    # One key for all three: one partition, so the consumer reads them in this order.
    key = first_order.encode()
    producer.produce("order.cancelled", cancellation(event_id, first_order), key)
    producer.produce("order.cancelled", cancellation(event_id, first_order), key)
    # The same eventId again, now naming another order: recognised by its id, ignored.
    producer.produce("order.cancelled", cancellation(event_id, second_order), key)
    producer.produce("order.cancelled", cancellation(str(uuid.uuid4()), third_order), key)
    assert producer.flush(10) == 0, "the test messages were not delivered"

    wait_for(
        lambda: status_of(module_database, third_order) == "CANCELLED",
        CANCEL_TIMEOUT,
        "the last cancellation",
    )
    assert status_of(module_database, first_order) == "CANCELLED"
    assert status_of(module_database, second_order) == "CREATED"
    assert runtime.consumer.duplicates - duplicates_before == 2
    assert (
        scalar(
            module_database, "SELECT count(*) FROM processed_events WHERE event_id = %s", event_id
        )
        == 1
    )
