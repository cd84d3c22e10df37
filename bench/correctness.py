"""The correctness run: under load, every 201 is one row and one event, nothing more.

The run posts orders of a customer id of its own, so its rows are found by query and its
events by reading ``order.created`` from positions recorded before it, on every partition.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

from bench.load import COLLECT_SCRIPT, Load, count_statuses, order_body, run_wrk
from bench.outbox import event_delays_ms, percentiles_ms
from evidence.topic_reader import Record, TopicReader
from service.domain.events import ORDER_CREATED_TOPIC

_SAMPLES = 5


@dataclass
class CorrectnessResult:
    """What the correctness run observed, and its verdict."""

    customer_id: str
    connections: int
    post_seconds: float
    posts_sent: int
    posts_answered: int
    statuses: dict[str, int]
    server_errors: int
    socket_errors: dict[str, int]
    ids_201: int
    duplicate_ids_201: int
    rows: int
    events: int
    duplicate_events: int
    missing_rows: list[str] = field(default_factory=list)
    extra_rows: list[str] = field(default_factory=list)
    missing_events: list[str] = field(default_factory=list)
    extra_events: list[str] = field(default_factory=list)
    posts_per_s: float = 0.0
    error: str | None = None
    # Creation (occurredAt) to the record's timestamp, per event of the run (bench/outbox.py).
    event_delay_ms: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Tell whether the run had no 5xx and one row and one event per 201, no more."""
        return (
            self.error is None
            and self.server_errors == 0
            and self.posts_sent == self.posts_answered
            and self.duplicate_ids_201 == 0
            and self.duplicate_events == 0
            and not (self.missing_rows or self.extra_rows)
            and not (self.missing_events or self.extra_events)
        )

    def describe(self) -> str:
        """Return the verdict and its evidence, a few lines for people."""
        lines = [
            f"  {self.connections} connections, {self.post_seconds:g} s of POST /orders "
            f"(customerId={self.customer_id}): {self.posts_sent} sent, "
            f"{self.posts_answered} answered, {self.posts_per_s:,.0f}/s",
            f"  statuses {dict(sorted(self.statuses.items()))}; 5xx: {self.server_errors}; "
            f"socket errors {self.socket_errors}",
            f"  orderIds in 201s: {self.ids_201} ({self.duplicate_ids_201} duplicates); "
            f"new rows: {self.rows}; new events: {self.events} "
            f"({self.duplicate_events} duplicates)",
            f"  creation to event on the topic: n={self.event_delay_ms.get('n')}, "
            f"p50 {self.event_delay_ms.get('p50_ms')} ms, "
            f"p95 {self.event_delay_ms.get('p95_ms')} ms",
        ]
        for label, ids in (
            ("201 without a row", self.missing_rows),
            ("row without a 201", self.extra_rows),
            ("201 without an event", self.missing_events),
            ("event without a 201", self.extra_events),
        ):
            if ids:
                lines.append(f"  {label}: {len(ids)}, e.g. {', '.join(ids[:_SAMPLES])}")
        if self.error:
            lines.append(f"  could not check: {self.error}")
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(f"  verdict: {verdict} (0 5xx and ids of 201s == new rows == new events)")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        """Return the result as JSON-ready data (mismatches cut to a few samples)."""
        data = dict(vars(self))
        for key in ("missing_rows", "extra_rows", "missing_events", "extra_events"):
            data[f"{key}_count"] = len(data[key])
            data[key] = data[key][:_SAMPLES]
        data["passed"] = self.passed
        return data


