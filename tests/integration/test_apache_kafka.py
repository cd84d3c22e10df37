"""The Apache Kafka engine of the embedded stack: a real broker and a real 3-broker cluster.

Every test starts its own nodes on free ports under pytest's temporary folder, so it never
meets a developer's stack; the jars come from Maven's cache after the first start.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from embedded_stack import EmbeddedStack, StackSettings
from embedded_stack.apache_kafka import KafkaCluster, kafka_classpath
from embedded_stack.polling import wait_until
from tests.integration.helpers import produce_values, topic_values
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """Three brokers and a controller, shared by the cluster tests; each heals what it broke."""
    root = tmp_path_factory.mktemp("kafka-cluster")
    with KafkaCluster([free_port(), free_port(), free_port()], root=root) as started:
        yield started


def test_a_broker_keeps_its_events_when_stopped_and_started(tmp_path: Path) -> None:
    broker = KafkaCluster([free_port()], root=tmp_path)
    with broker:
        topic = _new_topic(broker.bootstrap_servers, partitions=3)
        sent = produce_values(broker.bootstrap_servers, topic, [f"before-{i}" for i in range(5)])
        broker.stop()
        assert not broker.nodes[0].is_running
        started = time.monotonic()
        broker.start()
        restarted_after = time.monotonic() - started
        produce_values(broker.bootstrap_servers, topic, ["after"])
        kept = topic_values(broker.bootstrap_servers, topic)

    assert sent == [None] * 5
    assert sorted(kept) == sorted([*(f"before-{i}" for i in range(5)), "after"])
    print(f"\nrestart with data kept: {restarted_after:.1f} s")


def test_a_second_start_needs_no_maven(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kafka_classpath()  # the first call may ask Maven; it leaves the classpath in the cache
    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn (and no java) on PATH from now on

    classpath = kafka_classpath()

    jars = classpath.split(os.pathsep)
    assert any(Path(jar).name.startswith("kafka_2.13-") for jar in jars)
    assert all(Path(jar).exists() for jar in jars)


def test_every_topic_of_the_cluster_has_three_copies_and_needs_two(cluster: KafkaCluster) -> None:
    topic = _new_topic(cluster.bootstrap_servers, partitions=3)

    partitions = _partitions(cluster.bootstrap_servers, topic)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
    described = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)])
    min_isr = next(iter(described.values())).result(timeout=10)["min.insync.replicas"].value

    assert cluster.live_broker_ids() == {1, 2, 3}
    assert all(len(p.replicas) == 3 and len(p.isrs) == 3 for p in partitions.values())
    assert min_isr == "2"


def test_killing_the_leader_moves_the_partition_and_loses_no_acknowledged_event(
    cluster: KafkaCluster,
) -> None:
    topic = _new_topic(cluster.bootstrap_servers, partitions=1)
    assert produce_values(cluster.bootstrap_servers, topic, ["before"]) == [None]
    leader = cluster.leader_of(topic, 0)

    leader.kill()
    killed = time.monotonic()
    try:
        new_leader = wait_until(
            lambda: _leader_id(cluster, topic) not in (leader.spec.node_id, -1),
            timeout=30,
            what="a new leader",
        )
        moved_after = time.monotonic() - killed
        after = produce_values(cluster.bootstrap_servers, topic, ["after"])
    finally:
        leader.start()
        cluster.await_brokers(3)

    assert new_leader and after == [None]
    assert sorted(topic_values(cluster.bootstrap_servers, topic)) == ["after", "before"]
    print(f"\nleader {leader.spec.node_id} killed: partition moved after {moved_after:.1f} s")


def test_two_brokers_down_refuse_acks_all_until_one_returns(cluster: KafkaCluster) -> None:
    topic = _new_topic(cluster.bootstrap_servers, partitions=1)
    leader = cluster.leader_of(topic, 0)
    others = [broker for broker in cluster.brokers if broker is not leader]

    for broker in others:
        broker.kill()
    try:
        # The controller fences the two after their session timeout; the ISR shrinks to one.
        cluster.await_in_sync(topic, 0, 1)
        # No retries, so the broker's answer reaches the report; a producer that retries
        # (the service's) sees the same refusal again until its message timeout.
        refused = produce_values(cluster.bootstrap_servers, topic, ["refused"], retries=0)
    finally:
        for broker in others:
            broker.start()
        cluster.await_brokers(3)
    accepted = produce_values(cluster.bootstrap_servers, topic, ["accepted"], timeout_ms=30_000)

    assert refused[0] is not None
    assert refused[0].code() in (
        KafkaError.NOT_ENOUGH_REPLICAS,
        KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
    ), refused[0]
    assert accepted == [None]
    assert topic_values(cluster.bootstrap_servers, topic) == ["accepted"]


def test_the_stack_starts_the_engine_it_is_asked_for(tmp_path: Path) -> None:
    settings = StackSettings(
        database_url=f"postgresql://mars:mars@localhost:{free_port()}/orders_db",
        kafka_bootstrap_servers=f"localhost:{free_port()}",
        state_dir=tmp_path,
        kafka_engine="kafka",
    )
    stack = EmbeddedStack(settings)
    try:
        report = stack.up()
        topic = _new_topic(settings.kafka_bootstrap_servers, partitions=1)
        answered = produce_values(settings.kafka_bootstrap_servers, topic, ["hello"])
    finally:
        stopped = stack.down()
        stack.purge()

    assert report.kafka.started and "Apache Kafka 4." in report.kafka.note
    assert answered == [None]
    assert (tmp_path / "apache-kafka" / "kafka" / "node-1" / "data" / "meta.properties").exists()
    assert all(stop.stopped for stop in stopped)


def _new_topic(bootstrap: str, *, partitions: int) -> str:
    topic = f"apache-kafka-test-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    # replication_factor=-1: the broker's default, 3 in the cluster.
    admin.create_topics([NewTopic(topic, partitions, replication_factor=-1)])[topic].result(30)

    def led() -> bool:
        known = _partitions(bootstrap, topic)
        return len(known) == partitions and all(p.leader >= 0 for p in known.values())

    wait_until(led, timeout=30, what=f"leaders for {topic}")
    return topic


def _partitions(bootstrap: str, topic: str) -> dict:
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    return metadata.topics[topic].partitions


def _leader_id(cluster: KafkaCluster, topic: str) -> int:
    live = [b.spec.listen_address for b in cluster.brokers if b.is_running]
    partition = _partitions(",".join(live), topic).get(0)
    return partition.leader if partition is not None else -1
