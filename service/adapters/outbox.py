"""The outbox relay: a background thread that publishes pending outbox rows, at least once.

Each pass is ``RelayOutbox`` (the use case): lock a batch with ``SKIP LOCKED``, publish it,
delete what the broker confirmed, commit. This module decides *when* passes run: as soon
as a transaction that wrote outbox rows commits (a :class:`Wakeup` that hears commits), else
every poll interval while the outbox is empty, at once after a full batch, and after a
failure with a bounded, jittered exponential backoff. It also reports the relay's state to
the health check.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from service.domain.retry import Backoff
from service.domain.use_cases import Clock, RelayPass
from service.json_forms import iso_instant
from service.monitoring import OutboxBacklog, RelayObserver, RelayStatus

logger = logging.getLogger(__name__)


class Wakeup(Protocol):
    """How the relay waits between passes: until woken, or at most ``timeout`` seconds."""

    def wait(self, timeout: float) -> bool:
        """Return when woken (True) or after ``timeout`` seconds (False)."""
        ...

    def wake(self) -> None:
        """Make a waiting or the next :meth:`wait` return at once."""
        ...

    def close(self) -> None:
        """Release what the wakeup holds (a connection); no wait follows."""
        ...


class IntervalWakeup:
    """A wakeup that hears no commits: the relay polls at its interval."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout``; return True if woken."""
        woken = self._event.wait(timeout)
        self._event.clear()
        return woken

    def wake(self) -> None:
        """End the current or the next wait."""
        self._event.set()

    def close(self) -> None:
        """Nothing to release."""


