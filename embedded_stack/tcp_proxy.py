"""A TCP proxy, run in this process, that can be cut and restored.

Put it in front of a broker that advertises the proxy's address: every client then goes
through the proxy, and :meth:`TcpProxy.cut` makes the broker truly unreachable (new
connections are refused, open ones are dropped) while the broker keeps its in-memory data.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from typing import Any

from embedded_stack.processes import StartStopContext

logger = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_CALL_TIMEOUT = 10.0


class TcpProxy(StartStopContext):
    """Forward every TCP connection on ``listen_host:listen_port`` to a target.

    It runs an asyncio loop in a background thread of this process. :meth:`cut` closes the
    listener and drops every open connection, so new connections are refused (not left
    hanging); :meth:`restore` listens again on the same port.

    Example:
        with TcpProxy(29093, "127.0.0.1", 29094) as proxy:
            proxy.cut()
            ...
            proxy.restore()
    """

    def __init__(
        self,
        listen_port: int,
        target_host: str,
        target_port: int,
        *,
        listen_host: str = "127.0.0.1",
        connect_timeout: float = 5.0,
    ) -> None:
        """Describe the proxy; nothing listens until :meth:`start`.

        Args:
            listen_port: The port to listen on.
            target_host: Where to forward to.
            target_port: Where to forward to.
            listen_host: The IP to listen on (loopback).
            connect_timeout: Seconds to wait for the target when a client connects.
        """
        self.listen_host = listen_host
        self.listen_port = listen_port
        self.target_host = target_host
        self.target_port = target_port
        self._connect_timeout = connect_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._transports: set[asyncio.WriteTransport] = set()

    @property
    def listen_address(self) -> str:
        """Return ``host:port`` clients connect to."""
        return f"{self.listen_host}:{self.listen_port}"

    def start(self) -> TcpProxy:
        """Start the background loop and listen.

        Returns:
            This object, listening.

        Raises:
            OSError: The port cannot be bound.
        """
        if self._loop is not None:
            return self
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"tcp-proxy-{self.listen_port}", daemon=True
        )
        self._thread.start()
        try:
            self._call(self._listen())
        except BaseException:
            self._end_loop()
            raise
        logger.info(
            "TCP proxy listens on %s, forwards to %s:%s",
            self.listen_address,
            self.target_host,
            self.target_port,
        )
        return self

    def cut(self) -> None:
        """Close the listener and drop every open connection; new ones are refused."""
        if self._loop is not None:
            self._call(self._close_all())
            logger.info("TCP proxy on %s cut", self.listen_address)

    def restore(self) -> None:
        """Listen again on the same port after :meth:`cut`.

        Raises:
            OSError: The port was taken meanwhile.
        """
        if self._loop is not None and self._server is None:
            self._call(self._listen())
            logger.info("TCP proxy on %s restored", self.listen_address)

    def stop(self) -> None:
        """Cut, then end the background loop."""
        if self._loop is None:
            return
        self._call(self._close_all())
        self._end_loop()

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(_CALL_TIMEOUT)

    def _end_loop(self) -> None:
        assert self._loop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_CALL_TIMEOUT)
        self._loop.close()
        self._loop = None
        self._thread = None

    async def _listen(self) -> None:
        # reuse_address: the port is bound again at once after a cut, TIME_WAIT or not.
        self._server = await asyncio.start_server(
            self._serve, self.listen_host, self.listen_port, reuse_address=True
        )

    async def _close_all(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for transport in list(self._transports):
            transport.abort()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        transports = [client_writer.transport]
        self._transports.add(client_writer.transport)
        try:
            try:
                target_reader, target_writer = await asyncio.wait_for(
                    asyncio.open_connection(self.target_host, self.target_port),
                    self._connect_timeout,
                )
            except (OSError, TimeoutError) as ex:
                logger.debug("TCP proxy on %s: target unreachable: %s", self.listen_address, ex)
                return
            transports.append(target_writer.transport)
            self._transports.add(target_writer.transport)
            await asyncio.gather(
                _pump(client_reader, target_writer, transports),
                _pump(target_reader, client_writer, transports),
            )
        except asyncio.CancelledError:
            # cut() and stop() cancel on purpose. Ending normally keeps asyncio's stream
            # callback from logging the cancellation as an error (seen on Python 3.11).
            pass
        finally:
            for transport in transports:
                transport.abort()
                self._transports.discard(transport)
            self._tasks.discard(task)


async def _pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    transports: list[asyncio.WriteTransport],
) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        # Pass the half-close on; the other direction may still carry an answer.
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        # One side reset: end the other direction too.
        for transport in transports:
            transport.abort()
