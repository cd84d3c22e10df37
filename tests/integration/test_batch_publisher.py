"""The relay's publisher on a real broker: a batch at once, each outcome from its own report."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from evidence.topic_reader import TopicReader
from service.adapters.kafka import KafkaBatchPublisher, TopicSpec, ensure_topics
from service.domain.ports import OutboxMessage


def a_batch(topic: str, size: int) -> list[OutboxMessage]:
    return [
        OutboxMessage(
            n, uuid.uuid4(), topic, f"key-{n}", f'{{"n": {n}}}'.encode(), datetime.now(UTC)
        )
        for n in range(1, size + 1)
    ]


def test_every_message_of_a_batch_is_where_its_report_says(stack):
    topic = f"batch-{uuid.uuid4().hex[:8]}"
    ensure_topics(stack.kafka_bootstrap_servers, [TopicSpec(topic, 3)])
    publisher = KafkaBatchPublisher(stack.kafka_bootstrap_servers, timeout_ms=5000)
    try:
        first = publisher.publish_messages(a_batch(topic, 50))
        second = publisher.publish_messages(a_batch(topic, 50))
    finally:
        publisher.close()

    outcomes = first + second
    assert all(o.delivered for o in outcomes), [o.error for o in outcomes if not o.delivered]
    records = TopicReader(stack.kafka_bootstrap_servers, topic).read_since({})
    found = {(r.partition, r.offset): r.key for r in records}
    reported = {(o.delivery.partition, o.delivery.offset) for o in outcomes}
    assert reported == set(found)
    assert sorted(found.values()) == sorted([f"key-{n}" for n in range(1, 51)] * 2)


def test_a_batch_to_an_unreachable_broker_fails_each_message_within_the_bound(
    unreachable_broker,
):
    publisher = KafkaBatchPublisher(unreachable_broker, timeout_ms=2000)
    try:
        started = time.monotonic()
        outcomes = publisher.publish_messages(a_batch("nowhere", 5))
        took = time.monotonic() - started
    finally:
        publisher.close(timeout=0)

    assert [o.delivered for o in outcomes] == [False] * 5
    assert all(o.error for o in outcomes)
    assert took < 2 + 1.5
