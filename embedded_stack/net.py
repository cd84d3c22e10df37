"""Small TCP helpers: loopback checks, port probes and who holds a port."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from dataclasses import dataclass

import psutil

_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def loopback_ip(host: str) -> str | None:
    """Return the loopback IP to listen on for ``host``, or None if it is not loopback.

    Args:
        host: A host name or IP literal from a configured address.

    Returns:
        ``127.0.0.1`` for ``localhost``, the literal itself for a loopback IP, else None.
    """
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return str(address) if address.is_loopback else None


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    """Tell whether a TCP connection to ``host:port`` is accepted.

    Args:
        host: Host name or IP.
        port: TCP port.
        timeout: Seconds to wait for the connection.

    Returns:
        True if something accepted the connection.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def describe_port_holder(port: int) -> str:
    """Say which process listens on a TCP port, as far as this user may see.

    Args:
        port: TCP port.

    Returns:
        For example ``PID 1234 (python3 -m http.server 5432)``, or a phrase saying that the
        process is not visible to this user.
    """
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid is None:
                    break
                return f"PID {conn.pid} ({_command_line(conn.pid)})"
    return "a process this user cannot see (another user's, or in another network namespace)"


def _command_line(pid: int) -> str:
    try:
        process = psutil.Process(pid)
        words = process.cmdline() or [process.name()]
    except psutil.Error:
        return "exited"
    line = " ".join(" ".join(words).split())
    return line if len(line) <= 120 else line[:117] + "..."


@dataclass(frozen=True)
class ProbeResult:
    """What a probe of a configured address found.

    Attributes:
        answers: True if the server there is usable with the configured settings.
        detail: A short explanation, e.g. the client's error when it is not usable.
    """

    answers: bool
    detail: str


def free_port(host: str = "127.0.0.1") -> int:
    """Return a port on ``host`` that nothing listens on now, and not returned before.

    The kernel may hand out a port it just gave us again; two servers started together (a
    broker and the service, say) must never be told the same one: the second would fail to
    bind, and a client would talk HTTP to the broker. So no port is handed out twice by one
    process.
    """
    while True:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        with _handed_out_lock:
            if port not in _handed_out:
                _handed_out.add(port)
                return port
