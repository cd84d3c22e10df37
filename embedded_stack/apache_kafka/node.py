"""One Apache Kafka KRaft node: its configuration, its formatted log folder, its process."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

from embedded_stack.apache_kafka.jars import LOG_CONFIG, java_binary, kafka_classpath
from embedded_stack.broker import host_port
from embedded_stack.errors import StartupError
from embedded_stack.processes import ServerProcess

logger = logging.getLogger(__name__)

# A JVM takes seconds to start; a cold one on 2 busy cores, longer.
START_TIMEOUT = 60.0
# SIGTERM is a controlled shutdown: leadership moves away and the log is closed cleanly,
# which takes a few seconds in a cluster. SIGKILL only after this.
STOP_GRACE = 30.0
_FORMAT_TIMEOUT = 120.0
# Small heaps: four JVMs share a 2-core machine with PostgreSQL and the service. The quick
# compiler alone: a 3-broker cluster came up in 6.6 s instead of 14.1 s on 2 cores, and the
# suites' load is far below what it gives up in peak speed.
_JVM_OPTIONS = [
    "-Xms64m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
]


@dataclass(frozen=True)
class NodeSpec:
    """Who a node is in its cluster.

    Attributes:
        node_id: KRaft ``node.id``.
        host: The loopback IP it listens on.
        broker_port: Its client listener; None for a controller-only node.
        controller_port: Its controller listener; None for a broker-only node.
        advertised_port: The port clients are told to use instead of ``broker_port`` (a
            proxy in front of it); the brokers then replicate over an internal listener
            on ``internal_port``, so cutting the clients off leaves replication alone.
        internal_port: The inter-broker listener, with ``advertised_port``.
    """

    node_id: int
    host: str
    broker_port: int | None
    controller_port: int | None
    advertised_port: int | None = None
    internal_port: int | None = None

    @property
    def roles(self) -> str:
        """Return ``process.roles``."""
        roles = [("broker", self.broker_port), ("controller", self.controller_port)]
        return ",".join(name for name, port in roles if port is not None)

    @property
    def listen_address(self) -> str:
        """Return the client listener (brokers) or the controller listener."""
        port = self.broker_port if self.broker_port is not None else self.controller_port
        assert port is not None
        return host_port(self.host, port)


class KafkaNode(ServerProcess):
    """A KRaft node run from the Maven-resolved jars; its log folder survives a restart.

    :meth:`stop` is a controlled shutdown (SIGTERM) that keeps every event on disk, as
    ``docker compose stop`` does; :meth:`kill` (SIGKILL) is a crash; :meth:`pause` and
    :meth:`resume` freeze it.
    """

    def __init__(
        self,
        spec: NodeSpec,
        *,
        cluster_id: str,
        settings: dict[str, str],
        node_dir: Path,
        log_path: Path,
        detach: bool = False,
    ) -> None:
        """Describe the node; nothing runs until :meth:`start`.

        Args:
            spec: Its id and listeners.
            cluster_id: The cluster's id, written into the log folder when it is formatted.
            settings: Broker settings shared by the cluster (replication, quorum voters).
            node_dir: Its folder: ``server.properties`` and the ``data`` log folder.
            log_path: File for its output.
            detach: True lets it outlive this process.
        """
        super().__init__()
        # SIGTERM is a controlled shutdown; see STOP_GRACE.
        self.stop_grace = STOP_GRACE
        self.spec = spec
        self.description = f"the Apache Kafka node {spec.node_id} on {spec.listen_address}"
        self._cluster_id = cluster_id
        self._settings = settings
        self._node_dir = node_dir
        self._log_path = log_path
        self._detach = detach

    @property
    def data_dir(self) -> Path:
        """Return the node's log folder (its events, on disk)."""
        return self._node_dir / "data"

    def start(self, timeout: float = START_TIMEOUT) -> KafkaNode:
        """Start the node and wait until it listens (:meth:`launch`, then :meth:`await_port`).

        Raises:
            StackError: No Java or Maven, or the jars could not be resolved.
            StartupError: The node exited or did not listen in time.
        """
        if not self.is_running:
            self.launch()
            self.await_port(timeout)
        return self

    def launch(self) -> None:
        """Format the log folder if it is new, and start the JVM without waiting for it.

        Call it from the thread that will outlive the node: the kernel ends a node started
        with ``detach=False`` when the thread that started it ends.

        Raises:
            StackError: No Java or Maven, or the jars could not be resolved.
            StartupError: Formatting the log folder failed.
        """
        java, classpath = java_binary(), kafka_classpath()
        config = self.prepare()
        argv = [
            java, *_JVM_OPTIONS, f"-Dlog4j2.configurationFile={LOG_CONFIG}",
            "-cp", classpath, "kafka.Kafka", str(config),
        ]  # fmt: skip
        self._launch(argv, log_path=self._log_path, detach=self._detach)

    def await_port(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until the launched node accepts connections on its listener.

        Raises:
            StartupError: It exited or did not listen in time.
        """
        host, port = self.spec.listen_address.rsplit(":", 1)
        self._await_port(host.strip("[]"), int(port), timeout=timeout, log_path=self._log_path)
        logger.info("%s started, PID %s", self.description, self.pid)

    def prepare(self) -> Path:
        """Write the node's configuration, and format its log folder if it is new.

        Returns:
            The configuration file.

        Raises:
            StackError: No Java or Maven, or the jars could not be resolved.
            StartupError: Formatting failed.
        """
        config = self._write_config()
        if not (self.data_dir / "meta.properties").exists():
            self._format(java_binary(), kafka_classpath(), config)
        return config

    def _write_config(self) -> Path:
        spec = self.spec
        ports = {
            "PLAINTEXT": spec.broker_port,
            "INTERNAL": spec.internal_port,
            "CONTROLLER": spec.controller_port,
        }
        listeners = {
            name: f"{name}://{host_port(spec.host, port)}"
            for name, port in ports.items()
            if port is not None
        }
        properties = {
            "process.roles": spec.roles,
            "node.id": str(spec.node_id),
            "listeners": ",".join(listeners.values()),
            "listener.security.protocol.map": ",".join(f"{name}:PLAINTEXT" for name in ports),
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(self.data_dir),
            **self._settings,
        }
        if spec.broker_port is not None:
            advertised = [
                f"PLAINTEXT://{host_port(spec.host, spec.advertised_port or spec.broker_port)}"
            ]
            if "INTERNAL" in listeners:
                advertised.append(listeners["INTERNAL"])
            properties["advertised.listeners"] = ",".join(advertised)
            properties["inter.broker.listener.name"] = (
                "INTERNAL" if "INTERNAL" in listeners else "PLAINTEXT"
            )
        self._node_dir.mkdir(parents=True, exist_ok=True)
        config = self._node_dir / "server.properties"
        config.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
        return config

    def _format(self, java: str, classpath: str, config: Path) -> None:
        command = [
            java, *_JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={LOG_CONFIG}",
            "-cp", classpath, "kafka.tools.StorageTool",
            "format", f"--cluster-id={self._cluster_id}", "--config", str(config),
        ]  # fmt: skip
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=_FORMAT_TIMEOUT, check=False
        )
        if result.returncode != 0:
            tail = " | ".join((result.stdout + result.stderr).strip().splitlines()[-3:])
            raise StartupError(f"formatting {self.data_dir} for {self.description} failed: {tail}")
