"""Topics: the health check only looks; the keeper creates what a broker lost."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from service.adapters.kafka import KafkaHealthCheck, TopicKeeper, TopicSpec
from tests.integration.helpers import wait_for


def partitions_of(bootstrap: str, name: str) -> int | None:
    topic = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=5).topics.get(name)
    return len(topic.partitions) if topic is not None and topic.error is None else None


def test_health_reports_a_missing_topic_and_creates_nothing(stack):
    name = f"health-probe-{uuid.uuid4()}"
    check = KafkaHealthCheck(stack.kafka_bootstrap_servers, [TopicSpec(name, 2)])

    with pytest.raises(KafkaException, match=f"the topic {name} is missing"):
        check(2.0)

    assert partitions_of(stack.kafka_bootstrap_servers, name) is None


def test_the_topic_keeper_creates_a_lost_topic_with_its_partitions(stack):
    name = f"kept-{uuid.uuid4()}"
    keeper = TopicKeeper(stack.kafka_bootstrap_servers, [TopicSpec(name, 2)], interval=0.2)
    keeper.start()
    try:
        created = wait_for(
            lambda: partitions_of(stack.kafka_bootstrap_servers, name), 10, "the topic created"
        )
    finally:
        keeper.stop()
    assert created == 2
