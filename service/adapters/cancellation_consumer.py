"""The ``order.cancelled`` consumer: a background thread that cancels orders, and never dies.

Three layers, so that the decisions can be tested without a broker:

- :func:`decide` decodes one message, hands it to the cancel-order use case and says what
  became of it: cancelled, a duplicate, skipped (malformed, unknown order), or to be retried
  (the handler failed: the database is down, say).
- :class:`OrderCancelledProcessor` keeps the tally, the retry state of the messages in hand
  and their back-off, and writes the log; it knows no Kafka.
- :class:`OrderCancelledConsumer` is the polling loop: it commits a message once it is done,
  seeks back to it and waits when it is to be retried, and replaces a broken client after a
  pause. It also computes the lag and prunes ``processed_events`` now and then.

:class:`ConsumerHealthProbe` is the ``consumer`` component of the health check.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from service.adapters.event_json import decode_order_cancelled, iso_instant
from service.adapters.kafka import ORDER_CANCELLED
from service.adapters.outbox import Backoff
from service.domain.errors import DatabaseUnavailable, DuplicateEvent, OrderNotFound
from service.domain.events import OrderCancelled
from service.domain.ports import UnitOfWork
from service.domain.use_cases import Clock
from service.log_text import printable

logger = logging.getLogger(__name__)

Handler = Callable[[OrderCancelled], object]

# librdkafka's default, set on purpose: a member that does not call poll() for this long
# is dropped from the group. Every wait between two polls (one back-off, one prune batch
# run) stays far below it.
MAX_POLL_INTERVAL_MS = 300_000
# The longest back-off between two attempts at one message allowed: a tenth of the above.
RETRY_MAX_LIMIT = MAX_POLL_INTERVAL_MS / 1000 / 10
POLL_TIMEOUT = 0.5
# How often the lag is read from the client's own state (no broker round trip).
LAG_INTERVAL = 1.0
# Pauses before a broken client is replaced: 1 s doubled per failure in a row, at most 30 s.
CLIENT_PAUSE_INITIAL = 1.0
CLIENT_PAUSE_MAX = 30.0


def consumer_settings(bootstrap_servers: str, group_id: str) -> dict:
    """Return the consumer configuration, every choice on purpose."""
    return {
        "bootstrap.servers": bootstrap_servers,
        "group.id": group_id,
        "client.id": "order-service-cancellations",
        # Offsets are committed after each handled (or skipped) message, so a restart
        # resumes where it stopped and a crash replays at most the messages since the
        # last commit that went through (each eventId is handled once: harmless).
        "enable.auto.commit": False,
        # A new group starts at the beginning: a cancellation sent before the service
        # first joined is not missed; replays are harmless (each eventId is handled once).
        "auto.offset.reset": "earliest",
        # Some brokers (Tansu) hand out the first assignment after about half the
        # session timeout: librdkafka's 45 s default would mean 23 s of deafness.
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
        "max.poll.interval.ms": MAX_POLL_INTERVAL_MS,
        "reconnect.backoff.max.ms": 1000,
        "logger": logging.getLogger("librdkafka.consumer"),
    }


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


@dataclass(frozen=True)
class Position:
    """Where a message is: topic, partition, offset."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(frozen=True)
class RetryState:
    """A message whose handling failed and is being retried."""

    position: Position
    order_id: UUID | None
    failures: int
    since: datetime


@dataclass(frozen=True)
class ConsumerStatus:
    """The consumer as the health check and the metrics see it."""

    running: bool
    processed: int
    duplicates: int
    skipped: int
    # Failed attempts at a message, each followed by another one after a back-off.
    retried: int
    commit_failures: int
    client_restarts: int
    pruned: int
    last_error: str | None
    last_error_at: datetime | None
    # The message retried the longest, while any is.
    retrying: RetryState | None
    # Set while the client is broken and about to be replaced; cleared by its next poll.
    client_error: str | None
    # Messages behind the end, per partition, as last read by the consumer thread.
    lag: Mapping[int, int] = field(default_factory=dict)
    # Polls answered by the client: it moves while the thread is not stuck.
    polls: int = 0

    @property
    def healthy(self) -> bool:
        """Tell whether the thread runs, its client works and no message is being retried."""
        return self.running and self.retrying is None and self.client_error is None


