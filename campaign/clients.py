"""The campaign's clients: each one a thread with one operation in flight at a time.

A client creates orders (each with an ``Idempotency-Key``), now and then asks for a phantom
event (``POST /chaos/phantom-event``), and cancels some of the orders it was told exist by
publishing ``order.cancelled``, which the service's consumer applies. Every operation is
recorded before it is sent and again when its outcome is known: ``ok``, ``fail`` (it did not
happen: a 4xx, a refused connection) or ``info`` (unknown: a 5xx, a timeout, a dropped
connection), as in Jepsen.
"""

from __future__ import annotations

import collections
import json
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from confluent_kafka import KafkaError, KafkaException, Producer
from urllib3.exceptions import NewConnectionError

from campaign.history import CANCEL, CREATE, FAIL, INFO, INVOKE, OK, PHANTOM, HistoryWriter
from service.domain.events import ORDER_CANCELLED_TOPIC

# Orders a client remembers as cancellation candidates: a bound, so memory stays flat.
_CANDIDATES = 64
# After a failed or unknown operation a client waits this long: a refused connection must
# not turn into a busy loop of thousands of failures a second.
_BACKOFF_SECONDS = 0.1
# The producer's own log (connection refused while the broker is cut off, and so on): the
# run's log file keeps it, the terminal does not.
KAFKA_LOGGER = "campaign.kafka"


@dataclass(frozen=True)
class Workload:
    """The mix and pace of every client's operations."""

    # Shares of all operations; the rest are creates.
    phantom_share: float = 0.05
    cancel_share: float = 0.10
    # Operations a second per client; None runs as fast as the service answers.
    rate: float | None = None
    http_timeout: float = 12.0
    # An info create is sent once more with the same Idempotency-Key, as a careful client
    # does: the service answers the first order again if it was placed.
    retry_unknown_creates: bool = True


@dataclass(frozen=True)
class Outcome:
    """How an operation ended, as the history records it."""

    type: str
    status: int | None = None
    error: str | None = None
    body: dict[str, Any] | None = None


def http_outcome(response: requests.Response) -> Outcome:
    """Classify an HTTP answer: 2xx ok, 4xx fail (refused, nothing written), else info."""
    try:
        body = response.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else None
    status = response.status_code
    if 200 <= status < 300:
        return Outcome(OK, status, body=body)
    error = (body or {}).get("title") or response.reason
    return Outcome(FAIL if 400 <= status < 500 else INFO, status, str(error), body)


