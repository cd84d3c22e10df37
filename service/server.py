"""Serve the app with waitress, and stop it gracefully on request."""

from __future__ import annotations

import logging
import threading
import time

import waitress
from waitress.server import BaseWSGIServer

logger = logging.getLogger(__name__)


class HttpServer:
    """A waitress server that drains in-flight requests before it stops.

    waitress stops its loop at once on KeyboardInterrupt, which can drop answers that
    are computed but not yet sent. This loop instead stops accepting, keeps serving the
    open connections until their requests are answered (bounded), then ends.
    """

    def __init__(self, app, host: str, port: int, threads: int, max_body_bytes: int) -> None:
        self._server: BaseWSGIServer = waitress.create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            # Our own check answers 413 in JSON for bodies above max_body_bytes; waitress's
            # larger limit only stops absurd bodies before they are buffered.
            max_request_body_size=max(1 << 20, 16 * max_body_bytes),
            ident="order-service",
            asyncore_use_poll=True,
            # One slow client must not hold a request thread; the default is 120 s.
            channel_timeout=30,
        )

    @property
    def port(self) -> int:
        """Return the port actually bound (useful with port 0)."""
        return int(self._server.effective_port)

    def serve_until(self, stop: threading.Event, drain_timeout: float = 10.0) -> None:
        """Serve until ``stop`` is set, then drain and close."""
        server = self._server
        while not stop.is_set():
            server.asyncore.loop(timeout=0.2, use_poll=True, map=server._map, count=1)
        logger.info("stopping: no new connections; finishing requests in flight")
        server.accepting = False
        server.del_channel()
        server.socket.close()
        deadline = time.monotonic() + drain_timeout
        while self._busy() and time.monotonic() < deadline:
            server.asyncore.loop(timeout=0.05, use_poll=True, map=server._map, count=1)
        if self._busy():
            logger.warning("gave up waiting for requests in flight after %g s", drain_timeout)
        server.task_dispatcher.shutdown(timeout=1)
        for channel in list(server._map.values()):
            channel.close()

    def _busy(self) -> bool:
        dispatcher = self._server.task_dispatcher
        if dispatcher.queue or dispatcher.active_count:
            return True
        return any(
            getattr(channel, "requests", None) or getattr(channel, "total_outbufs_len", 0)
            for channel in self._server._map.values()
        )