def describe_error(error: BaseException) -> str:
    """Return the error's type and first line, short enough for health details."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    return text[:300]


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


class ProcessedEventsPruner:
    """Deletes ``processed_events`` rows older than the retention, in bounded batches.

    Each batch is a transaction of its own, so no run holds many row locks or a long
    transaction; a run stops after ``max_batches`` and says whether rows are left.
    """

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        clock: Clock,
        retention: timedelta,
        *,
        batch_size: int = 1000,
        max_batches: int = 20,
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self.retention = retention
        self._batch_size = batch_size
        self._max_batches = max_batches

    def prune(self) -> tuple[int, bool]:
        """Delete old rows; return how many, and whether none older than the retention is left."""
        older_than = self._clock() - self.retention
        total = 0
        for _ in range(self._max_batches):
            with self._uow_factory() as uow:
                deleted = uow.processed_events.prune(older_than, self._batch_size)
                uow.commit()
            total += deleted
            if deleted < self._batch_size:
                return total, True
        return total, False


def _utc_now() -> datetime:
    return datetime.now(UTC)


class OrderCancelledConsumer:
    """Consumes ``order.cancelled`` and hands each event to the cancel-order use case."""

    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        handle: Handler,
        *,
        topic: str = ORDER_CANCELLED,
        retry_initial: float = 0.5,
        retry_max: float = 5.0,
        clock: Clock = _utc_now,
        pruner: ProcessedEventsPruner | None = None,
        prune_interval: float = 3600.0,
    ) -> None:
        """Describe the consumer; nothing runs until :meth:`start`.

        Args:
            bootstrap_servers: The brokers.
            group_id: The consumer group.
            handle: The cancel-order use case on a new unit of work, per event.
            topic: The topic to read.
            retry_initial: The first wait before a failed message is tried again (seconds).
            retry_max: The longest such wait (seconds), at most ``RETRY_MAX_LIMIT``.
            clock: The time of errors, for the health check.
            pruner: Deletes old ``processed_events`` rows; run at start, then every
                ``prune_interval`` seconds, by this consumer's thread.
            prune_interval: Seconds between two prunes.
        """
        if not 0 < retry_initial <= retry_max <= RETRY_MAX_LIMIT:
            raise ValueError(
                f"need 0 < retry_initial <= retry_max <= {RETRY_MAX_LIMIT:g} s, "
                f"got {retry_initial:g} and {retry_max:g}"
            )
        self._settings = consumer_settings(bootstrap_servers, group_id)
        # Commits are asynchronous: a synchronous one waits, without a bound, for a group
        # coordinator that may never come back (seen: over 40 s with the broker cut off).
        # Their outcome comes back here, from poll(), in the consumer's thread.
        self._settings["on_commit"] = self._committed
        self._topic = topic
        self._processor = OrderCancelledProcessor(handle, Backoff(retry_initial, retry_max), clock)
        self._client_pause = Backoff(CLIENT_PAUSE_INITIAL, CLIENT_PAUSE_MAX)
        self._pruner = pruner
        self._prune_interval = prune_interval
        self._next_prune = 0.0
        self._next_lag = 0.0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="order-cancelled-consumer")

    def start(self) -> None:
        """Join the group and consume in the background."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop consuming (at once, also during a back-off) and leave the group."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("the order.cancelled consumer did not stop within %g s", timeout)

    def status(self) -> ConsumerStatus:
        """Return the consumer's state: running, counts, the message retried, the lag."""
        return self._processor.status(self._thread.is_alive() and not self._stopping.is_set())

    @property
    def handled(self) -> int:
        """Return how many events cancelled their order (``status().processed``)."""
        return self.status().processed

    @property
    def skipped(self) -> int:
        """Return how many messages were skipped: malformed, or for an unknown order."""
        return self.status().skipped

    @property
    def duplicates(self) -> int:
        """Return how many copies of events handled before were skipped."""
        return self.status().duplicates

    def _run(self) -> None:
        while not self._stopping.is_set():
            consumer = None
            try:
                consumer = Consumer(self._settings)
                consumer.subscribe([self._topic], on_revoke=self._revoked, on_lost=self._revoked)
                self._consume(consumer)
            except Exception as ex:
                # A bug or a broken client must not end the consumer: cancellations would
                # wait for a restart. A new client resumes from the committed offsets, so
                # the message in hand, if any, is read again.
                pause = self._client_pause.next_delay()
                self._processor.on_client_error(ex)
                self._processor.forget_all()
                logger.exception(
                    "order.cancelled consumer: unexpected error; a new client in %.1f s", pause
                )
                self._stopping.wait(pause)
            finally:
                if consumer is not None:
                    _close(consumer)
        logger.info("order.cancelled consumer stopped")

    def _consume(self, consumer: Consumer) -> None:
        while not self._stopping.is_set():
            self._maybe_prune()
            message = consumer.poll(POLL_TIMEOUT)
            self._processor.on_client_working()
            self._client_pause.reset()
            self._maybe_read_lag(consumer)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise KafkaException(error)
                _log_client_error(error)
                continue
            position = Position(message.topic(), message.partition(), message.offset())
            delay = self._processor.on_message(position, message.value())
            if delay is None:
                self._commit(consumer, message, position)
                continue
            # Read the same message again: a seek that fails would let the next poll hand
            # out the message after it, so a failed seek replaces the client instead (it
            # starts from the committed offset, before this message).
            consumer.seek(TopicPartition(position.topic, position.partition, position.offset))
            self._stopping.wait(delay)

    def _committed(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        failed = [tp for tp in partitions if tp.error is not None]
        if error is None and not failed:
            return
        where = failed[0] if failed else (partitions[0] if partitions else None)
        position = (
            Position(where.topic, where.partition, where.offset)
            if where is not None
            else Position(self._topic, -1, -1)
        )
        self._processor.on_commit_failed(position, KafkaException(error or where.error))

    def _commit(self, consumer: Consumer, message: Message, position: Position) -> None:
        try:
            consumer.commit(message=message, asynchronous=True)
        except KafkaException as ex:
            # Safe to go on: a cancellation and its eventId were committed together (the
            # eventId in processed_events), so a redelivery of this message (after a
            # rebalance or a restart) is recognised as a duplicate, and a skipped message
            # is skipped again; the next successful commit on the partition covers this
            # offset too.
            self._processor.on_commit_failed(position, ex)

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._processor.forget((tp.topic, tp.partition) for tp in partitions)

    def _maybe_read_lag(self, consumer: Consumer) -> None:
        now = time.monotonic()
        if now < self._next_lag:
            return
        self._next_lag = now + LAG_INTERVAL
        try:
            self._processor.set_lag(read_lag(consumer))
        except KafkaException as ex:
            # The lag is a metric: not worth replacing a client that consumes fine.
            logger.debug("order.cancelled consumer: could not read the lag: %s", ex)

    def _maybe_prune(self) -> None:
        if self._pruner is None or time.monotonic() < self._next_prune:
            return
        try:
            rows, finished = self._pruner.prune()
        except Exception as ex:
            logger.warning(
                "could not prune processed_events: %s; trying again in %g s",
                describe_error(ex),
                self._prune_interval,
            )
            self._next_prune = time.monotonic() + self._prune_interval
            return
        self._processor.on_pruned(rows)
        if rows:
            logger.info(
                "pruned %d processed_events row(s) older than %s", rows, self._pruner.retention
            )
        # A run that hit its batch limit goes on after the next poll, so the group never
        # waits for a long prune.
        self._next_prune = time.monotonic() + (self._prune_interval if finished else 0.0)


def read_lag(consumer: Consumer) -> dict[int, int]:
    """Return, per assigned partition, how many messages lie between position and end.

    Uses only what the client already knows: its positions and the high watermarks cached
    from the last fetch responses. A partition without a watermark yet is left out, and so
    is one not read yet unless it is empty. Brokers whose watermarks lag (Tansu, after a
    multi-record batch) can make it read low.
    """
    lag = {}
    for tp in consumer.position(consumer.assignment()):
        low, high = consumer.get_watermark_offsets(tp, cached=True)
        if high is None or high < 0:
            continue
        if tp.offset >= 0:
            lag[tp.partition] = max(0, high - tp.offset)
        elif low == high:
            # Nothing read yet, and nothing to read.
            lag[tp.partition] = 0
    return lag


def _close(consumer: Consumer) -> None:
    try:
        consumer.close()
    except Exception as ex:
        logger.warning("order.cancelled consumer: closing the client failed: %s", ex)


def _log_client_error(error: KafkaError) -> None:
    if error.code() == KafkaError._PARTITION_EOF:
        return
    logger.warning("order.cancelled consumer: %s", error)


class ConsumerDown(RuntimeError):
    """The consumer is not consuming; ``details`` says why, for the health check."""

    def __init__(self, message: str, details: Mapping[str, object]) -> None:
        super().__init__(message)
        self.details = dict(details)


class ConsumerHealthProbe:
    """The ``consumer`` component of the health check.

    UP while the consumer thread runs, its client works and no message is being retried;
    DOWN (it raises) while a message is retried, while the client is being replaced, or
    when the thread is gone. The message says the last error, when, and how many times the
    message in hand failed; ``ConsumerDown.details`` has the same as fields.
    """

    def __init__(self, status: Callable[[], ConsumerStatus]) -> None:
        self._status = status

    def __call__(self, timeout: float) -> dict[str, object]:
        """Return the consumer's details; raise ``ConsumerDown`` if it is not consuming."""
        status = self._status()
        details = health_details(status)
        if status.healthy:
            return details
        if not status.running:
            reason = "the order.cancelled consumer is not running"
        elif status.retrying is not None:
            retrying = status.retrying
            reason = (
                f"retrying the message at {retrying.position} (orderId={retrying.order_id}): "
                f"{retrying.failures} failed attempt(s) since {iso_instant(retrying.since)}"
            )
        else:
            reason = f"the consumer's client failed and is being replaced: {status.client_error}"
        last = status.last_error_at
        when = f" at {iso_instant(last)}" if last is not None else ""
        raise ConsumerDown(f"{reason}; lastError{when}: {status.last_error}", details)


def health_details(status: ConsumerStatus) -> dict[str, object]:
    """Return the consumer's state as health details (camelCase, JSON-ready)."""
    retrying = status.retrying
    return {
        "running": status.running,
        "processed": status.processed,
        "duplicates": status.duplicates,
        "skipped": status.skipped,
        "retried": status.retried,
        "commitFailures": status.commit_failures,
        "clientRestarts": status.client_restarts,
        "retrying": str(retrying.position) if retrying is not None else None,
        "retryingOrderId": str(retrying.order_id) if retrying and retrying.order_id else None,
        "retryingFailures": retrying.failures if retrying is not None else 0,
        "retryingSince": iso_instant(retrying.since) if retrying is not None else None,
        "lastError": status.last_error,
        "lastErrorAt": iso_instant(status.last_error_at) if status.last_error_at else None,
        "lag": sum(status.lag.values()),
        "prunedProcessedEvents": status.pruned,
    }
