"""Robot Framework keywords that cut the Kafka broker off, hang, stop or fail it, and heal it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import TypeVar

from robot.api import SkipExecution, logger
from robot.api.deco import keyword, library

from embedded_stack.faulty_broker import FaultNotSupported, FaultyBroker
from embedded_stack.settings import KAFKA_ENGINES, TANSU

_HOST = "127.0.0.1"
_T = TypeVar("_T")
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
        self._broker: FaultyBroker | None = None

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
        self._broker = FaultyBroker(
            self._engine, broker_port=self._broker_port, proxy_port=self._proxy_port, host=_HOST
        ).start()
        pids = [broker.pid for broker in self._broker.brokers]
        logger.info(
            f"Dedicated {self._engine} broker(s), PIDs {pids}, advertising the proxies "
            f"{self._broker.bootstrap_servers}"
        )
        return self._broker.bootstrap_servers

    @keyword("Cut Broker Off")
    def cut_broker_off(self) -> None:
        """Make the broker unreachable: connections are refused, its data is kept.

        Example:
        | Cut Broker Off |
        """
        if self._mode == "compose":
            _compose("stop", "redpanda")
        else:
            self._require().cut()
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
            self._require().restore()
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
            self._require().pause()
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
            self._require().resume()
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
        broker = self._require()
        _skip_unless(broker.require_cluster if needs == "cluster" else broker.require_kafka, fault)

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
            _skip_unless(self._require().stop_brokers)
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
        broker = self._require()
        _skip_unless(broker.require_kafka, "a broker stopped and started")
        logger.info(f"Broker(s) {broker.start_brokers()} started again")

    @keyword("Kill Partition Leader")
    def kill_partition_leader(self, topic: str, partition: int = 0) -> int:
        """Kill (SIGKILL) the broker that leads ``topic``'s ``partition``; return its id.

        Skips unless the engine is ``kafka-cluster``. `Start Broker` brings it back.

        Example:
        | ${killed}= | Kill Partition Leader | order.created | 0 |
        """
        killed = _skip_unless(self._require().kill_leader, topic, int(partition))
        logger.info(f"Killed broker {killed}, the leader of {topic}/{partition}")
        return killed

    @keyword("Take Two Brokers Down")
    def take_two_brokers_down(self, topic: str, partition: int = 0) -> list[int]:
        """Shut down two of the three brokers, keeping the leader of ``topic``'s ``partition``.

        The controller fences them, the in-sync replicas shrink to the leader alone, below
        ``min.insync.replicas=2``: the leader refuses every ``acks=all`` write. Waits until
        the ISR has shrunk. Skips unless the engine is ``kafka-cluster``.

        Example:
        | ${down}= | Take Two Brokers Down | order.created |
        """
        down = _skip_unless(self._require().take_two_down, topic, int(partition))
        logger.info(f"Brokers {down} down; the leader alone in sync for {topic}")
        return down

    @keyword("Stop Faulty Broker")
    def stop_faulty_broker(self) -> None:
        """Stop the proxies and the dedicated broker, whatever state they are in.

        Safe in a suite teardown: a broker that never started is nothing to stop.

        Example:
        | Suite Teardown | Stop Faulty Broker |
        """
        if self._broker is not None:
            self._broker.stop()
            self._broker = None

    def _require(self) -> FaultyBroker:
        if self._broker is None:
            raise AssertionError("no faulty broker: call 'Start Faulty Broker' first")
        return self._broker


def _skip_unless(action: Callable[..., _T], *arguments: object) -> _T:
    """Run ``action``; a fault the engine does not allow skips the test, naming the engine."""
    try:
        return action(*arguments)
    except FaultNotSupported as ex:
        raise SkipExecution(f"{ex}; choose it with -v KAFKA_ENGINE:<engine>") from None


def _compose(*arguments: str) -> None:
    command = ["docker", "compose", *arguments]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed: {result.stderr.strip()}")
