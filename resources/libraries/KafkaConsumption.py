"""Robot Framework keywords that read ``order.created`` after a recorded baseline."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from confluent_kafka.admin import AdminClient
from robot.api import SkipExecution, logger
from robot.api.deco import keyword, library
from robot.utils import timestr_to_secs

from embedded_stack.polling import WaitTimedOut, wait_until
from evidence.topic_reader import Record, TopicReader


@library(scope="SUITE", version="1.0")
class KafkaConsumption:
    """Read the events that arrived on a topic after a recorded baseline.

    The baseline is a position per partition, taken by reading each partition to its true
    end (a high watermark alone can lag behind on some brokers). Every later keyword reads
    only what arrived after it, on every partition, so its cost depends on the new events,
    not on the topic's history. Events are read with ``assign()``: no consumer group, no
    rebalance, nothing committed, nothing changed on the broker.

    The baseline is kept for the suite (SUITE scope); `Record Kafka Baseline` replaces it.
    A keyword that needs it skips the test when no test of the suite recorded one (a seed
    step run alone), instead of failing.

    %TOC%

    = Events =

    Keywords return events as dictionaries: ``partition``, ``offset``, ``key``, ``value``
    (the JSON payload as a dictionary, or None when the message is not a JSON object) and
    ``timestamp`` (ISO 8601, from the broker).

    = Example =

    | Library | KafkaConsumption | localhost:9092 |
    | Record Kafka Baseline |
    | ${order_id}= | Place An Order |
    | ${event}= | Wait For Event | ${order_id} | timeout=10s |
    | Should Be Equal | ${event}[value][orderId] | ${order_id} |
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

        Example:
        | Library | KafkaConsumption | ${KAFKA_BOOTSTRAP_SERVERS} | order.created |
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
        | ${before}= | Record Kafka Baseline |
        """
        self._baseline = self._reader.end_positions()
        total = sum(self._baseline.values())
        logger.info(
            f"Kafka baseline of {self._topic}: {total} events; end offsets per partition "
            f"{self._baseline}"
        )
        return total

    @keyword("Read Events Since Baseline")
    def read_events_since_baseline(self) -> list[dict]:
        """Return every event that arrived after the baseline, on every partition.

        Skips the test when no baseline was recorded in this suite.

        Example:
        | ${events}= | Read Events Since Baseline |
        """
        events = self._read_since(self._recorded_baseline())
        logger.info(f"{len(events)} event(s) on {self._topic} since the baseline")
        return events

    @keyword("Wait For Event")
    def wait_for_event(self, order_id: str, timeout: str = "10s", pause: str = "0.2s") -> dict:
        """Wait until an event for ``order_id`` arrives after the baseline; return it.

        Reads the topic every ``pause``; fails after ``timeout``, naming the order and the
        topic. Skips the test when no baseline was recorded in this suite.

        Example:
        | ${event}= | Wait For Event | ${order_id} | timeout=15s |
        """
        baseline = self._recorded_baseline()

        def first_event_of_the_order() -> dict | None:
            records = self._reader.read_since(baseline)
            return next((_event(r) for r in records if r.order_id == order_id), None)

        try:
            event = wait_until(
                first_event_of_the_order,
                timeout=timestr_to_secs(timeout),
                interval=timestr_to_secs(pause),
                what=f"an event for orderId={order_id} on {self._topic}",
            )
        except WaitTimedOut:
            raise AssertionError(
                f"no event for orderId={order_id} on {self._topic} within {timeout}"
            ) from None
        logger.info(f"Event for orderId={order_id} at {event['partition']}/{event['offset']}")
        return event

    @keyword("Delete Topics")
    def delete_topics(self, *topics: str) -> list[str]:
        """Delete topics from the cluster (the seed's optional reset); return those deleted.

        Destructive: the suite calls it only when asked (``-v CLEAN_DATA:True``). A topic
        that does not exist is skipped.

        Example:
        | Delete Topics | order.created | order.cancelled |
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

    def _recorded_baseline(self) -> dict[int, int]:
        if self._baseline is None:
            # A seed step run alone (--include seed-step-7) has nothing to compare with.
            raise SkipExecution(
                f"no Kafka baseline of {self._topic} in this suite: needs seed step 4's "
                "baseline ('Record Kafka Baseline'); run the whole suite or include that step"
            )
        return self._baseline

    def _read_since(self, baseline: dict[int, int]) -> list[dict]:
        return [_event(record) for record in self._reader.read_since(baseline)]


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
