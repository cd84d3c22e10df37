"""The ``order.cancelled`` consumer: a background thread that cancels orders."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, Message

from service.adapters.event_json import MalformedEvent, decode_order_cancelled
from service.adapters.kafka import ORDER_CANCELLED
from service.domain.errors import DuplicateEvent, OrderNotFound
from service.domain.events import OrderCancelled

logger = logging.getLogger(__name__)

Handler = Callable[[OrderCancelled], object]


def consumer_settings(bootstrap_servers: str, group_id: str) -> dict:
    """Return the consumer configuration, every choice on purpose."""
    return {
        "bootstrap.servers": bootstrap_servers,
        "group.id": group_id,
        "client.id": "order-service-cancellations",
        # Offsets are committed after each handled (or skipped) message, so a restart
        # resumes where it stopped and a crash replays at most the message in hand.
        "enable.auto.commit": False,
        # A new group starts at the beginning: a cancellation sent before the service
        # first joined is not missed; replays are harmless (each eventId is handled once).
        "auto.offset.reset": "earliest",
        # Some brokers (Tansu) hand out the first assignment after about half the
        # session timeout: librdkafka's 45 s default would mean 23 s of deafness.
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
        "reconnect.backoff.max.ms": 1000,
        "logger": logging.getLogger("librdkafka.consumer"),
    }


class OrderCancelledConsumer:
    """Consumes ``order.cancelled`` and hands each event to the cancel-order use case."""

    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        handle: Handler,
        *,
        topic: str = ORDER_CANCELLED,
        retry_pause: float = 1.0,
    ) -> None:
        self._settings = consumer_settings(bootstrap_servers, group_id)
        self._handle = handle
        self._topic = topic
        self._retry_pause = retry_pause
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="order-cancelled-consumer")
        self.handled = 0
        self.skipped = 0
        self.duplicates = 0

    def start(self) -> None:
        """Join the group and consume in the background."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop consuming, commit and leave the group."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        consumer = Consumer(self._settings)
        try:
            consumer.subscribe([self._topic])
            while not self._stopping.is_set():
                message = consumer.poll(0.5)
                if message is None:
                    continue
                if message.error():
                    self._log_client_error(message.error())
                    continue
                if self._process(message):
                    consumer.commit(message=message, asynchronous=False)
                else:
                    # Not handled (e.g. the database is down): read it again after a pause.
                    consumer.seek(message)
                    self._stopping.wait(self._retry_pause)
        except Exception:
            logger.exception("the order.cancelled consumer stopped on an unexpected error")
        finally:
            consumer.close()
            logger.info("order.cancelled consumer stopped")

    def _process(self, message: Message) -> bool:
        """Handle one message; return False if it should be retried."""
        where = f"partition={message.partition()} offset={message.offset()}"
        try:
            event = decode_order_cancelled(message.value())
        except MalformedEvent as ex:
            logger.warning("skipped a malformed order.cancelled message at %s: %s", where, ex)
            self.skipped += 1
            return True
        try:
            self._handle(event)
        except OrderNotFound:
            logger.warning("skipped order.cancelled for unknown orderId=%s", event.order_id)
            self.skipped += 1
            return True
        except DuplicateEvent:
            # Delivery is at least once: this copy changes nothing, and its offset is
            # committed like any other.
            logger.info(
                "skipped a duplicate order.cancelled eventId=%s for orderId=%s (%s)",
                event.event_id,
                event.order_id,
                where,
            )
            self.duplicates += 1
            return True
        except Exception:
            logger.exception("could not cancel orderId=%s (%s); will retry", event.order_id, where)
            return False
        logger.info("cancelled orderId=%s (reason: %s)", event.order_id, event.reason or "none")
        self.handled += 1
        return True

    @staticmethod
    def _log_client_error(error: KafkaError) -> None:
        if error.code() == KafkaError._PARTITION_EOF:
            return
        logger.warning("order.cancelled consumer: %s", error)
