"""What the ``order.cancelled`` consumer decides per message, and what it keeps: no Kafka here.

- :func:`decide` decodes one message, hands it to the cancel-order use case and says what
  became of it: cancelled, a duplicate, skipped (malformed, unknown order), or to be retried
  (the handler failed: the database is down, say).
- :class:`OrderCancelledProcessor` keeps the tally, the retry state of the messages in hand
  and their back-off, and writes the log.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from service.domain.errors import DatabaseUnavailable, DuplicateEvent, OrderNotFound
from service.domain.events import OrderCancelled
from service.domain.retry import Backoff
from service.domain.use_cases import Clock
from service.json_forms import decode_order_cancelled
from service.log_text import describe_error, printable
from service.monitoring import ConsumerStatus, Position, RetryState

logger = logging.getLogger(__name__)

Handler = Callable[[OrderCancelled], object]


class Outcome(enum.Enum):
    """What became of one message."""

    CANCELLED = "cancelled"
    DUPLICATE = "duplicate"
    MALFORMED = "malformed"
    UNKNOWN_ORDER = "unknown order"
    RETRY = "retry"


@dataclass(frozen=True)
class Decision:
    """The outcome of one message, with its event (once decoded) and the error, if any."""

    outcome: Outcome
    event: OrderCancelled | None = None
    error: Exception | None = None

    @property
    def done(self) -> bool:
        """Tell whether nothing is left to do: the offset may be committed."""
        return self.outcome is not Outcome.RETRY


def decide(value: bytes | None, handle: Handler) -> Decision:
    """Decode one message value, hand the event to ``handle`` and return the outcome."""
    try:
        event = decode_order_cancelled(value)
    except Exception as ex:
        # Decoding depends on the bytes alone: a message that fails once fails every
        # time, and retrying it would block its partition for good.
        return Decision(Outcome.MALFORMED, error=ex)
    try:
        handle(event)
    except OrderNotFound as ex:
        return Decision(Outcome.UNKNOWN_ORDER, event, ex)
    except DuplicateEvent as ex:
        return Decision(Outcome.DUPLICATE, event, ex)
    except Exception as ex:
        # Anything else may pass on a later attempt (the database is back): the message
        # is read again, never dropped. One that never passes shows as consumer DOWN.
        return Decision(Outcome.RETRY, event, ex)
    return Decision(Outcome.CANCELLED, event)


@dataclass
class _InHand:
    position: Position
    order_id: UUID | None
    since: datetime
    failures: int = 0


class OrderCancelledProcessor:
    """Decides what each ``order.cancelled`` message leads to, counts it and logs it.

    A message whose handling fails is kept "in hand" (one per partition at most: the
    consumer reads that partition from it again) and the caller is told how long to wait,
    a bounded, jittered, exponential back-off shared by all messages in hand. The log has
    one warning when such a streak starts, debug lines while it lasts, and one info line
    when no message is left in hand. Thread-safe: the health check reads the status.
    """

    def __init__(self, handle: Handler, backoff: Backoff, clock: Clock) -> None:
        self._handle = handle
        self._backoff = backoff
        self._clock = clock
        self._lock = threading.Lock()
        self._in_hand: dict[tuple[str, int], _InHand] = {}
        self._streak_started: float | None = None
        self._counts = dict.fromkeys(
            ("processed", "duplicates", "skipped", "retried", "commit_failures", "pruned"), 0
        )
        self._client_restarts = 0
        self._polls = 0
        self._client_error: str | None = None
        self._last_error: str | None = None
        self._last_error_at: datetime | None = None
        self._lag: dict[int, int] = {}

    def on_message(self, position: Position, value: bytes | None) -> float | None:
        """Handle one message; return None when it is done, else the seconds to wait.

        After that wait the caller reads the same message again and hands it back here.
        """
        decision = decide(value, self._handle)
        if decision.done:
            self._done(position, decision)
            return None
        return self._failed(position, decision)

    def _done(self, position: Position, decision: Decision) -> None:
        key = {
            Outcome.CANCELLED: "processed",
            Outcome.DUPLICATE: "duplicates",
            Outcome.MALFORMED: "skipped",
            Outcome.UNKNOWN_ORDER: "skipped",
        }[decision.outcome]
        with self._lock:
            self._counts[key] += 1
            in_hand = self._in_hand.pop((position.topic, position.partition), None)
            streak_over = in_hand is not None and not self._in_hand
            if streak_over:
                self._backoff.reset()
                started, self._streak_started = self._streak_started, None
        _log_outcome(position, decision)
        if streak_over:
            logger.info(
                "order.cancelled consumer recovered: the message at %s (orderId=%s) went "
                "through after %d failed attempt(s), %.1f s after the first failure",
                position,
                in_hand.order_id,
                in_hand.failures,
                time.monotonic() - (started or time.monotonic()),
            )

    def _failed(self, position: Position, decision: Decision) -> float:
        error = decision.error
        assert error is not None
        order_id = decision.event.order_id if decision.event is not None else None
        now = self._clock()
        with self._lock:
            key = (position.topic, position.partition)
            in_hand = self._in_hand.get(key)
            if in_hand is None or in_hand.position != position:
                in_hand = _InHand(position, order_id, now)
                self._in_hand[key] = in_hand
            in_hand.failures += 1
            self._counts["retried"] += 1
            self._last_error = describe_error(error)
            self._last_error_at = now
            first = self._streak_started is None
            if first:
                self._streak_started = time.monotonic()
            delay = self._backoff.next_delay()
            failures = in_hand.failures
        # An unreachable database says all there is to say (the unit of work turns driver
        # errors of a lost connection into it); anything else may be a bug, so its
        # traceback goes with the warning.
        expected = isinstance(error, DatabaseUnavailable)
        (logger.warning if first else logger.debug)(
            "could not cancel orderId=%s (message at %s, attempt %d): %s; the same message "
            "is tried again in %.2f s (its offset is committed only once it goes through)",
            order_id,
            position,
            failures,
            printable(describe_error(error)),
            delay,
            exc_info=error if first and not expected else None,
        )
        return delay

    def forget(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Drop the messages in hand of partitions this consumer no longer reads."""
        with self._lock:
            dropped = [self._in_hand.pop(key) for key in partitions if key in self._in_hand]
            streak_over = bool(dropped) and not self._in_hand
            if streak_over:
                self._backoff.reset()
                self._streak_started = None
        for in_hand in dropped:
            # Its offset was never committed: the partition's next owner reads it again.
            logger.info(
                "order.cancelled consumer: gave up the message in hand at %s (orderId=%s) "
                "with its partition; whoever reads the partition next reads it again",
                in_hand.position,
                in_hand.order_id,
            )

    def forget_all(self) -> None:
        """Drop every message in hand (the client is replaced and starts from the commits)."""
        with self._lock:
            keys = list(self._in_hand)
        self.forget(keys)

    def on_commit_failed(self, position: Position, error: BaseException) -> None:
        """Count and log a commit that failed; the consumer goes on."""
        with self._lock:
            self._counts["commit_failures"] += 1
            self._last_error = f"commit failed: {describe_error(error)}"
            self._last_error_at = self._clock()
        logger.warning(
            "order.cancelled consumer: could not commit the offset after %s (%s); going on: "
            "a cancellation it applied is recorded in processed_events, so a redelivery "
            "changes nothing, and the next commit on the partition covers this offset",
            position,
            describe_error(error),
        )

    def on_client_error(self, error: BaseException) -> None:
        """Note that the client broke and is about to be replaced."""
        with self._lock:
            self._client_restarts += 1
            self._client_error = describe_error(error)
            self._last_error = self._client_error
            self._last_error_at = self._clock()

    def on_client_working(self) -> None:
        """Note that the client answered a poll."""
        with self._lock:
            self._polls += 1
            self._client_error = None

    def on_pruned(self, rows: int) -> None:
        """Count the ``processed_events`` rows a prune deleted."""
        with self._lock:
            self._counts["pruned"] += rows

    def set_lag(self, lag: Mapping[int, int]) -> None:
        """Keep the lag per partition the consumer thread just read."""
        with self._lock:
            self._lag = dict(lag)

    def status(self, running: bool) -> ConsumerStatus:
        """Return the counts and the retry state."""
        with self._lock:
            oldest = min(self._in_hand.values(), key=lambda m: m.since, default=None)
            retrying = (
                RetryState(oldest.position, oldest.order_id, oldest.failures, oldest.since)
                if oldest is not None
                else None
            )
            return ConsumerStatus(
                running=running,
                processed=self._counts["processed"],
                duplicates=self._counts["duplicates"],
                skipped=self._counts["skipped"],
                retried=self._counts["retried"],
                commit_failures=self._counts["commit_failures"],
                client_restarts=self._client_restarts,
                pruned=self._counts["pruned"],
                last_error=self._last_error,
                last_error_at=self._last_error_at,
                retrying=retrying,
                client_error=self._client_error,
                lag=dict(self._lag),
                polls=self._polls,
            )


def _log_outcome(position: Position, decision: Decision) -> None:
    event = decision.event
    if decision.outcome is Outcome.CANCELLED and event is not None:
        logger.info("cancelled orderId=%s (reason: %s)", event.order_id, printable(event.reason))
    elif decision.outcome is Outcome.DUPLICATE and event is not None:
        # Delivery is at least once: this copy changes nothing, and its offset is
        # committed like any other.
        logger.info(
            "skipped a duplicate order.cancelled eventId=%s for orderId=%s (%s)",
            event.event_id,
            event.order_id,
            position,
        )
    elif decision.outcome is Outcome.UNKNOWN_ORDER and event is not None:
        logger.warning(
            "skipped order.cancelled for unknown orderId=%s (%s)", event.order_id, position
        )
    else:
        logger.warning(
            "skipped a malformed order.cancelled message at %s: %s",
            position,
            printable(decision.error),
        )
