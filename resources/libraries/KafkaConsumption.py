"""Robot Framework keywords that read ``order.created`` after a recorded baseline."""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import UTC, datetime

from confluent_kafka.admin import AdminClient
from robot.api import logger
from robot.api.deco import keyword, library
from robot.utils import timestr_to_secs

from evidence.topic_reader import Record, TopicReader


@library(scope="SUITE", version="1.0")
class KafkaConsumption:
    """Count and find the events that arrived on a topic after a recorded baseline.

    The baseline is a position per partition, taken by reading each partition to its true
    end (a high watermark alone can lag behind on some brokers). Every later keyword reads
    only what arrived after it, on every partition, so its cost depends on the new events,
    not on the topic's history. Events are read with ``assign()``: no consumer group, no
    rebalance, nothing committed, nothing changed on the broker.

    = Events =

    Keywords return events as dictionaries: ``partition``, ``offset``, ``key``, ``value``
    (the JSON payload as a dictionary, or None when the message is not a JSON object) and
    ``timestamp`` (ISO 8601, from the broker).

    = Example =

    | Library    KafkaConsumption    localhost:9092
    | Record Kafka Baseline
    | ${order_id}=    Place An Order
    | ${event}=    Wait For Event    ${order_id}    timeout=10s
    | Should Be Equal    ${event}[value][orderId]    ${order_id}
    """

    def __init__(
        self,
        bootstrap_servers: str = "localhost:9092",
        topic: str = "order.created",
        timeout: str = "10s",
    ) -> None:
        """Configure the library (the import arguments).

        | ``bootstrap_servers`` | Kafka brokers, e.g. ``localhost:9092``. |
        | ``topic``             | The topic to read (default ``order.created``). |
        | ``timeout``           | How long one read may take, in Robot time format. |
        """
        self._timeout = timestr_to_secs(timeout)
        self._reader = TopicReader(bootstrap_servers, topic, self._timeout)
        self._bootstrap_servers = bootstrap_servers
        self._topic = topic
        self._baseline: dict[int, int] | None = None

    @keyword("Record Kafka Baseline")
    def record_kafka_baseline(self) -> int:
        """Record where every partition ends now; return the number of events before it.

        The count is the sum of the end offsets: the events the topic ever held, as the
        seed's ``rpk topic consume | wc -l`` counts them on a topic nobody compacts.

        Example:
        | ${before}=    Record Kafka Baseline
        """
        self._baseline = self._reader.end_positions()
        total = sum(self._baseline.values())
        logger.info(
            f"Kafka baseline of {self._topic}: {total} events; end offsets per partition "
            f"{self._baseline}"
        )
        return total

    @keyword("Reset Kafka Baseline")
    def reset_kafka_baseline(self) -> None:
        """Forget the recorded baseline (the library keeps it for the suite)."""
        self._baseline = None

    @keyword("Get Kafka Baseline")
    def get_kafka_baseline(self) -> dict[int, int]:
        """Return the recorded end offset of every partition."""
        return dict(self._positions())

    @keyword("Read Events Since Baseline")
    def read_events_since_baseline(self) -> list[dict]:
        """Return every event that arrived after the baseline, on every partition.

        Example:
        | ${events}=    Read Events Since Baseline
        """
        events = [_event(record) for record in self._reader.read_since(self._positions())]
        logger.info(f"{len(events)} event(s) on {self._topic} since the baseline")
        return events

    @keyword("Count Events Since Baseline")
    def count_events_since_baseline(self) -> int:
        """Return how many events arrived after the baseline, counted by consuming them.

        Example:
        | ${delta}=    Count Events Since Baseline
        """
        return len(self.read_events_since_baseline())

    @keyword("Find Events By Order Id")
    def find_events_by_order_id(self, order_id: str) -> list[dict]:
        """Return the events since the baseline whose key or ``orderId`` is ``order_id``.

        Example:
        | ${events}=    Find Events By Order Id    ${order_id}
        """
        found = [e for e in self.read_events_since_baseline() if _concerns(e, order_id)]
        logger.info(f"{len(found)} event(s) for orderId={order_id}")
        return found

    @keyword("Find Orders Missing From Kafka")
    def find_orders_missing_from_kafka(self, order_ids: list[str]) -> list[str]:
        """Return the ids among ``order_ids`` that have no event since the baseline.

        One read serves the whole list, however long.

        Example:
        | ${missing}=    Find Orders Missing From Kafka    ${order_ids}
        | Should Be Empty    ${missing}
        """
        events = self.read_events_since_baseline()
        seen = {e["key"] for e in events} | {(e["value"] or {}).get("orderId") for e in events}
        return [order_id for order_id in order_ids if order_id not in seen]

    @keyword("Latest Event Since Baseline")
    def latest_event_since_baseline(self) -> dict | None:
        """Return the newest event since the baseline (by broker timestamp), or None.

        Example:
        | ${latest}=    Latest Event Since Baseline
        """
        events = self.read_events_since_baseline()
        if not events:
            return None
        return max(events, key=lambda e: (e["timestamp"] or "", e["partition"], e["offset"]))

    @keyword("Wait For Event")
    def wait_for_event(self, order_id: str, timeout: str = "10s", pause: str = "0.2s") -> dict:
        """Wait until an event for ``order_id`` arrives after the baseline; return it.

        Fails after ``timeout``, naming the order and the topic.

        Example:
        | ${event}=    Wait For Event    ${order_id}    timeout=15s
        """
        deadline = time.monotonic() + timestr_to_secs(timeout)
        while True:
            found = self.find_events_by_order_id(order_id)
            if found:
                return found[0]
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"no event for orderId={order_id} on {self._topic} within {timeout}"
                )
            time.sleep(timestr_to_secs(pause))

    @keyword("Delete Topics")
    def delete_topics(self, *topics: str) -> list[str]:
        """Delete topics from the cluster (the seed's optional reset); return those deleted.

        Destructive: the suite calls it only when asked (``-v CLEAN_DATA:True``). A topic
        that does not exist is skipped.

        Example:
        | Delete Topics    order.created    order.cancelled
        """
        admin = AdminClient({"bootstrap.servers": self._bootstrap_servers})
        existing = admin.list_topics(timeout=self._timeout).topics
        wanted = [t for t in topics if t in existing]
        if not wanted:
            return []
        for name, future in admin.delete_topics(wanted, operation_timeout=self._timeout).items():
            future.result(timeout=self._timeout)
            logger.info(f"Deleted topic {name}")
        return wanted

    def _positions(self) -> dict[int, int]:
        if self._baseline is None:
            raise AssertionError("no Kafka baseline: call 'Record Kafka Baseline' first")
        return self._baseline


def _concerns(event: dict, order_id: str) -> bool:
    return event["key"] == order_id or (event["value"] or {}).get("orderId") == order_id


def _event(record: Record) -> dict:
    event = asdict(record)
    event.pop("raw")
    stamp = event.pop("timestamp_ms")
    event["timestamp"] = (
        datetime.fromtimestamp(stamp / 1000, UTC).isoformat(timespec="milliseconds")
        if stamp is not None
        else None
    )
    return event