class OutboxRelay:
    """Runs relay passes in a thread of its own until stopped."""

    def __init__(
        self,
        run_pass: Callable[[], RelayPass],
        *,
        batch_size: int,
        interval: float,
        backoff: Backoff,
        clock: Clock,
        observer: RelayObserver | None = None,
        setup: Callable[[], object] | None = None,
        wakeup: Wakeup | None = None,
    ) -> None:
        """Describe the relay; nothing runs until :meth:`start`.

        Args:
            run_pass: One pass (claim, publish, mark sent, commit) on a new unit of work.
            batch_size: The pass's batch size: a full batch means more rows are waiting.
            interval: Seconds between passes while the outbox is empty.
            backoff: The waits after failed passes.
            clock: The time of errors and deliveries, for the health check.
            observer: Hears what was published and what failed (metrics).
            setup: Run before the first pass until it succeeds once (e.g. create the
                topics when the broker was unreachable at start).
            wakeup: Ends the wait between passes early when a commit wrote outbox rows;
                by default the relay only polls.
        """
        self._run_pass = run_pass
        self._batch_size = batch_size
        self._interval = interval
        self._backoff = backoff
        self._clock = clock
        self._observer = observer or RelayObserver()
        self._setup = setup
        self._wakeup = wakeup or IntervalWakeup()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-relay")
        self._lock = threading.Lock()
        self._last_error: str | None = None
        self._last_error_at: datetime | None = None
        self._last_published_at: datetime | None = None
        self._published = 0
        self._passes = 0

    def start(self) -> None:
        """Start relaying in the background."""
        self._thread.start()
        logger.info(
            "outbox relay started: every %g s while idle, batches of %d",
            self._interval,
            self._batch_size,
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the pass in hand (bounded by the publish timeout) and wait for it."""
        self._stopping.set()
        self._wakeup.wake()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("the outbox relay did not stop within %g s", timeout)
                return
        self._wakeup.close()

    def status(self) -> RelayStatus:
        """Return the relay's state: running, failures in a row, last error, last delivery."""
        with self._lock:
            return RelayStatus(
                running=self._thread.is_alive() and not self._stopping.is_set(),
                consecutive_failures=self._backoff.failures,
                last_error=self._last_error,
                last_error_at=self._last_error_at,
                last_published_at=self._last_published_at,
                published=self._published,
                passes=self._passes,
            )

    def run_once(self) -> float:
        """Run one pass and return how many seconds to wait before the next one."""
        try:
            return self._pass()
        finally:
            with self._lock:
                self._passes += 1

    def _pass(self) -> float:
        try:
            if self._setup is not None:
                self._setup()
                self._setup = None
            result = self._run_pass()
        except Exception as ex:
            # The database or the broker's admin API is away: nothing was marked sent,
            # so every row is still pending and will be taken again.
            return self._failure(f"{type(ex).__name__}: {str(ex).strip()}", ())
        if result.published:
            self._observer.published(result.delays())
            with self._lock:
                self._published += len(result.published)
                self._last_published_at = result.confirmed_at
        if result.failed:
            self._observer.failed(len(result.failed))
            # Each failed row waits for its own retry time (RelayOutbox): the pass keeps its
            # schedule, so the rows of other orders are not held back behind them.
            self._failure(result.error or "not confirmed", result.failed)
        elif self._backoff.failures:
            logger.info("outbox relay recovered after %d failed pass(es)", self._backoff.failures)
            self._backoff.reset()
        # A full batch means more rows are waiting: go on at once to drain a backlog.
        return 0.0 if result.rows_may_wait(self._batch_size) else self._interval

    def _failure(self, error: str, failed: Sequence[object]) -> float:
        """Record a failed pass and return the pass-level back-off (used after a raise)."""
        with self._lock:
            self._last_error = error
            self._last_error_at = self._clock()
        delay = self._backoff.next_delay()
        # One warning per outage, not one per retry; the later ones go to debug.
        log = logger.warning if self._backoff.failures == 1 else logger.debug
        if failed:
            log(
                "outbox relay: %s (%d row(s) not confirmed; they stay pending, each is sent "
                "again after its own back-off, at least once)",
                error,
                len(failed),
            )
        else:
            log("outbox relay: %s; retry %d in %.2f s", error, self._backoff.failures, delay)
        return delay

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                delay = self.run_once()
            except Exception:
                # A bug outside the pass (an observer, say) must not end the relay:
                # the rows would wait for a restart.
                logger.exception("outbox relay: unexpected error; going on after a pause")
                delay = self._backoff.next_delay()
            if self._backoff.failures:
                # Backing off: new commits must not bring the broker (or database) that
                # just failed a stream of passes; only a stop ends this wait early.
                self._stopping.wait(delay)
            elif not self._stopping.is_set():
                self._wakeup.wait(delay)
        logger.info("outbox relay stopped")


class OutboxHealthProbe:
    """The ``outbox`` component of the health check.

    UP while the relay thread runs and the backlog can be read; DOWN when the relay is
    not running (it crashed or was stopped) or the backlog query fails. A broker outage
    leaves it UP: the relay is doing its job, retrying with backoff, and no event is lost;
    the outage shows as ``kafka`` DOWN, a growing ``backlog``, ``oldestPendingAgeSeconds``
    and ``lastError``.
    """

    def __init__(
        self,
        relay: OutboxRelay,
        read_backlog: Callable[[float], OutboxBacklog],
        clock: Clock,
    ) -> None:
        self._relay = relay
        self._read_backlog = read_backlog
        self._clock = clock

    def __call__(self, timeout: float) -> dict[str, object]:
        """Return the relay's details; raise if the relay does not run."""
        status = self._relay.status()
        if not status.running:
            raise RuntimeError(f"the outbox relay is not running (last error: {status.last_error})")
        backlog = self._read_backlog(timeout)
        return {
            "relayRunning": True,
            "backlog": backlog.pending,
            "oldestPendingAgeSeconds": backlog.pending_age(self._clock()),
            "consecutiveFailures": status.consecutive_failures,
            "lastError": status.last_error,
            "lastErrorAt": _instant(status.last_error_at),
            "lastPublishedAt": _instant(status.last_published_at),
            "publishedSinceStart": status.published,
            "stuckRows": backlog.stuck,
            "oldestStuckOrderId": backlog.oldest_stuck_order_id,
            "oldestStuckLastError": backlog.oldest_stuck_error,
        }


def _instant(moment: datetime | None) -> str | None:
    return iso_instant(moment) if moment is not None else None
