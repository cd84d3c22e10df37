"""Kafka adapters: the two event publishers (dual write, the relay's batches), topics, health."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from service.domain.errors import PublishFailed
from service.domain.events import ORDER_CREATED_TOPIC, OrderCreated
from service.domain.ports import (
    Delivery,
    MessagePublisher,
    OrderEventPublisher,
    OutboxMessage,
    PublishOutcome,
)
from service.json_forms import encode_order_created

logger = logging.getLogger(__name__)

# Errors after which a producer never works again (fatal, or fenced for good: an
# idempotent producer on Tansu after one timeout, see the project notes). Such a
# producer is replaced by a new one instead of failing every later order.
_UNRECOVERABLE = {KafkaError._FATAL, KafkaError.PRODUCER_FENCED, KafkaError._FENCED}


# The producer must give up on a message before the request stops waiting for it;
# otherwise an event the service reported lost could still be delivered later.
# librdkafka checks message timeouts about once a second, so the report of a timed-out
# message comes up to ~1 s late: the message timeout ends this long before the publish
# timeout (measured: a 3.9 s message timeout reported at 4.0 s against a paused broker),
# but never before half the publish timeout (the shortest publish timeouts).
DELIVERY_REPORT_MARGIN_MS = 1100


def producer_settings(bootstrap_servers: str, timeout_ms: int, linger_ms: int) -> dict:
    """Return the producer configuration, every choice on purpose."""
    message_timeout_ms = max(timeout_ms // 2, timeout_ms - DELIVERY_REPORT_MARGIN_MS)
    return {
        "bootstrap.servers": bootstrap_servers,
        "client.id": "order-service",
        "acks": "all",
        # Idempotence is off: on some brokers (Tansu) an idempotent producer is fenced
        # for good after one delivery timeout. Each order is one message, so reordering
        # by retries cannot mix the events of an order.
        "enable.idempotence": False,
        "linger.ms": linger_ms,
        "message.timeout.ms": message_timeout_ms,
        "request.timeout.ms": message_timeout_ms,
        # The same key lands on the same partition as with the Java client.
        "partitioner": "murmur2_random",
        # Reconnect within a second once the broker is back (librdkafka waits up to 10 s).
        "reconnect.backoff.max.ms": 1000,
        # librdkafka's own lines go through Python logging (served by the poll thread).
        "logger": logging.getLogger("librdkafka.producer"),
    }


# A relay batch reaches the broker as one request per partition: the linger holds its
# messages back while the pass produces them, and the flush that ends the pass sends them
# at once (librdkafka's flush does not wait for the linger), so no pass waits for it.
BATCH_LINGER_MS = 50
# How often, between batches, librdkafka's own log lines and errors are served.
HOUSEKEEPING_SECONDS = 0.1


class _PendingDelivery:
    """The delivery report of one message, for the thread that produced it.

    ``notify`` gives it an event to wait on, for a report served by another thread; a
    report served by the producing thread's own flush needs none.
    """

    def __init__(self, *, notify: bool = True) -> None:
        self._done = threading.Event() if notify else None
        self.finished = False
        self.error: KafkaError | None = None
        self.message: Message | None = None
        # Set when produce() itself refused the message (a full queue): no report will come.
        self.refused: str | None = None

    def report(self, error: KafkaError | None, message: Message) -> None:
        self.error, self.message = error, message
        self._finish()

    def refuse(self, reason: str) -> None:
        self.refused = reason
        self._finish()

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout) if self._done is not None else self.finished

    def _finish(self) -> None:
        self.finished = True
        if self._done is not None:
            self._done.set()


class _KafkaProducerOwner:
    """One producer, its background thread, and its replacement after an unrecoverable error."""

    def __init__(self, settings: dict, timeout_ms: int, thread_name: str) -> None:
        self._settings = settings
        self._settings["error_cb"] = self._on_client_error
        self._timeout_s = timeout_ms / 1000
        self._lock = threading.Lock()
        self._producer = Producer(self._settings)
        self._broken: Producer | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._background, name=thread_name, daemon=True)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> int:
        """Deliver what is queued (bounded), then release the producer; return the messages left."""
        self._stopping.set()
        self._thread.join(timeout=2)
        left = self._producer.flush(timeout)
        _discard(self._producer)
        return left

    def _background(self) -> None:
        raise NotImplementedError

    @staticmethod
    def _produce(
        producer: Producer,
        topic: str,
        key: bytes,
        value: bytes,
        *,
        raising: bool = True,
        notify: bool = True,
    ) -> _PendingDelivery:
        pending = _PendingDelivery(notify=notify)
        try:
            producer.produce(topic, key=key, value=value, on_delivery=pending.report)
        except (BufferError, KafkaException) as ex:
            if raising:
                raise PublishFailed(f"the producer refused the event: {ex}") from ex
            pending.refuse(f"the producer refused the event: {ex}")
        return pending

    def _outcome(self, producer: Producer, pending: _PendingDelivery) -> Delivery:
        """Return where the message was written, or raise PublishFailed with why not."""
        if not pending.finished:
            raise PublishFailed(
                f"no delivery report within {self._timeout_s:g} s; the broker may still "
                "write the event (indeterminate until the topic is read)"
            )
        if pending.refused is not None:
            raise PublishFailed(pending.refused)
        if pending.error is not None:
            if pending.error.code() in _UNRECOVERABLE or pending.error.fatal():
                self._replace(producer, pending.error)
            raise PublishFailed(f"{pending.error.name()}: {pending.error.str()}")
        message = pending.message
        return Delivery(message.topic(), message.partition(), message.offset())

    def _replace_if_broken(self) -> None:
        broken, self._broken = self._broken, None
        if broken is not None:
            self._replace(broken, None)

    def _on_client_error(self, error: KafkaError) -> None:
        # Runs where the producer is polled. Transport errors are normal while the broker
        # is away and librdkafka retries them itself; only unrecoverable ones need a new
        # producer.
        if error.fatal() or error.code() in _UNRECOVERABLE:
            logger.error("Kafka producer failed for good: %s", error)
            self._broken = self._producer
        else:
            logger.debug("Kafka client error: %s", error)

    def _replace(self, broken: Producer, error: KafkaError | None) -> None:
        with self._lock:
            if self._producer is not broken:
                return  # another thread replaced it already
            self._producer = Producer(self._settings)
        logger.warning("replaced the Kafka producer after %s", error or "a fatal error")
        _discard(broken)


class KafkaOrderEventPublisher(_KafkaProducerOwner, OrderEventPublisher):
    """Publishes ``order.created`` and waits for this message's own delivery report.

    One shared producer serves every request thread; a background thread polls it so
    delivery callbacks run without anyone flushing the whole producer.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        timeout_ms: int = 5000,
        linger_ms: int = 0,
        topic: str = ORDER_CREATED_TOPIC,
    ) -> None:
        self._topic = topic
        super().__init__(
            producer_settings(bootstrap_servers, timeout_ms, linger_ms),
            timeout_ms,
            "kafka-delivery-reports",
        )

    def publish(self, event: OrderCreated) -> Delivery:
        """Publish and wait (bounded) for the broker's delivery report."""
        producer = self._producer
        pending = self._produce(
            producer, self._topic, str(event.order_id).encode(), encode_order_created(event)
        )
        pending.wait(self._timeout_s)
        return self._outcome(producer, pending)

    def _background(self) -> None:
        while not self._stopping.is_set():
            self._replace_if_broken()
            self._producer.poll(0.1)


