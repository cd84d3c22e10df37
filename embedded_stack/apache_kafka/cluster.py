"""Apache Kafka in KRaft mode: one combined node, or three brokers beside one controller.

The three-broker cluster keeps its controller in a process of its own on purpose: with two
of three brokers down the quorum must live on, so that it fences them and shrinks the
in-sync replicas, and ``acks=all`` is refused with "not enough replicas" (the fault the
suite shows) instead of hanging until a timeout, as it would if the lost brokers had taken
the controller majority with them.
"""

from __future__ import annotations

import base64
import json
import logging
import signal
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata, PartitionMetadata

from embedded_stack.apache_kafka.node import START_TIMEOUT, STOP_GRACE, KafkaNode, NodeSpec
from embedded_stack.errors import StartupError
from embedded_stack.net import free_port, port_accepts
from embedded_stack.polling import WaitTimedOut, wait_until
from embedded_stack.processes import ProcessRecord, StartStopContext, stop_process

logger = logging.getLogger(__name__)

CONTROLLER_ID = 100
_LAYOUT_FILE = "cluster.json"


class KafkaCluster(StartStopContext):
    """Apache Kafka on loopback, its logs under ``root``, kept across stops and starts.

    One broker port gives one node that is broker and controller at once (``kafka``);
    three give three brokers and a controller (``kafka-cluster``), with replication factor 3
    and ``min.insync.replicas=2`` for every topic, so ``acks=all`` means two copies.

    Example:
        with KafkaCluster([29092, 29093, 29094], root=tmp_path / "kafka") as cluster:
            leader = cluster.leader_of("order.created", 0)
            leader.kill()
    """

    def __init__(
        self,
        broker_ports: list[int],
        *,
        root: Path,
        host: str = "127.0.0.1",
        log_dir: Path | None = None,
        detach: bool = False,
        advertised_ports: list[int] | None = None,
    ) -> None:
        """Describe the cluster; nothing runs until :meth:`start`.

        Args:
            broker_ports: One port per broker: 1 or 3 of them.
            advertised_ports: Per broker, the port clients are told to use (a proxy in
                front of it); None advertises the broker ports themselves.
            root: The cluster's folder: its layout (cluster id, controller port) and logs.
            host: The loopback IP every node listens on.
            log_dir: Where each node's output goes (``kafka-node-<id>.log``); default root.
            detach: True lets the nodes outlive this process.
        """
        if len(broker_ports) not in (1, 3):
            raise ValueError(f"a cluster has 1 or 3 brokers, not {len(broker_ports)}")
        self.host = host
        self.root = root
        cluster_id, controller_port = self._layout(broker_ports)
        voters = f"{self._controller_id(broker_ports)}@{host}:{controller_port}"
        settings = _settings(len(broker_ports), voters)
        specs = _specs(broker_ports, host, controller_port, advertised_ports)
        logs = log_dir or root
        self.nodes = [
            KafkaNode(
                spec,
                cluster_id=cluster_id,
                settings=settings,
                node_dir=root / f"node-{spec.node_id}",
                log_path=logs / f"kafka-node-{spec.node_id}.log",
                detach=detach,
            )
            for spec in specs
        ]

    @property
    def brokers(self) -> list[KafkaNode]:
        """Return the nodes clients talk to, in broker id order."""
        return [node for node in self.nodes if node.spec.broker_port is not None]

    @property
    def bootstrap_servers(self) -> str:
        """Return every broker's address, comma separated."""
        return ",".join(node.spec.listen_address for node in self.brokers)

    def broker(self, node_id: int) -> KafkaNode:
        """Return the broker with ``node_id``."""
        return next(node for node in self.brokers if node.spec.node_id == node_id)

    def start(self, timeout: float = START_TIMEOUT) -> KafkaCluster:
        """Start every node at once, then wait until every broker has joined.

        Raises:
            StackError: No Java or Maven, or the jars could not be resolved.
            StartupError: A node exited, or the brokers did not all join in time; the nodes
                this call started are stopped again.
        """
        try:
            # Formatting is a JVM per node, run side by side; the nodes themselves are
            # launched from this thread, which they must not outlive (see launch()), and
            # all before any wait, so they boot side by side too.
            with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
                list(pool.map(KafkaNode.prepare, self.nodes))
            for node in self.nodes:
                if not node.is_running:
                    node.launch()
            for node in self.nodes:
                node.await_port(timeout)
            self.await_brokers(len(self.brokers), timeout=timeout)
        except BaseException:
            self.stop()
            raise
        logger.info("Apache Kafka up at %s", self.bootstrap_servers)
        return self

    def stop(self) -> None:
        """Shut every node down in a controlled way: the brokers first, the controller last."""
        brokers = [node for node in self.brokers if node.is_running]
        with ThreadPoolExecutor(max_workers=max(1, len(brokers))) as pool:
            list(pool.map(KafkaNode.stop, brokers))
        for node in self.stop_order():
            node.stop()

    def stop_order(self) -> list[KafkaNode]:
        """Return the nodes in the order they stop: brokers, then the controller.

        A broker's controlled shutdown asks the controller to move its leaderships away, so
        the controller must outlive the brokers.
        """
        return [*self.brokers, *(node for node in self.nodes if node not in self.brokers)]

    def await_brokers(self, count: int, *, timeout: float = START_TIMEOUT) -> None:
        """Wait until the cluster's metadata lists ``count`` live brokers.

        Raises:
            StartupError: It did not within ``timeout`` seconds.
        """
        try:
            wait_until(
                lambda: self.live_broker_ids() if len(self.live_broker_ids()) >= count else None,
                timeout=timeout,
                interval=0.2,
                what=f"{count} broker(s) of {self.bootstrap_servers} joining",
            )
        except WaitTimedOut as ex:
            raise StartupError(str(ex)) from None

    def live_broker_ids(self) -> set[int]:
        """Return the ids of the brokers the cluster's metadata lists (none if none answers)."""
        metadata = self._metadata()
        return set(metadata.brokers) if metadata is not None else set()

    def await_in_sync(
        self, topic: str, partition: int, count: int, *, timeout: float = 30.0
    ) -> None:
        """Wait until ``topic``'s ``partition`` has exactly ``count`` in-sync replicas."""

        def in_sync() -> bool:
            found = self._partition(topic, partition)
            return found is not None and len(found.isrs) == count

        wait_until(
            in_sync, timeout=timeout, interval=0.2, what=f"{count} in sync for {topic}/{partition}"
        )

    def leader_of(self, topic: str, partition: int, timeout: float = 30.0) -> KafkaNode:
        """Return the broker that leads ``topic``'s ``partition``, once one is known.

        A broker that just joined may answer metadata without a new topic for a moment, and
        during a failover the partition has no leader: both are waited out.
        """

        def leader() -> int | None:
            found = self._partition(topic, partition)
            return found.leader if found is not None and found.leader >= 0 else None

        node_id = wait_until(
            leader, timeout=timeout, interval=0.2, what=f"a leader for {topic}/{partition}"
        )
        return self.broker(node_id)

    def _partition(self, topic: str, partition: int) -> PartitionMetadata | None:
        metadata = self._metadata(topic)
        return metadata.topics[topic].partitions.get(partition) if metadata is not None else None

    def _metadata(self, topic: str | None = None) -> ClusterMetadata | None:
        # Asked of the running brokers directly, not of their advertised addresses: clients
        # may be cut off from them (proxies), and a refused port would cost the whole timeout.
        reachable = [
            node.spec.listen_address
            for node in self.brokers
            if node.is_running
            and not node.is_paused
            and port_accepts(self.host, node.spec.broker_port or 0, 0.2)
        ]
        if not reachable:
            return None
        admin = AdminClient({"bootstrap.servers": ",".join(reachable)})
        try:
            return admin.list_topics(topic, timeout=5)
        except KafkaException:
            return None

    def _layout(self, broker_ports: list[int]) -> tuple[str, int]:
        # Kept beside the logs: a restarted cluster must keep its id to read its own logs.
        path = self.root / _LAYOUT_FILE
        layout = json.loads(path.read_text()) if path.exists() else {}
        cluster_id = layout.get("cluster_id") or _new_cluster_id()
        controller_port = layout.get("controller_port")
        # The broker ports may be free ones nobody has bound yet: never pick one of them.
        while (
            controller_port is None
            or controller_port in broker_ports
            or port_accepts(self.host, controller_port, 0.2)
        ):
            controller_port = free_port(self.host)
        self.root.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "cluster_id": cluster_id,
                    "controller_port": controller_port,
                    "broker_ports": broker_ports,
                },
                indent=2,
            )
        )
        return cluster_id, controller_port

    @staticmethod
    def _controller_id(broker_ports: list[int]) -> int:
        return 1 if len(broker_ports) == 1 else CONTROLLER_ID