def error_outcome(error: requests.RequestException) -> Outcome:
    """Classify a request that got no answer.

    A connection that was never made (refused, or no connect within the timeout) sent
    nothing: fail. Anything later (a read timeout, a connection dropped mid-request) may
    have taken effect: info.
    """
    never_sent = isinstance(error, requests.ConnectTimeout) or (
        isinstance(error, requests.ConnectionError) and _caused_by(error, NewConnectionError)
    )
    return Outcome(FAIL if never_sent else INFO, error=f"{type(error).__name__}: {error}"[:300])


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    """Tell whether ``kind`` is in the chain of ``error`` (urllib3 keeps it in ``reason``)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = getattr(current, "reason", None) or current.__cause__ or current.__context__
    return False


class CancelSender:
    """Publish ``order.cancelled`` messages, each waited for until its delivery report."""

    def __init__(self, bootstrap_servers: str, *, timeout: float = 8.0) -> None:
        """Create the producer.

        Args:
            bootstrap_servers: Kafka, as the service sees it (through the proxies when the
                broker is faulted, so cancellations meet the same faults).
            timeout: Seconds a message may take before its outcome is called unknown.
        """
        self._timeout = timeout
        # Not idempotent: an idempotent producer stays fenced for good after one delivery
        # timeout on Tansu; this one recovers by itself once the broker is back.
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "acks": "all",
                "enable.idempotence": False,
                "linger.ms": 0,
                "message.timeout.ms": int((timeout - 1) * 1000),
            },
            logger=logging.getLogger(KAFKA_LOGGER),
        )

    def send(self, order_id: str, event_id: str) -> Outcome:
        """Publish the cancellation of ``order_id`` and wait for the broker's answer.

        Returns:
            ok once delivered; info when the report says it failed or timed out (a timed
            out message may still be written, as a paused broker shows); fail when the
            client refused to queue it.
        """
        value = {
            "eventId": event_id,
            "orderId": order_id,
            "reason": "campaign",
            "occurredAt": datetime.now(UTC).isoformat(),
        }
        done = threading.Event()
        report: list[KafkaError | None] = []

        def delivered(error: KafkaError | None, _message: object) -> None:
            report.append(error)
            done.set()

        try:
            self._producer.produce(
                ORDER_CANCELLED_TOPIC,
                key=order_id,
                value=json.dumps(value, separators=(",", ":")).encode(),
                on_delivery=delivered,
            )
        except (BufferError, KafkaException) as ex:
            return Outcome(FAIL, error=f"not queued: {ex}")
        deadline = self._timeout
        while not done.is_set() and deadline > 0:
            # Any thread's poll serves every report; each waits for its own.
            self._producer.poll(0.05)
            deadline -= 0.05
        if not done.is_set():
            return Outcome(INFO, error="no delivery report in time")
        if report[0] is not None:
            return Outcome(INFO, error=f"delivery failed: {report[0]}")
        return Outcome(OK)

    def close(self) -> None:
        """Wait briefly for what is still queued, then drop the producer."""
        self._producer.flush(2.0)


class Client:
    """One client process: a customer of its own, one service instance, one op at a time."""

    def __init__(
        self,
        number: int,
        url: str,
        *,
        history: HistoryWriter,
        cancels: CancelSender,
        workload: Workload,
        seed: int,
        stop: threading.Event,
    ) -> None:
        """Describe client ``number``; :meth:`run` drives it until ``stop`` is set.

        Args:
            number: Its process number (``client-<number>`` in the history).
            url: The service instance it talks to.
            history: Where every operation is recorded.
            cancels: The shared ``order.cancelled`` producer.
            workload: The mix and pace.
            seed: The campaign's seed: the same seed gives each client the same choices.
            stop: Set when the campaign's time is up.
        """
        self.process = f"client-{number}"
        # Random, not seeded: two runs with one seed on one database must not share rows.
        self.customer_id = str(uuid.uuid4())
        self._url = url
        self._history = history
        self._cancels = cancels
        self._workload = workload
        self._rng = random.Random(f"{seed}-client-{number}")
        self._stop = stop
        self._candidates: collections.deque[str] = collections.deque(maxlen=_CANDIDATES)
        self._session = requests.Session()

    def run(self) -> None:
        """Run operations until ``stop`` is set; the thread's target."""
        interval = 1.0 / self._workload.rate if self._workload.rate else 0.0
        next_start = time.monotonic()
        try:
            while not self._stop.is_set():
                outcome = self._next_operation()
                # A rate counts from start to start, so slow answers do not lower it.
                next_start = max(next_start + interval, time.monotonic())
                if outcome.type != OK:
                    next_start = max(next_start, time.monotonic() + _BACKOFF_SECONDS)
                pause = next_start - time.monotonic()
                if pause > 0:
                    self._stop.wait(pause)
        finally:
            self._session.close()

    def _next_operation(self) -> Outcome:
        draw = self._rng.random()
        if draw < self._workload.phantom_share:
            return self._phantom()
        if draw < self._workload.phantom_share + self._workload.cancel_share and self._candidates:
            return self._cancel()
        return self._create()

    def _create(self) -> Outcome:
        key = str(uuid.uuid4())
        body = self._order_body()
        outcome = self._post(CREATE, "/orders", body, idempotency_key=key)
        if outcome.type == INFO and self._workload.retry_unknown_creates:
            self._stop.wait(_BACKOFF_SECONDS)
            outcome = self._post(CREATE, "/orders", body, idempotency_key=key)
        return outcome

    def _phantom(self) -> Outcome:
        return self._post(PHANTOM, "/chaos/phantom-event", self._order_body())

    def _post(
        self, f: str, path: str, body: dict[str, Any], *, idempotency_key: str | None = None
    ) -> Outcome:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        self._history.record(self.process, INVOKE, f, idempotency_key=idempotency_key)
        try:
            response = self._session.post(
                self._url + path, json=body, headers=headers, timeout=self._workload.http_timeout
            )
            outcome = http_outcome(response)
        except requests.RequestException as ex:
            outcome = error_outcome(ex)
        order_id = (outcome.body or {}).get("orderId")
        self._history.record(
            self.process,
            outcome.type,
            f,
            idempotency_key=idempotency_key,
            order_id=str(order_id) if order_id else None,
            status=outcome.status,
            error=outcome.error,
        )
        if f == CREATE and outcome.type == OK and order_id:
            self._candidates.append(str(order_id))
        return outcome

    def _cancel(self) -> Outcome:
        order_id = self._candidates[self._rng.randrange(len(self._candidates))]
        self._candidates.remove(order_id)
        event_id = str(uuid.uuid4())
        self._history.record(self.process, INVOKE, CANCEL, order_id=order_id, event_id=event_id)
        outcome = self._cancels.send(order_id, event_id)
        self._history.record(
            self.process,
            outcome.type,
            CANCEL,
            order_id=order_id,
            event_id=event_id,
            error=outcome.error,
        )
        return outcome

    def _order_body(self) -> dict[str, Any]:
        items = [
            {
                "productId": str(uuid.uuid4()),
                "quantity": self._rng.randint(1, 5),
                "unitPrice": round(self._rng.uniform(1, 500), 2),
            }
            for _ in range(self._rng.randint(1, 3))
        ]
        return {"customerId": self.customer_id, "items": items}
