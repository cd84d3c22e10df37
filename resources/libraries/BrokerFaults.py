"""Robot Framework keywords that make the Kafka broker unreachable, or hang, and heal it."""

from __future__ import annotations

import subprocess

from robot.api import logger
from robot.api.deco import keyword, library

from embedded_stack import BrokerProcess, TcpProxy


@library(scope="SUITE", version="1.0")
class BrokerFaults:
    """Faults of the broker the service publishes to, for the lost-event proof.

    Two ways, chosen with the ``mode`` import argument:

    - ``proxy`` (the default, no Docker needed): the library starts a dedicated Tansu broker
      on ``broker_port`` that advertises a TCP proxy on ``proxy_port``, so every client,
      the service included, goes through the proxy. `Cut Broker Off` closes the proxy and
      drops its connections: new connections are refused, a true unreachability, while the
      broker keeps what it holds in memory. `Pause Broker` stops the broker process
      (SIGSTOP) instead: connections hang, requests time out, and the broker may still
      write what it received once resumed.
    - ``compose``: the broker is Redpanda from ``docker-compose.yml``; `Cut Broker Off`
      runs ``docker compose stop redpanda`` and `Bring Broker Back` ``docker compose start
      redpanda`` (Redpanda keeps its data on disk across a stop).

    %TOC%

    = Example =

    | Library | BrokerFaults | proxy | 9192 | 9193 |
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
    ) -> None:
        """Configure the library (the import arguments).

        | ``mode``              | ``proxy`` (a dedicated broker behind a proxy) or ``compose``. |
        | ``broker_port``       | Port of the dedicated broker (proxy mode). |
        | ``proxy_port``        | Port of the proxy the broker advertises (proxy mode). |
        | ``compose_bootstrap`` | Address of Redpanda from ``docker-compose.yml`` (compose mode). |

        Example:
        | Library | BrokerFaults | proxy | 9192 | 9193 |
        """
        if mode not in ("proxy", "compose"):
            raise ValueError(f"mode must be proxy or compose, not {mode!r}")
        self._mode = mode
        self._broker_port = int(broker_port)
        self._proxy_port = int(proxy_port)
        self._compose_bootstrap = compose_bootstrap
        self._broker: BrokerProcess | None = None
        self._proxy: TcpProxy | None = None

    @keyword("Start Faulty Broker")
    def start_faulty_broker(self) -> str:
        """Start the broker and its proxy (proxy mode); return the address clients use.

        In compose mode nothing starts: Redpanda runs already, and its address is returned.

        Example:
        | ${bootstrap}= | Start Faulty Broker |
        """
        if self._mode == "compose":
            logger.info(f"Using Redpanda at {self._compose_bootstrap} (docker compose)")
            return self._compose_bootstrap
        advertised = f"127.0.0.1:{self._proxy_port}"
        self._broker = BrokerProcess(self._broker_port, advertised=advertised).start()
        self._proxy = TcpProxy(self._proxy_port, "127.0.0.1", self._broker_port).start()
        logger.info(
            f"Dedicated broker on 127.0.0.1:{self._broker_port} (PID {self._broker.pid}), "
            f"advertising the proxy at {advertised}"
        )
        return advertised

    @keyword("Cut Broker Off")
    def cut_broker_off(self) -> None:
        """Make the broker unreachable: connections are refused, its data is kept.

        Example:
        | Cut Broker Off |
        """
        if self._mode == "compose":
            _compose("stop", "redpanda")
        else:
            self._require_proxy().cut()
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
            self._require_proxy().restore()
        logger.info("Broker reachable again")

    @keyword("Pause Broker")
    def pause_broker(self) -> None:
        """Freeze the broker process (SIGSTOP): requests hang instead of being refused.

        Example:
        | Pause Broker |
        """
        if self._mode == "compose":
            _compose("pause", "redpanda")
        else:
            self._require_broker().pause()
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
            self._require_broker().resume()
        logger.info("Broker resumed")

    @keyword("Stop Faulty Broker")
    def stop_faulty_broker(self) -> None:
        """Stop the proxy and the dedicated broker, whatever state they are in.

        Safe in a suite teardown: a broker that never started is nothing to stop.

        Example:
        | Suite Teardown | Stop Faulty Broker |
        """
        if self._broker is not None and self._broker.is_paused:
            self._broker.resume()
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None
        if self._broker is not None:
            self._broker.stop()
            self._broker = None

    def _require_proxy(self) -> TcpProxy:
        if self._proxy is None:
            raise AssertionError("no faulty broker: call 'Start Faulty Broker' first")
        return self._proxy

    def _require_broker(self) -> BrokerProcess:
        if self._broker is None:
            raise AssertionError("no faulty broker: call 'Start Faulty Broker' first")
        return self._broker


def _compose(*arguments: str) -> None:
    command = ["docker", "compose", *arguments]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed: {result.stderr.strip()}")
