"""A broker of a chaos test's own, behind one TCP proxy per broker, with its faults.

Every client, the service included, reaches the broker through the proxies it advertises,
so a cut proxy makes the broker unreachable for all of them while its data is kept. The
shared broker (the embedded stack's, or one the developer runs) is never faulted.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from embedded_stack.apache_kafka import KafkaCluster, KafkaNode
from embedded_stack.broker import BrokerProcess, host_port
from embedded_stack.errors import StackError
from embedded_stack.net import free_port
from embedded_stack.processes import ServerProcess, StartStopContext
from embedded_stack.settings import APACHE_KAFKA_CLUSTER, KAFKA_ENGINES, TANSU
from embedded_stack.tcp_proxy import TcpProxy

logger = logging.getLogger(__name__)


class FaultNotSupported(StackError):
    """Raise when the engine cannot undergo a fault; the message names the engine it needs."""


class FaultyBroker(StartStopContext):
    """A dedicated broker of ``engine`` (Tansu, one Apache Kafka node, or three brokers).

    The faults, and the engines that allow them:

    - :meth:`cut` / :meth:`restore`: connections refused, data kept (all engines);
    - :meth:`pause` / :meth:`resume`: every broker frozen by SIGSTOP (all engines);
    - :meth:`stop_brokers` / :meth:`start_brokers`: every broker shut down, its log kept
      (Apache Kafka: Tansu keeps its events in memory only and would come back empty);
    - :meth:`kill_leader`, :meth:`take_two_down`: one partition's leader killed, or two of
      three brokers down (the three-broker cluster); :meth:`start_brokers` brings them back.

    Example:
        with FaultyBroker("kafka", broker_port=29092, proxy_port=29093) as broker:
            broker.cut()
            ...
            broker.restore()
    """

    def __init__(
        self,
        engine: str = TANSU,
        *,
        broker_port: int | None = None,
        proxy_port: int | None = None,
        host: str = "127.0.0.1",
        log_dir: Path | None = None,
    ) -> None:
        """Describe the broker; nothing runs until :meth:`start`.

        Args:
            engine: ``tansu``, ``kafka`` or ``kafka-cluster``.
            broker_port: Port of the (first) broker; None takes a free one.
            proxy_port: Port of the (first) proxy clients use; None takes a free one.
            host: The loopback IP everything listens on.
            log_dir: Where the brokers' output goes; None discards Tansu's and keeps Apache
                Kafka's beside its logs in a temporary folder.
        """
        if engine not in KAFKA_ENGINES:
            raise ValueError(f"engine must be one of {', '.join(KAFKA_ENGINES)}, not {engine!r}")
        self.engine = engine
        self.host = host
        self._broker_port = broker_port
        self._proxy_port = proxy_port
        self._log_dir = log_dir
        self.proxies: list[TcpProxy] = []
        self.tansu: BrokerProcess | None = None
        self.cluster: KafkaCluster | None = None
        self._root: Path | None = None
        self._down: list[KafkaNode] = []

    @property
    def broker_count(self) -> int:
        """Return how many brokers the engine runs: 3 for the cluster, else 1."""
        return 3 if self.engine == APACHE_KAFKA_CLUSTER else 1

    @property
    def bootstrap_servers(self) -> str:
        """Return the proxies' addresses, the bootstrap servers every client uses."""
        return ",".join(proxy.listen_address for proxy in self.proxies)

    def start(self) -> FaultyBroker:
        """Start the proxies and the broker(s); return this object."""
        count = self.broker_count
        brokers = [self._broker_port or free_port(self.host)]
        brokers += [free_port(self.host) for _ in range(count - 1)]
        proxies = [self._proxy_port or free_port(self.host)]
        proxies += [free_port(self.host) for _ in range(count - 1)]
        try:
            self.proxies = [
                TcpProxy(p, self.host, b).start() for p, b in zip(proxies, brokers, strict=True)
            ]
            if self.engine == TANSU:
                log = self._log_dir / "tansu.log" if self._log_dir else None
                advertised = host_port(self.host, proxies[0])
                self.tansu = BrokerProcess(brokers[0], advertised=advertised, log_path=log)
                self.tansu.start()
            else:
                self._root = Path(tempfile.mkdtemp(prefix="faulty-kafka-"))
                self.cluster = KafkaCluster(
                    brokers,
                    root=self._root,
                    host=self.host,
                    log_dir=self._log_dir,
                    advertised_ports=proxies,
                ).start()
        except BaseException:
            self.stop()
            raise
        logger.info(
            "Dedicated %s broker(s) on %s (PIDs %s), advertising the proxies %s",
            self.engine,
            brokers,
            [broker.pid for broker in self.brokers],
            self.bootstrap_servers,
        )
        return self

    @property
    def brokers(self) -> list[ServerProcess]:
        """Return the broker processes (Tansu's one, or the cluster's brokers)."""
        if self.tansu is not None:
            return [self.tansu]
        return list(self.cluster.brokers) if self.cluster is not None else []

    def cut(self) -> None:
        """Make the broker unreachable: connections are refused, its data is kept."""
        for proxy in self._started(self.proxies):
            proxy.cut()

    def restore(self) -> None:
        """Make the broker reachable again."""
        for proxy in self._started(self.proxies):
            proxy.restore()

    def pause(self) -> None:
        """Freeze every broker (SIGSTOP): requests hang instead of being refused."""
        for broker in self._started(self.brokers):
            broker.pause()

    def resume(self) -> None:
        """Let paused brokers run again (SIGCONT)."""
        for broker in self._started(self.brokers):
            if broker.is_paused:
                broker.resume()

    def stop_brokers(self) -> None:
        """Shut every broker down (SIGTERM); their logs stay on disk.

        Raises:
            FaultNotSupported: The engine is Tansu.
        """
        cluster = self.require_kafka("a broker stopped and started")
        for broker in cluster.brokers:
            if broker not in self._down:
                broker.stop()
                self._down.append(broker)

    def start_brokers(self) -> list[int]:
        """Start every broker a fault ended and wait until all have joined; return their ids."""
        if self.cluster is None or not self._down:
            return []
        started = [broker.spec.node_id for broker in self._down]
        for broker in self._down:
            broker.start()
        self._down = []
        self.cluster.await_brokers(len(self.cluster.brokers))
        return started

    def kill_leader(self, topic: str, partition: int = 0) -> int:
        """Kill (SIGKILL) the broker that leads ``topic``'s ``partition``; return its id.

        Raises:
            FaultNotSupported: The engine is not the three-broker cluster.
        """
        cluster = self.require_cluster("the partition leader killed")
        leader = cluster.leader_of(topic, partition)
        leader.kill()
        self._down.append(leader)
        return leader.spec.node_id

    def take_two_down(self, topic: str, partition: int = 0) -> list[int]:
        """Shut down two of three brokers, keeping ``topic``'s ``partition`` leader.

        The in-sync replicas shrink to the leader alone, below ``min.insync.replicas=2``,
        so every ``acks=all`` write is refused. Returns when the ISR has shrunk.

        Raises:
            FaultNotSupported: The engine is not the three-broker cluster.
        """
        cluster = self.require_cluster("two of three brokers down")
        leader = cluster.leader_of(topic, partition)
        others = [broker for broker in cluster.brokers if broker is not leader]
        for broker in others:
            broker.stop()
        self._down.extend(others)
        cluster.await_in_sync(topic, partition, 1)
        return [broker.spec.node_id for broker in others]

    def require_kafka(self, fault: str) -> KafkaCluster:
        """Return the Apache Kafka cluster, or say the fault needs one.

        Raises:
            FaultNotSupported: The engine is Tansu.
        """
        if self.tansu is not None or self.engine == TANSU:
            raise FaultNotSupported(
                f"{fault} needs the kafka or kafka-cluster engine: Tansu keeps its events "
                "in memory only, so a stopped Tansu comes back empty"
            )
        return self._started([self.cluster])[0]

    def require_cluster(self, fault: str) -> KafkaCluster:
        """Return the three-broker cluster, or say the fault needs one.

        Raises:
            FaultNotSupported: The engine is not ``kafka-cluster``.
        """
        cluster = self.require_kafka(fault)
        if self.engine != APACHE_KAFKA_CLUSTER:
            raise FaultNotSupported(f"{fault} needs the kafka-cluster engine (three brokers)")
        return cluster

    def stop(self) -> None:
        """Stop the proxies and the broker(s), whatever state they are in; safe to repeat."""
        for proxy in self.proxies:
            proxy.stop()
        self.proxies = []
        if self.tansu is not None:
            self.tansu.stop()
            self.tansu = None
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None
        self._down = []
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    @staticmethod
    def _started(things: list) -> list:
        if not things or any(thing is None for thing in things):
            raise RuntimeError("the faulty broker is not started: call start() first")
        return things