def broker_ports_for(root: Path, first_port: int, count: int, host: str) -> list[int]:
    """Return ``count`` broker ports: ``first_port``, then those of the last run if free.

    A restarted cluster keeps its ports where it can, so its brokers come back at the
    addresses clients already know; the others are free ports the kernel picks.
    """
    path = root / _LAYOUT_FILE
    recorded = json.loads(path.read_text()).get("broker_ports", []) if path.exists() else []
    ports = [first_port]
    for port in recorded[1:count]:
        if port not in ports and not port_accepts(host, port, 0.2):
            ports.append(port)
    while len(ports) < count:
        port = free_port(host)
        if port not in ports:
            ports.append(port)
    return ports


def stop_kafka_nodes(records: list[ProcessRecord]) -> bool:
    """Stop recorded nodes in their order (SIGTERM, SIGKILL after 30 s); True if any ran."""
    stopped = [
        stop_process(record, first_signal=signal.SIGTERM, grace=STOP_GRACE) for record in records
    ]
    return any(stopped)


def _specs(
    broker_ports: list[int],
    host: str,
    controller_port: int,
    advertised_ports: list[int] | None,
) -> list[NodeSpec]:
    advertised: list[int | None] = list(advertised_ports or [None] * len(broker_ports))
    taken = {*broker_ports, controller_port, *(p for p in advertised if p)}
    internal = [_free_port_except(host, taken) if port else None for port in advertised]
    single = len(broker_ports) == 1
    brokers = [
        NodeSpec(
            node_id=index,
            host=host,
            broker_port=port,
            controller_port=controller_port if single else None,
            advertised_port=advertised[index - 1],
            internal_port=internal[index - 1],
        )
        for index, port in enumerate(broker_ports, start=1)
    ]
    return brokers if single else [NodeSpec(CONTROLLER_ID, host, None, controller_port), *brokers]


