"""Serve the app with waitress, and stop it gracefully on request."""

from __future__ import annotations

import logging
import threading
import time

import waitress
from waitress.server import BaseWSGIServer
from waitress.task import ThreadedTaskDispatcher

logger = logging.getLogger(__name__)

# Health and metrics matter most when every request thread waits on a frozen dependency,
# so they get threads of their own instead of queueing behind the stuck requests.
PRIORITY_PATHS = frozenset({"/actuator/health", "/metrics"})
PRIORITY_THREADS = 2


class PriorityLaneDispatcher(ThreadedTaskDispatcher):
    """waitress's thread pool, plus a small lane of threads for health and metrics.

    waitress hands a connection (its channel) to the dispatcher when a request on it is
    complete; the path of that request decides the lane.
    """

    def __init__(self, threads: int, lane_threads: int = PRIORITY_THREADS) -> None:
        super().__init__()
        self.lane = ThreadedTaskDispatcher()
        self.set_thread_count(threads)
        self.lane.set_thread_count(lane_threads)

    def add_task(self, task) -> None:
        """Queue the task in the lane its request's path belongs to."""
        requests = getattr(task, "requests", None)
        if requests and (requests[0].path or "").rstrip("/") in PRIORITY_PATHS:
            self.lane.add_task(task)
        else:
            super().add_task(task)

    def busy(self) -> bool:
        """Tell whether a request waits or runs in either lane."""
        return any(d.queue or d.active_count for d in (self, self.lane))

    def shutdown(self, cancel_pending: bool = True, timeout: float = 5) -> bool:
        """Stop both lanes' threads."""
        lane_done = self.lane.shutdown(cancel_pending, timeout)
        return super().shutdown(cancel_pending, timeout) and lane_done


class HttpServer:
    """A waitress server that drains in-flight requests before it stops.

    waitress stops its loop at once on KeyboardInterrupt, which can drop answers that
    are computed but not yet sent. This loop instead stops accepting, keeps serving the
    open connections until their requests are answered (bounded), then ends.
    """

    def __init__(
        self,
        app,
        host: str,
        port: int,
        threads: int,
        max_body_bytes: int,
        *,
        connection_limit: int = 100,
        channel_timeout: int = 30,
    ) -> None:
        self._dispatcher = PriorityLaneDispatcher(threads)
        self._server: BaseWSGIServer = waitress.create_server(
            app,
            _dispatcher=self._dispatcher,
            host=host,
            port=port,
            threads=threads,
            connection_limit=connection_limit,
            # Our own check answers 413 in JSON for bodies above max_body_bytes; waitress's
            # larger limit only stops absurd bodies before they are buffered.
            max_request_body_size=max(1 << 20, 16 * max_body_bytes),
            ident="order-service",
            asyncore_use_poll=True,
            # A silent client must not hold a connection slot for waitress's 120 s.
            channel_timeout=channel_timeout,
        )

    @property
    def port(self) -> int:
        """Return the port actually bound (useful with port 0)."""
        return int(self._server.effective_port)

    def serve_until(self, stop: threading.Event, drain_timeout: float = 10.0) -> None:
        """Serve until ``stop`` is set, then drain and close."""
        server = self._server
        while not stop.is_set():
            # The loop looks at ``stop`` between two waits: at most 50 ms after a signal.
            server.asyncore.loop(timeout=0.05, use_poll=True, map=server._map, count=1)
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
        if self._dispatcher.busy():
            return True
        return any(
            getattr(channel, "requests", None) or getattr(channel, "total_outbufs_len", 0)
            for channel in self._server._map.values()
        )
