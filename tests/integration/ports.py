"""Loopback ports for the servers the tests start."""

from __future__ import annotations

from embedded_stack import net


def free_port() -> int:
    """Return a loopback port nobody listens on right now, and not returned before."""
    return net.free_port("127.0.0.1")