def _free_port_except(host: str, taken: set[int]) -> int:
    while (port := free_port(host)) in taken:
        pass
    taken.add(port)
    return port


def _settings(brokers: int, voters: str) -> dict[str, str]:
    replicas = str(brokers)
    in_sync = str(min(2, brokers))
    return {
        "controller.quorum.voters": voters,
        # Every topic, the internal ones included, has a copy on every broker.
        "default.replication.factor": replicas,
        "min.insync.replicas": in_sync,
        "offsets.topic.replication.factor": replicas,
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": in_sync,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": in_sync,
        "group.initial.rebalance.delay.ms": "0",
        # A broker that stops heartbeating is fenced after 4 s (default 9 s), a follower that
        # stops fetching leaves the in-sync replicas after 5 s (default 30 s): faults show
        # within a test's time, and in the same way as with the defaults.
        "broker.heartbeat.interval.ms": "500",
        "broker.session.timeout.ms": "4000",
        "replica.lag.time.max.ms": "5000",
        "unclean.leader.election.enable": "false",
    }


def _new_cluster_id() -> str:
    # What kafka-storage random-uuid prints: 16 random bytes, URL-safe base64, no padding,
    # never starting with "-" (Kafka's Uuid.randomUuid draws again: it reads as an option).
    text = "-"
    while text.startswith("-"):
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    return text
