"""Run a cuttable TCP proxy as a separate process: ``python -m embedded_stack.proxy``.

Usage::

    python -m embedded_stack.proxy --listen 127.0.0.1:29093 --target 127.0.0.1:29094

Control it from another process by PID (``ProxyProcess`` in ``embedded_stack.tcp_proxy``
does this for you):

- ``SIGUSR1``: cut: close the listener and drop every connection (new ones are refused);
- ``SIGUSR2``: restore: listen again on the same port;
- ``SIGTERM`` or ``SIGINT``: stop.

It logs one line per change to stderr. Exit code 0 after a stop, 2 on bad arguments or a
port that cannot be bound.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from embedded_stack.tcp_proxy import TcpProxy, run_until_stopped

logger = logging.getLogger("embedded_stack.proxy")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments and run the proxy until SIGTERM.

    Args:
        argv: Command-line arguments without the program name; None reads ``sys.argv``.

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(
        prog="python -m embedded_stack.proxy",
        description="TCP proxy: SIGUSR1 cuts, SIGUSR2 restores, SIGTERM stops.",
    )
    parser.add_argument("--listen", required=True, type=_host_port, help="HOST:PORT to listen on")
    parser.add_argument("--target", required=True, type=_host_port, help="HOST:PORT to forward to")
    parser.add_argument("--verbose", "-v", action="store_true", help="log at debug level")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    (listen_host, listen_port), (target_host, target_port) = args.listen, args.target
    proxy = TcpProxy(listen_port, target_host, target_port, listen_host=listen_host)
    try:
        run_until_stopped(proxy)
    except OSError as ex:
        logger.error("cannot listen on %s: %s", proxy.listen_address, ex)
        return 2
    return 0


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


if __name__ == "__main__":
    sys.exit(main())