class KafkaBatchPublisher(_KafkaProducerOwner, MessagePublisher):
    """Publishes the relay's batches: every message at once, then all their reports.

    The pass's own flush serves the batch's delivery reports in the relay's thread: no
    hand-off to a polling thread per message or per batch. Between batches a background
    thread serves librdkafka's log lines and errors, never while a batch is out (one lock):
    it never takes a report the flush waits for.
    """

    def __init__(self, bootstrap_servers: str, *, timeout_ms: int = 5000) -> None:
        self._batch_lock = threading.Lock()
        super().__init__(
            producer_settings(bootstrap_servers, timeout_ms, BATCH_LINGER_MS),
            timeout_ms,
            "kafka-relay-housekeeping",
        )

    def publish_messages(self, messages: Sequence[OutboxMessage]) -> list[PublishOutcome]:
        """Send every message, then wait (one shared bound) until each has its report.

        Sending the whole batch before waiting costs one round trip instead of one per
        message; each outcome still rests on that message's own delivery report.
        """
        with self._batch_lock:
            self._replace_if_broken()
            producer = self._producer
            pendings = [
                self._produce(
                    producer, m.topic, m.key.encode(), m.payload, raising=False, notify=False
                )
                for m in messages
            ]
            producer.flush(self._timeout_s)
        outcomes = []
        for pending in pendings:
            try:
                outcomes.append(PublishOutcome(self._outcome(producer, pending)))
            except PublishFailed as ex:
                outcomes.append(PublishOutcome(None, str(ex)))
        return outcomes

    def _background(self) -> None:
        while not self._stopping.wait(HOUSEKEEPING_SECONDS):
            with self._batch_lock:
                self._replace_if_broken()
                self._producer.poll(0)


