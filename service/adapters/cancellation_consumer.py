"""The ``order.cancelled`` consumer: a background thread that cancels orders, and never dies.

:class:`OrderCancelledConsumer` is the polling loop around the decisions of
:mod:`service.adapters.cancellation_processing`: it commits a message once it is done,
seeks back to it and waits when it is to be retried, and replaces a broken client after a
pause. It also reads the lag and prunes ``processed_events`` now and then. Its health
component is in :mod:`service.adapters.consumer_health`.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

# The one sibling this module imports: its own decisions, kept free of Kafka so that they
# are tested without a broker (see tests/unit/test_import_direction.py).
from service.adapters.cancellation_processing import Handler, OrderCancelledProcessor
from service.domain.events import ORDER_CANCELLED_TOPIC
from service.domain.retry import Backoff
from service.domain.use_cases import Clock, ProcessedEventsPruner
from service.log_text import describe_error
from service.monitoring import ConsumerStatus, Position

logger = logging.getLogger(__name__)


# librdkafka's default, set on purpose: a member that does not call poll() for this long
# is dropped from the group. Every wait between two polls (one back-off, one prune batch
# run) stays far below it.
MAX_POLL_INTERVAL_MS = 300_000
# The longest back-off between two attempts at one message allowed: a tenth of the above.
RETRY_MAX_LIMIT = MAX_POLL_INTERVAL_MS / 1000 / 10
# How soon the loop sees a stop: a poll returns at the latest after this long.
POLL_TIMEOUT = 0.1
# How long a stop waits for the client to leave the group. Leaving is a request to the
# group coordinator, and librdkafka's close waits for a join in progress to end first (seen:
# 1.5 to 3 s on Tansu shortly after a start); a member that did not leave is dropped by the
# broker after session.timeout.ms, so the service does not wait for it.
LEAVE_TIMEOUT = 0.1
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
        topic: str = ORDER_CANCELLED_TOPIC,
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
        self._left_loop = threading.Event()
        # A daemon: a stop does not wait for a slow leave (LEAVE_TIMEOUT), and nor does the
        # interpreter's exit.
        self._thread = threading.Thread(
            target=self._run, name="order-cancelled-consumer", daemon=True
        )

    def start(self) -> None:
        """Join the group and consume in the background."""
        self._thread.start()

    def stop(self, timeout: float = 10.0, leave_timeout: float = LEAVE_TIMEOUT) -> None:
        """Stop consuming (at once, also during a back-off) and leave the group.

        Args:
            timeout: How long the message in hand may take to be finished.
            leave_timeout: How long leaving the group may take afterwards; past it the
                client goes on leaving in the background, and the broker drops it after
                its session timeout if it cannot.
        """
        self._stopping.set()
        if not self._thread.is_alive():
            return
        if not self._left_loop.wait(timeout):
            logger.warning("the order.cancelled consumer did not stop within %g s", timeout)
            return
        self._thread.join(leave_timeout)
        if self._thread.is_alive():
            logger.info(
                "order.cancelled consumer: leaving the group takes longer than %g s; not "
                "waiting (the broker drops this member after its session timeout)",
                leave_timeout,
            )

    def status(self) -> ConsumerStatus:
        """Return the consumer's state: running, counts, the message retried, the lag."""
        return self._processor.status(self._thread.is_alive() and not self._stopping.is_set())

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
                if self._stopping.is_set():
                    self._left_loop.set()
                if consumer is not None:
                    _close(consumer)
        self._left_loop.set()
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
