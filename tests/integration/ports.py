"""Loopback ports for the servers the tests start."""

from __future__ import annotations

import socket

# The kernel may hand out a port it just gave us again; two servers of one test (a broker
# and the service, say) must never be told the same one: the second would fail to bind,
# and a client would talk HTTP to the broker. So no port is handed out twice per session.
_handed_out: set[int] = set()


def free_port() -> int:
    """Return a loopback port nobody listens on right now, and not returned before."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
