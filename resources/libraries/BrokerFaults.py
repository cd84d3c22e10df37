"""Robot Framework keywords that cut the Kafka broker off, hang, stop or fail it, and heal it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from robot.api import SkipExecution, logger
from robot.api.deco import keyword, library

from embedded_stack import BrokerProcess, TcpProxy
from embedded_stack.apache_kafka import KafkaCluster, KafkaNode
from embedded_stack.net import free_port
from embedded_stack.processes import ServerProcess
from embedded_stack.settings import APACHE_KAFKA_CLUSTER, KAFKA_ENGINES, TANSU

_HOST = "127.0.0.1"
# What each fault needs of the dedicated broker: a real one, or three of them.
_FAULTS = {
    "broker-restart": "kafka",
    "leader-failover": "cluster",
    "min-insync-replicas": "cluster",
}


@library(scope="SUITE", version="1.0")
class BrokerFaults:
    """Faults of the broker the service publishes to, for the lost-event proof.

    Two ways, chosen with the ``mode`` import argument:

    - ``proxy`` (the default, no Docker needed): the library starts a dedicated broker of
      the ``engine`` asked for, on ``broker_port``, advertising a TCP proxy on
      ``proxy_port``, so every client, the service included, goes through the proxy. With
      ``kafka-cluster`` each of the three brokers has a proxy of its own (the first on
      those ports, the others on free ones), and the brokers replicate directly.
    - ``compose``: the broker is Redpanda from ``docker-compose.yml``, stopped and started
      with ``docker compose``.

    The faults, and the engines that allow them:

    | =Keyword= | =Fault= | =Engines= |
    | `Cut Broker Off` | connections refused, data kept | all (compose: stop) |
    | `Pause Broker` | every broker frozen (SIGSTOP) | all |
    | `Stop Broker` | every broker shut down (SIGTERM), log kept | kafka, kafka-cluster, compose |
    | `Kill Partition Leader` | a partition's leader killed (SIGKILL) | kafka-cluster |
    | `Take Two Brokers Down` | two of three brokers down, under min ISR | kafka-cluster |

    A fault the engine does not allow skips its test, naming the engine it needs: Tansu keeps
    its events in memory only, so a stopped Tansu would come back empty.

    %TOC%

    = Example =

    | Library | BrokerFaults | proxy | 9192 | 9193 | localhost:9092 | kafka-cluster |
    | ${bootstrap}= | Start Faulty Broker |
    | Cut Broker Off |
    | Bring Broker Back |
    | Stop Faulty Broker |
    """

    def __init__(
        self,
        mode: str = "proxy",
        broker_port: int = 9192,
        proxy_port: int = 9193,
        compose_bootstrap: str = "localhost:9092",
        engine: str = TANSU,
    ) -> None:
        """Configure the library (the import arguments).

        | ``mode``              | ``proxy`` (a dedicated broker behind a proxy) or ``compose``. |
        | ``broker_port``       | Port of the dedicated broker (the first, in a cluster). |
        | ``proxy_port``        | Port of the proxy it advertises (the first, in a cluster). |
        | ``compose_bootstrap`` | Address of Redpanda from ``docker-compose.yml`` (compose mode). |
        | ``engine``            | ``tansu``, ``kafka`` or ``kafka-cluster`` (proxy mode). |

        Example:
        | Library | BrokerFaults | proxy | 9192 | 9193 | localhost:9092 | kafka |
        """
        if mode not in ("proxy", "compose"):
            raise ValueError(f"mode must be proxy or compose, not {mode!r}")
        if engine not in KAFKA_ENGINES:
            raise ValueError(f"engine must be one of {', '.join(KAFKA_ENGINES)}, not {engine!r}")
        self._mode = mode
        self._engine = engine
        self._broker_port = int(broker_port)
        self._proxy_port = int(proxy_port)
        self._compose_bootstrap = compose_bootstrap
        self._tansu: BrokerProcess | None = None
        self._cluster: KafkaCluster | None = None
        self._cluster_dir: Path | None = None
        self._proxies: list[TcpProxy] = []
        self._down: list[KafkaNode] = []

    @keyword("Start Faulty Broker")
    def start_faulty_broker(self) -> str:
        """Start the broker and its proxies (proxy mode); return the address clients use.

        In compose mode nothing starts: Redpanda runs already, and its address is returned.

        Example:
        | ${bootstrap}= | Start Faulty Broker |
        """
        if self._mode == "compose":
            logger.info(f"Using Redpanda at {self._compose_bootstrap} (docker compose)")
            return self._compose_bootstrap
        count = 3 if self._engine == APACHE_KAFKA_CLUSTER else 1
        brokers = [self._broker_port, *(free_port(_HOST) for _ in range(count - 1))]
        proxies = [self._proxy_port, *(free_port(_HOST) for _ in range(count - 1))]
        self._proxies = [
            TcpProxy(p, _HOST, b).start() for p, b in zip(proxies, brokers, strict=True)
        ]
        if self._engine == TANSU:
            self._tansu = BrokerProcess(brokers[0], advertised=f"{_HOST}:{proxies[0]}").start()
            started = f"Tansu PID {self._tansu.pid}"
        else:
            self._cluster_dir = Path(tempfile.mkdtemp(prefix="faulty-kafka-"))
            self._cluster = KafkaCluster(
                brokers, root=self._cluster_dir, host=_HOST, advertised_ports=proxies
            ).start()
            started = f"Apache Kafka, {count} broker(s), PIDs {self._pids()}"
        bootstrap = ",".join(f"{_HOST}:{port}" for port in proxies)
        logger.info(
            f"Dedicated broker on {brokers} ({started}), advertising the proxies {bootstrap}"
        )
        return bootstrap

    @keyword("Cut Broker Off")
    def cut_broker_off(self) -> None:
        """Make the broker unreachable: connections are refused, its data is kept.

        Example:
        | Cut Broker Off |
        """
        if self._mode == "compose":
            _compose("stop", "redpanda")
        else:
            for proxy in self._require(self._proxies):
                proxy.cut()
        logger.info("Broker cut off: connections are refused")

    @keyword("Bring Broker Back")
    def bring_broker_back(self) -> None:
        """Make the broker reachable again.

        Example:
        | Bring Broker Back |
        """
        if self._mode == "compose":
            _compose("start", "redpanda")
        else:
            for proxy in self._require(self._proxies):
                proxy.restore()
        logger.info("Broker reachable again")

    @keyword("Pause Broker")
    def pause_broker(self) -> None:
        """Freeze every broker process (SIGSTOP): requests hang instead of being refused.

        Example:
        | Pause Broker |
        """
        if self._mode == "compose":
            _compose("pause", "redpanda")
        else:
            for broker in self._brokers():
                broker.pause()
        logger.info("Broker paused")

    @keyword("Resume Broker")
    def resume_broker(self) -> None:
        """Let a paused broker run again (SIGCONT).

        Example:
        | Resume Broker |
        """
        if self._mode == "compose":
            _compose("unpause", "redpanda")
        else:
            for broker in self._brokers():
                broker.resume()
        logger.info("Broker resumed")

    @keyword("Skip Unless The Engine Allows")
    def skip_unless_the_engine_allows(self, fault: str) -> None:
        """Skip the test, naming the engine it needs, unless the broker allows ``fault``.

        ``fault`` is ``broker-restart``, ``leader-failover`` or ``min-insync-replicas``
        (the tags of the tests). Called first, so a skipped test places no order.

        Example:
        | `Skip Unless The Engine Allows` | leader-failover |
        """
        needs = _FAULTS.get(fault)
        if needs is None:
            raise ValueError(f"fault must be one of {', '.join(_FAULTS)}, not {fault!r}")
        if self._mode == "compose":
            if fault != "broker-restart":
                raise SkipExecution(f"{fault} needs three brokers; compose runs one Redpanda")
            return
        if needs == "cluster":
            self._require_cluster(fault)
        else:
            self._require_kafka(fault)

    @keyword("Stop Broker")
    def stop_broker(self) -> None:
        """Shut every broker down (SIGTERM): it is gone, but its log stays on disk.

        The original project's ``docker compose stop redpanda``. Skips on Tansu, which keeps
        its events in memory only.

        Example:
        | Stop Broker |
        | Start Broker |
        """
        if self._mode == "compose":
            _compose("stop", "redpanda")
        else:
            self._down = self._require_kafka("a broker stopped and started").brokers
            for broker in self._down:
                broker.stop()
        logger.info("Broker stopped; its log is kept")

    @keyword("Start Broker")
    def start_broker(self) -> None:
        """Start what `Stop Broker`, `Kill Partition Leader` or `Take Two Brokers Down` ended.

        Waits until every broker has joined the cluster again.

        Example:
        | Start Broker |
        """
        if self._mode == "compose":
            _compose("start", "redpanda")
            return
        cluster = self._require_kafka("a broker stopped and started")
        for broker in self._down:
            broker.start()
        cluster.await_brokers(len(cluster.brokers))
        logger.info(f"Broker(s) {[b.spec.node_id for b in self._down]} started again")
        self._down = []

    @keyword("Kill Partition Leader")
    def kill_partition_leader(self, topic: str, partition: int = 0) -> int:
        """Kill (SIGKILL) the broker that leads ``topic``'s ``partition``; return its id.

        Skips unless the engine is ``kafka-cluster``. `Start Broker` brings it back.

        Example:
        | ${killed}= | Kill Partition Leader | order.created | 0 |
        """
        cluster = self._require_cluster("the partition leader killed")
        leader = cluster.leader_of(topic, int(partition))
        leader.kill()
        self._down.append(leader)
        logger.info(f"Killed broker {leader.spec.node_id}, the leader of {topic}/{partition}")
        return leader.spec.node_id

    @keyword("Take Two Brokers Down")
    def take_two_brokers_down(self, topic: str, partition: int = 0) -> list[int]:
        """Shut down two of the three brokers, keeping the leader of ``topic``'s ``partition``.

        The controller fences them, the in-sync replicas shrink to the leader alone, below
        ``min.insync.replicas=2``: the leader refuses every ``acks=all`` write. Waits until
        the ISR has shrunk. Skips unless the engine is ``kafka-cluster``.

        Example:
        | ${down}= | Take Two Brokers Down | order.created |
        """
        cluster = self._require_cluster("two of three brokers down")
        leader = cluster.leader_of(topic, int(partition))
        others = [broker for broker in cluster.brokers if broker is not leader]
        for broker in others:
            broker.stop()
        self._down.extend(others)
        cluster.await_in_sync(topic, int(partition), 1)
        down = [broker.spec.node_id for broker in others]
        logger.info(f"Brokers {down} down; {leader.spec.node_id} alone in sync for {topic}")
        return down

    @keyword("Stop Faulty Broker")
    def stop_faulty_broker(self) -> None:
        """Stop the proxies and the dedicated broker, whatever state they are in.

        Safe in a suite teardown: a broker that never started is nothing to stop.

        Example:
        | Suite Teardown | Stop Faulty Broker |
        """
        for proxy in self._proxies:
            proxy.stop()
        self._proxies = []
        if self._tansu is not None:
            self._tansu.stop()
            self._tansu = None
        if self._cluster is not None:
            self._cluster.stop()
            self._cluster = None
        if self._cluster_dir is not None:
            shutil.rmtree(self._cluster_dir, ignore_errors=True)
            self._cluster_dir = None

    def _brokers(self) -> list[ServerProcess]:
        if self._tansu is not None:
            return [self._tansu]
        if self._cluster is not None:
            return list(self._cluster.brokers)
        raise AssertionError("no faulty broker: call 'Start Faulty Broker' first")

    def _pids(self) -> list[int | None]:
        return [node.pid for node in self._cluster.nodes] if self._cluster else []

    def _require_kafka(self, fault: str) -> KafkaCluster:
        if self._tansu is not None:
            raise SkipExecution(
                f"{fault} needs KAFKA_ENGINE kafka or kafka-cluster: Tansu keeps its events "
                "in memory only, so a stopped Tansu comes back empty"
            )
        return self._require(self._cluster)

    def _require_cluster(self, fault: str) -> KafkaCluster:
        cluster = self._require_kafka(fault)
        if len(cluster.brokers) < 3:
            raise SkipExecution(f"{fault} needs KAFKA_ENGINE kafka-cluster (three brokers)")
        return cluster

    @staticmethod
    def _require(thing):
        if not thing:
            raise AssertionError("no faulty broker: call 'Start Faulty Broker' first")
        return thing


def _compose(*arguments: str) -> None:
    command = ["docker", "compose", *arguments]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed: {result.stderr.strip()}")