def _discard(producer: Producer) -> None:
    # Fail whatever the producer still holds, so no request waits on it, then close it
    # (close() alone would flush without a bound).
    producer.purge()
    producer.poll(0)
    producer.close()


@dataclass(frozen=True)
class TopicSpec:
    """A topic the service needs."""

    name: str
    partitions: int


def ensure_topics(
    bootstrap_servers: str, topics: list[TopicSpec], timeout: float = 10
) -> list[str]:
    """Create the missing topics; leave existing ones (any partition count) as they are.

    Returns:
        The names of the topics created now.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    existing = admin.list_topics(timeout=timeout).topics
    missing = [t for t in topics if t.name not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(t.name, num_partitions=t.partitions, replication_factor=-1) for t in missing],
        request_timeout=timeout,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            created.append(name)
        except KafkaException as ex:
            if ex.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    if created:
        logger.info("created Kafka topics %s", created)
    return created


class KafkaHealthCheck:
    """Asks the brokers for the topics' metadata, and changes nothing; one admin client."""

    def __init__(self, bootstrap_servers: str, topics: list[TopicSpec]) -> None:
        self._admin = AdminClient(
            {"bootstrap.servers": bootstrap_servers, "reconnect.backoff.max.ms": 1000}
        )
        self._topics = topics

    def __call__(self, timeout: float) -> dict[str, object]:
        """Return details when a broker answers and every topic exists; raise otherwise."""
        metadata = self._admin.list_topics(timeout=timeout)
        details: dict[str, object] = {"brokers": len(metadata.brokers)}
        for spec in self._topics:
            topic = metadata.topics.get(spec.name)
            if topic is None:
                raise KafkaException(f"the topic {spec.name} is missing")
            if topic.error is not None:
                raise KafkaException(topic.error)
            details[spec.name] = {"partitions": len(topic.partitions)}
        return details


class TopicKeeper:
    """Creates the service's topics again when a broker lost them, from a thread of its own.

    A broker that keeps its topics in memory (Tansu) loses them on a restart; producing
    would then let it create ``order.created`` with its own partition count (4 on Tansu),
    and the consumer would wait for a topic nobody creates. The health check only reports
    this; this keeper repairs it within ``interval`` seconds.
    """

    def __init__(
        self, bootstrap_servers: str, topics: list[TopicSpec], interval: float = 5.0
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._topics = topics
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kafka-topic-keeper", daemon=True)

    def start(self) -> None:
        """Look at the topics every interval, in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop looking (within one admin call's timeout)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=3)

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                ensure_topics(self._bootstrap_servers, self._topics, timeout=2)
            except KafkaException as ex:
                # The broker is away: the health check says so; try again next time.
                logger.debug("topic keeper: %s", ex)
