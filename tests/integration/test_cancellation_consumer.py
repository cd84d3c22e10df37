"""A real ``order.cancelled`` message moves the order to CANCELLED; bad ones are skipped."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from tests.integration.helpers import order_body, query_one, wait_for

# A new group's first assignment can take about half the session timeout (6 s) on Tansu.
CANCEL_TIMEOUT = 20


@pytest.fixture(scope="module")
def producer(config):
    producer = Producer({"bootstrap.servers": config.kafka_bootstrap_servers})
    yield producer
    producer.flush(5)


def send(producer: Producer, value: bytes, key: str | None = None) -> None:
    producer.produce("order.cancelled", value=value, key=key)
    assert producer.flush(5) == 0, "the test message was not delivered"


def cancellation(order_id: str) -> bytes:
    return json.dumps(
        {
            "eventId": str(uuid.uuid4()),
            "orderId": order_id,
            "reason": "customer asked",
            "occurredAt": datetime.now(UTC).isoformat(),
        }
    ).encode()


def status_of(db, order_id: str) -> str:
    return query_one(db, "SELECT status FROM orders WHERE id = %s", order_id)[0]


def test_cancelled_event_moves_the_order_to_cancelled(client, db, producer):
    order_id = client.simulate_post("/orders", json=order_body()).json["orderId"]

    send(producer, cancellation(order_id), key=order_id)

    wait_for(lambda: status_of(db, order_id) == "CANCELLED", CANCEL_TIMEOUT, "the cancellation")
    assert client.simulate_get(f"/orders/{order_id}").json["status"] == "CANCELLED"


def test_malformed_and_unknown_cancellations_are_skipped_without_stopping_the_consumer(
    client, db, producer, runtime
):
    order_id = client.simulate_post("/orders", json=order_body()).json["orderId"]
    skipped_before = runtime.consumer.skipped

    send(producer, b"{not json")
    send(producer, b'{"orderId": 42}')
    send(producer, cancellation(str(uuid.uuid4())))
    send(producer, cancellation(order_id), key=order_id)

    wait_for(lambda: status_of(db, order_id) == "CANCELLED", CANCEL_TIMEOUT, "the cancellation")
    assert runtime.consumer.skipped - skipped_before == 3


def test_consumer_commits_its_offsets(config, client, db, producer):
    order_id = client.simulate_post("/orders", json=order_body()).json["orderId"]
    send(producer, cancellation(order_id), key=order_id)
    wait_for(lambda: status_of(db, order_id) == "CANCELLED", CANCEL_TIMEOUT, "the cancellation")

    def committed_total() -> int:
        probe = Consumer(
            {
                "bootstrap.servers": config.kafka_bootstrap_servers,
                "group.id": config.kafka_consumer_group,
            }
        )
        try:
            metadata = probe.list_topics("order.cancelled", timeout=5)
            partitions = [
                TopicPartition("order.cancelled", p)
                for p in metadata.topics["order.cancelled"].partitions
            ]
            return sum(max(tp.offset, 0) for tp in probe.committed(partitions, timeout=5))
        finally:
            probe.close()

    # Every message this session sent is committed: the restart of a consumer resumes there.
    assert wait_for(committed_total, 10, "the offset commit") > 0
