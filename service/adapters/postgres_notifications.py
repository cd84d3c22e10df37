"""Wake the outbox relay when a transaction that wrote outbox rows commits.

The outbox repository's insert carries ``NOTIFY outbox_pending`` in the order's own
transaction. PostgreSQL delivers a notification only when its transaction commits (and folds
repeats within one transaction into one), so a rolled-back order wakes nobody. The relay
listens on a connection of its own and waits for a notification, for :meth:`wake` (its
stop), or for its poll interval, whichever comes first: the poll stays as the safety net
for a listener that is reconnecting.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time

import psycopg2
import psycopg2.extensions

from service.adapters.postgres_connections import (
    OUTBOX_CHANNEL,
    DatabaseBounds,
    connection_options,
)
from service.log_text import first_line

logger = logging.getLogger(__name__)


class OutboxNotifications:
    """``LISTEN outbox_pending`` on a connection of its own, reconnected after a failure."""

    def __init__(
        self, dsn: str, bounds: DatabaseBounds | None = None, reconnect_after: float = 1.0
    ) -> None:
        """Describe the listener; it connects on the first :meth:`wait`.

        Args:
            dsn: The database.
            bounds: The service's database bounds (connect timeout, keepalives).
            reconnect_after: Seconds between attempts to listen again after a failure.
        """
        self._dsn = dsn
        self._options = connection_options(bounds)
        self._reconnect_after = reconnect_after
        self._connection: psycopg2.extensions.connection | None = None
        self._next_attempt = 0.0
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._closed = threading.Event()

    def wait(self, timeout: float) -> bool:
        """Return once a commit notified, :meth:`wake` was called, or ``timeout`` passed.

        Returns:
            True if woken by a notification or :meth:`wake`, False on the timeout.
        """
        connection = self._listening()
        watched: list[object] = [self._wake_read]
        if connection is not None:
            watched.append(connection)
        ready, _, _ = select.select(watched, [], [], max(0.0, timeout))
        woken = self._wake_read in ready and self._drain_wake()
        notified = connection is not None and connection in ready and self._drain(connection)
        return woken or notified

    def wake(self) -> None:
        """Make a waiting (or the next) :meth:`wait` return at once."""
        # A full pipe holds wake-ups already: one is enough.
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_write, b"!")

    def close(self) -> None:
        """Stop listening and release the connection and the pipe."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._drop()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _listening(self) -> psycopg2.extensions.connection | None:
        if self._connection is not None or time.monotonic() < self._next_attempt:
            return self._connection
        try:
            connection = psycopg2.connect(self._dsn, **self._options)
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f"LISTEN {OUTBOX_CHANNEL}")
        except psycopg2.Error as ex:
            self._next_attempt = time.monotonic() + self._reconnect_after
            logger.info("outbox relay cannot listen for commits (%s); polling", first_line(ex))
            return None
        self._connection = connection
        return connection

    def _drain(self, connection: psycopg2.extensions.connection) -> bool:
        try:
            connection.poll()
        except psycopg2.Error as ex:
            # The server restarted or the network failed: listen again later, poll meanwhile.
            logger.info("outbox relay stopped hearing commits (%s); polling", first_line(ex))
            self._drop()
            self._next_attempt = time.monotonic() + self._reconnect_after
            return True  # something happened: a pass costs little and may find rows
        heard = bool(connection.notifies)
        connection.notifies.clear()
        return heard

    def _drain_wake(self) -> bool:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_read, 512):
                pass
        return True

    def _drop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(psycopg2.Error):
                self._connection.close()
            self._connection = None