def run_correctness(
    url: str,
    database_url: str,
    bootstrap_servers: str,
    *,
    connections: int,
    post_seconds: float,
    drain_seconds: float,
    log_path: Path | None = None,
    before_reading: Callable[[], object] | None = None,
) -> CorrectnessResult:
    """Post orders under load, then compare the 201s with the new rows and new events.

    Args:
        url: ``POST /orders`` of the running service.
        database_url: Its PostgreSQL.
        bootstrap_servers: Its Kafka brokers.
        connections: Concurrent connections.
        post_seconds: How long to post.
        drain_seconds: How long wrk keeps running after the posting ends, so that every POST
            in flight is answered while wrk still reads (see ``wrk/collect.lua``).
        log_path: Where wrk's text output goes.
        before_reading: Called before the topic is read (outbox mode: wait for the relay).

    Returns:
        The observations and the verdict.
    """
    customer_id = uuid.uuid4()
    reader = TopicReader(bootstrap_servers, ORDER_CREATED_TOPIC, timeout=120)
    positions = reader.end_positions()
    load = _collecting_load(url, customer_id, connections, post_seconds, drain_seconds)
    summary = run_wrk(load, log_path=log_path)
    rows = _order_ids_of(database_url, customer_id)
    records, error = _read_events_since(reader, positions, before_reading)
    return _compare(
        customer_id,
        summary,
        rows,
        events=_events_of(customer_id, records),
        error=error,
        connections=connections,
        post_seconds=post_seconds,
    )


def _collecting_load(
    url: str, customer_id: uuid.UUID, connections: int, post_seconds: float, drain_seconds: float
) -> Load:
    return Load(
        url=url,
        connections=connections,
        seconds=post_seconds + drain_seconds,
        body=order_body(customer_id),
        script=COLLECT_SCRIPT,
        post_seconds=post_seconds,
    )


def _read_events_since(
    reader: TopicReader,
    positions: dict[int, int],
    before_reading: Callable[[], object] | None,
) -> tuple[list[Record], str | None]:
    """Return the records written since ``positions``, or none and why they could not be read."""
    try:
        if before_reading is not None:
            before_reading()
        return reader.read_since(positions), None
    except (TimeoutError, RuntimeError) as ex:
        # Seen on Tansu (memory storage): a fetch takes seconds once a partition holds
        # ~16,000 batches, and never ends in time past ~20,000.
        return [], f"reading {ORDER_CREATED_TOPIC} failed: {ex}"


def _events_of(customer_id: uuid.UUID, records: list[Record]) -> list[Record]:
    return [
        record
        for record in records
        if isinstance(record.value, dict) and record.value.get("customerId") == str(customer_id)
    ]


def _compare(
    customer_id: uuid.UUID,
    summary: dict,
    rows: set[str],
    *,
    events: list[Record],
    error: str | None,
    connections: int,
    post_seconds: float,
) -> CorrectnessResult:
    """Set the ids of the 201s against the new rows and the keys of the new events."""
    ids = summary["order_ids"]
    event_keys = [record.key for record in events]
    id_set, event_set = set(ids), set(event_keys)
    return CorrectnessResult(
        customer_id=str(customer_id),
        connections=connections,
        post_seconds=post_seconds,
        posts_sent=summary["posts_sent"],
        posts_answered=summary["posts_answered"],
        statuses=summary["statuses"],
        server_errors=count_statuses(summary, 500, 599),
        socket_errors=summary["socket_errors"],
        ids_201=len(ids),
        duplicate_ids_201=_duplicates(ids),
        rows=len(rows),
        events=len(event_keys),
        duplicate_events=_duplicates(event_keys),
        missing_rows=sorted(id_set - rows),
        extra_rows=sorted(rows - id_set),
        missing_events=sorted(id_set - event_set),
        extra_events=sorted(event_set - id_set),
        posts_per_s=summary["posts_answered"] / post_seconds,
        error=error,
        event_delay_ms=percentiles_ms(event_delays_ms(events)),
    )


def _order_ids_of(database_url: str, customer_id: uuid.UUID) -> set[str]:
    with closing(psycopg2.connect(database_url)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT id FROM orders WHERE customer_id = %s", (str(customer_id),))
        return {str(row[0]) for row in cursor.fetchall()}


def _duplicates(values: list[str]) -> int:
    return sum(count - 1 for count in Counter(values).values() if count > 1)
