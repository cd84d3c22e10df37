"""PostgreSQL connections that never wait without a bound, and survive a server restart.

Three things keep a thread from hanging on the database or failing for no reason:

- **Bounds on both sides.** The server gives up on a statement after ``statement_timeout``
  and ends a session left idle inside a transaction (a relay frozen while it holds its
  ``FOR UPDATE`` claim) after ``idle_in_transaction_session_timeout``. A frozen server or
  a lost network answers nothing at all, so the client bounds every call too: the
  :class:`Watchdog` shuts the socket of a call that outlived its bound, which makes libpq
  return at once with "server closed the connection". ``tcp_user_timeout`` and keepalives
  cover a network that drops packets; a server process stopped with SIGSTOP still has its
  kernel acknowledge every packet, so only the watchdog ends those waits.
- **Dead connections are not handed out.** After a server restart every pooled
  connection is dead. A dead idle connection has something to read (the server's goodbye,
  or the end of the stream), so the pool checks that without a round trip and replaces it.
- **The first statement of a transaction is retried once** on a new connection when its
  connection turns out dead: nothing of the transaction happened yet. Nothing is retried
  after that, and never after COMMIT was sent: a COMMIT whose connection is lost has an
  unknown outcome, and says so (:class:`~service.domain.errors.CommitOutcomeUnknown`).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import select
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.pool
import psycopg2.sql

from service.domain.errors import CommitOutcomeUnknown, DatabaseUnavailable
from service.log_text import first_line

logger = logging.getLogger(__name__)

Connection = psycopg2.extensions.connection
_DRIVER_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)


@dataclass(frozen=True)
class DatabaseBounds:
    """How long any database wait may last; every field in seconds.

    Attributes:
        connect: Opening a connection (libpq's ``connect_timeout``, at least 2 s).
        statement: The server's ``statement_timeout``.
        idle_in_transaction: The server's ``idle_in_transaction_session_timeout``: longer
            than any wait inside an open transaction (a publish), so only a frozen or
            vanished client hits it.
        acquire: Waiting for a free pooled connection.
    """

    connect: float = 3.0
    statement: float = 5.0
    idle_in_transaction: float = 10.0
    acquire: float = 5.0

    @property
    def call(self) -> float:
        """Return the client's bound on one call: the server's timeout fires first if it can."""
        return self.statement + 1.0


# The channel a commit that wrote outbox rows notifies (postgres.py) and the relay hears
# (postgres_notifications.py).
OUTBOX_CHANNEL = "outbox_pending"


def connection_options(bounds: DatabaseBounds | None = None) -> dict[str, object]:
    """Return libpq options that keep a dead or hung server from blocking a thread forever."""
    bounds = bounds or DatabaseBounds()
    return {
        "connect_timeout": max(2, round(bounds.connect)),
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 2,
        # Sent data that stays unacknowledged this long ends the connection (lost network).
        "tcp_user_timeout": int(bounds.call * 1000),
        "options": (
            f"-c statement_timeout={int(bounds.statement * 1000)} "
            f"-c idle_in_transaction_session_timeout={int(bounds.idle_in_transaction * 1000)}"
        ),
        "application_name": "order-service",
    }


_IDLE = psycopg2.extensions.TRANSACTION_STATUS_IDLE


class _GluedBeginCursor(psycopg2.extensions.cursor):
    """A cursor whose statement carries the ``BEGIN`` of its transaction when none is open."""

    def execute(self, query: Any, vars: Any = None) -> None:
        if self.connection.info.transaction_status == _IDLE:
            if isinstance(query, psycopg2.sql.Composable):
                query = query.as_string(self.connection)
            query = (b"BEGIN;" if isinstance(query, bytes) else "BEGIN;") + query
        super().execute(query, vars)


class GluedBeginConnection(psycopg2.extensions.connection):
    """A psycopg2 connection that sends ``BEGIN`` together with a transaction's first statement.

    psycopg2 opens a transaction with a ``BEGIN`` of its own, one round trip before the
    first statement; PostgreSQL runs ``BEGIN;INSERT ...`` sent as one query the same way, so
    each transaction saves a round trip (BEGIN, INSERT, COMMIT becomes BEGIN;INSERT,
    COMMIT). The driver runs in autocommit, so it sends nothing on its own, and ``commit``
    and ``rollback`` send ``COMMIT`` and ``ROLLBACK`` when the server says a transaction is
    open. Everything else behaves as a psycopg2 connection: statements still run inside a
    transaction until ``commit``. Not for a session that must stay outside one (``LISTEN``,
    ``VACUUM``, ``CREATE DATABASE``): those use a plain connection.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.autocommit = True
        self.cursor_factory = _GluedBeginCursor

    def commit(self) -> None:
        """Commit the open transaction, if any."""
        self._end_transaction("COMMIT")

    def rollback(self) -> None:
        """Roll back the open transaction, if any."""
        self._end_transaction("ROLLBACK")

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        # psycopg2's own __exit__ calls its C commit, which autocommit turns into nothing;
        # it still runs after ours, to end the block.
        try:
            self._end_transaction("ROLLBACK" if kind is not None else "COMMIT")
        finally:
            super().__exit__(kind, *rest)

    def _end_transaction(self, command: str) -> None:
        if self.info.transaction_status != _IDLE:
            with psycopg2.extensions.cursor(self) as cursor:
                cursor.execute(command)


class Watchdog:
    """Ends database calls that outlive their bound, from one thread of its own.

    A call registers its connection and deadline; when the deadline passes first, the
    watchdog shuts the connection's socket down, so the blocked libpq call returns with
    an error and the connection is closed. A registration costs a lock and a heap push,
    no thread and no round trip.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._deadlines: list[tuple[float, int]] = []
        self._calls: dict[int, Connection] = {}
        self._tokens = itertools.count()
        self._fired: set[int] = set()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="db-watchdog", daemon=True)
        self._thread.start()

    @contextmanager
    def bound(self, conn: Connection, seconds: float) -> Iterator[_Call]:
        """Bound what runs inside the block on ``conn`` to ``seconds``."""
        with self._lock:
            token = next(self._tokens)
            self._calls[token] = conn
            entry = (time.monotonic() + seconds, token)
            heapq.heappush(self._deadlines, entry)
            # Waking the thread costs a switch per statement; only a new earliest deadline
            # needs it (with one bound for all calls, that is only when none was pending).
            if self._deadlines[0] is entry:
                self._lock.notify()
        call = _Call()
        try:
            yield call
        finally:
            with self._lock:
                self._calls.pop(token, None)
                call.timed_out = token in self._fired
                self._fired.discard(token)

    def close(self) -> None:
        """Stop the watchdog's thread."""
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        with self._lock:
            while not self._closed:
                now = time.monotonic()
                while self._deadlines and (
                    self._deadlines[0][1] not in self._calls or self._deadlines[0][0] <= now
                ):
                    _, token = heapq.heappop(self._deadlines)
                    conn = self._calls.pop(token, None)
                    if conn is not None:
                        self._fired.add(token)
                        _shut_down(conn)
                wait = self._deadlines[0][0] - now if self._deadlines else None
                self._lock.wait(wait)


@dataclass
class _Call:
    """What the watchdog did to one bounded call."""

    timed_out: bool = False


def _shut_down(conn: Connection) -> None:
    # A duplicate of the descriptor shares the socket: shutting it down ends libpq's wait.
    try:
        fd = conn.fileno()
        with socket.socket(fileno=socket.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, psycopg2.Error):
        pass  # closed meanwhile: nothing is waiting on it any more
    logger.warning("ended a database call that outlived its bound (the server does not answer)")


def _looks_dead(conn: Connection) -> bool:
    """Tell, without a round trip, whether an idle connection is dead.

    An idle connection has nothing to read; after a server restart it holds the server's
    goodbye or the end of the stream.
    """
    if conn.closed:
        return True
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


class ConnectionPool:
    """A thread-safe pool of bounded connections that makes callers wait (bounded) when empty.

    psycopg2's own pool raises at once when every connection is in use; a semaphore in
    front of it turns that into a short wait, so a burst of requests queues instead of
    failing.
    """

    def __init__(self, dsn: str, size: int, bounds: DatabaseBounds | None = None) -> None:
        self.bounds = bounds or DatabaseBounds()
        self.size = size
        # minconn = maxconn: psycopg2 closes every returned connection beyond minconn, so a
        # smaller minimum would open a new connection (a backend and a SCRAM handshake,
        # ~6 ms) for every request.
        self._pool = psycopg2.pool.ThreadedConnectionPool(
            size,
            size,
            dsn,
            connection_factory=GluedBeginConnection,
            **connection_options(self.bounds),
        )
        self._slots = threading.BoundedSemaphore(size)
        self.watchdog = Watchdog()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Lend a live connection; a broken one is closed instead of going back to the pool."""
        with self.transaction() as transaction:
            yield transaction.connection

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Lend a connection wrapped as a :class:`Transaction`; roll back what is left open."""
        if not self._slots.acquire(timeout=self.bounds.acquire):
            raise DatabaseUnavailable(
                f"every database connection stayed busy for {self.bounds.acquire:g} s"
            )
        transaction = None
        try:
            transaction = Transaction(self, self._live_connection())
            yield transaction
        finally:
            try:
                if transaction is not None:
                    transaction.end()
            finally:
                self._slots.release()

    def _live_connection(self) -> Connection:
        # Every idle connection may be dead (a restart): look at each, then open a new one.
        for _ in range(self.size + 1):
            try:
                conn = self._pool.getconn()
            except psycopg2.Error as ex:
                raise DatabaseUnavailable(f"cannot connect: {first_line(ex)}") from ex
            if not _looks_dead(conn):
                return conn
            self._pool.putconn(conn, close=True)
        raise DatabaseUnavailable("no live database connection could be had")

    def _give_back(self, conn: Connection, *, broken: bool) -> None:
        self._pool.putconn(conn, close=broken or bool(conn.closed))

    def close(self) -> None:
        """Close every pooled connection and stop the watchdog."""
        self._pool.closeall()
        self.watchdog.close()


class Transaction:
    """One transaction on one pooled connection, every call bounded.

    Its driver errors become domain errors: a lost or unanswering connection is
    ``DatabaseUnavailable`` (nothing of the transaction was committed), a lost COMMIT is
    ``CommitOutcomeUnknown``. Other database errors (a constraint, a bug) pass unchanged.
    """

    def __init__(self, pool: ConnectionPool, conn: Connection) -> None:
        self._pool = pool
        self.connection = conn
        self._statements = 0
        self._broken = False
        # True while the connection is back in the pool and no new one was had: the end
        # must not give it back a second time.
        self._given_back = False

    def cursor(self) -> BoundedCursor:
        """Return a cursor whose ``execute`` is bounded and translated (see the class)."""
        return BoundedCursor(self)

    def execute(self, query: str, params: Sequence[Any] | dict[str, Any] | None) -> Any:
        """Run one statement and return its psycopg2 cursor, results unread."""
        # Nothing of this transaction happened yet before its first statement: that one
        # may run again on a new connection when its connection turns out dead.
        may_retry = self._statements == 0
        while True:
            cursor = self.connection.cursor()
            try:
                with self._pool.watchdog.bound(self.connection, self._pool.bounds.call) as call:
                    cursor.execute(query, params)
            except _DRIVER_ERRORS as ex:
                with suppress(psycopg2.Error):
                    cursor.close()
                lost = bool(self.connection.closed)
                if lost and may_retry and not call.timed_out:
                    may_retry = False
                    logger.info("replaced a dead database connection: %s", first_line(ex))
                    self._replace_connection()
                    continue
                self._broken = self._broken or lost
                raise DatabaseUnavailable(self._describe(ex, call.timed_out)) from ex
            self._statements += 1
            return cursor

    def commit(self) -> None:
        """Commit; a connection lost while COMMIT is in flight leaves the outcome unknown."""
        if self.connection.closed:
            raise DatabaseUnavailable("the connection was lost before COMMIT; nothing committed")
        try:
            with self._pool.watchdog.bound(self.connection, self._pool.bounds.call) as call:
                self.connection.commit()
        except _DRIVER_ERRORS as ex:
            if self.connection.closed:
                self._broken = True
                raise CommitOutcomeUnknown(self._describe(ex, call.timed_out)) from ex
            # The server answered: the transaction was rolled back (e.g. a serialization
            # failure), nothing committed.
            raise DatabaseUnavailable(self._describe(ex, call.timed_out)) from ex

    def rollback(self) -> None:
        """Roll back (bounded); a connection that cannot is closed and never reused."""
        if self.connection.closed:
            return
        try:
            with self._pool.watchdog.bound(self.connection, self._pool.bounds.call):
                self.connection.rollback()
        except _DRIVER_ERRORS:
            self._broken = True

    def end(self) -> None:
        """Give the connection back, rolled back; a broken one is closed."""
        if self._given_back:
            return
        if not self.connection.closed and self.connection.info.transaction_status != _IDLE:
            self.rollback()
        self._pool._give_back(self.connection, broken=self._broken)

    def _replace_connection(self) -> None:
        """Close the dead connection and take a live one; raise if none can be had."""
        self._pool._give_back(self.connection, broken=True)
        self._given_back = True
        self.connection = self._pool._live_connection()
        self._given_back = False

    def _describe(self, ex: BaseException, timed_out: bool) -> str:
        if timed_out:
            return f"PostgreSQL did not answer within {self._pool.bounds.call:g} s"
        return f"PostgreSQL: {first_line(ex)}"


class BoundedCursor:
    """The part of a psycopg2 cursor the repositories use, on a :class:`Transaction`."""

    def __init__(self, transaction: Transaction) -> None:
        self._transaction = transaction
        self._cursor: Any = None

    def __enter__(self) -> BoundedCursor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._cursor is not None:
            self._cursor.close()

    def execute(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> None:
        """Run a statement (see :meth:`Transaction.execute`)."""
        if self._cursor is not None:
            self._cursor.close()
        self._cursor = self._transaction.execute(query, params)

    def mogrify(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> str:
        """Return ``query`` with ``params`` bound as the driver sends them (no round trip)."""
        conn = self._transaction.connection
        with conn.cursor() as cursor:
            sent = cursor.mogrify(query, params)
        return sent.decode(psycopg2.extensions.encodings[conn.encoding])

    def fetchone(self) -> tuple | None:
        """Return the next row."""
        return self._cursor.fetchone()

    def fetchall(self) -> list[tuple]:
        """Return the remaining rows."""
        return self._cursor.fetchall()

    @property
    def rowcount(self) -> int:
        """Return the rows the last statement touched."""
        return self._cursor.rowcount
