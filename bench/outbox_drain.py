"""How fast does the relay drain a backlog? The relay against the outbox's raw floor.

    python bench/outbox_drain.py [--rows 100000] [--engine tansu]

Starts a stack of its own (free loopback ports, a temporary folder) and, in one run:

1. the floor (``bench/raw_limit.py``'s ``drain_floor``): ``--rows`` outbox rows drained
   without the service, in batches of the relay's size (claim, produce all, wait for all
   reports, delete in one statement, commit), to a topic of its own;
2. the relay: the same backlog written while no service runs, then the service started in
   outbox mode; timed from the moment it is UP until the outbox is empty, over the rows
   still pending at that moment.

Both are repeated ``--repeats`` times, alternating (the broker's and the database's pace
varies from one run to the next); the medians are compared. Prints both rates and the
relay's as a ratio of the floor: PASS at least ``DRAIN_TARGET``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import closing
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg2

from bench.locations import stack_of_its_own
from bench.raw_limit import DEFAULT_PARTITIONS, DEFAULT_TOPIC, drain_floor, fill_outbox
from campaign.services import ServiceInstance, service_env
from embedded_stack import EmbeddedStack, StackSettings
from embedded_stack.polling import wait_until
from service.adapters.kafka import TopicSpec, ensure_topics
from service.adapters.migrations import apply_migrations
from service.domain.events import ORDER_CREATED_TOPIC

DRAIN_TARGET = 0.5
BATCH_SIZE = 100  # the relay's default, MARS_OUTBOX_BATCH_SIZE


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 0 when the relay reached the target."""
    parser = argparse.ArgumentParser(prog="python bench/outbox_drain.py", description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--engine", default="tansu")
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="outbox-drain-") as scratch:
        settings = stack_of_its_own(Path(scratch) / "stack", options.engine)
        with EmbeddedStack(settings):
            prepare(settings)
            floors, relays = [], []
            for repeat in range(options.repeats):
                fresh_outbox(settings.database_url)
                fill_outbox(settings.database_url, options.rows, DEFAULT_TOPIC)
                floor = drain_floor(
                    settings.database_url,
                    settings.kafka_bootstrap_servers,
                    topic=DEFAULT_TOPIC,
                    batch_size=BATCH_SIZE,
                )
                fresh_outbox(settings.database_url)
                fill_outbox(settings.database_url, options.rows, ORDER_CREATED_TOPIC)
                rows, seconds = relay_drain(settings, Path(scratch) / f"service-{repeat}.log")
                floors.append(floor.per_second)
                relays.append(rows / seconds)
                print(
                    f"repeat {repeat + 1}: floor {floor.rows:,} rows in {floor.seconds:.1f} s "
                    f"({floor.per_second:,.0f}/s); relay {rows:,} rows in {seconds:.1f} s "
                    f"({rows / seconds:,.0f}/s)",
                    flush=True,
                )
    floor_rate, relay_rate = statistics.median(floors), statistics.median(relays)
    ratio = relay_rate / floor_rate
    print(f"median: floor {floor_rate:,.0f}/s, relay {relay_rate:,.0f}/s")
    verdict = "PASS" if ratio >= DRAIN_TARGET else "SHORT"
    print(f"  relay / floor: {ratio:.2f}x (target >= {DRAIN_TARGET}x): {verdict}")
    return 0 if ratio >= DRAIN_TARGET else 1


def prepare(settings: StackSettings) -> None:
    """Create the service's tables and both topics, so neither run pays for them."""
    with closing(psycopg2.connect(settings.database_url)) as connection:
        apply_migrations(connection)
    topics = [TopicSpec(name, DEFAULT_PARTITIONS) for name in (DEFAULT_TOPIC, ORDER_CREATED_TOPIC)]
    ensure_topics(settings.kafka_bootstrap_servers, topics)


def fresh_outbox(database_url: str) -> None:
    """Vacuum the (empty) outbox: each drain starts without the dead rows of the one before."""
    with closing(psycopg2.connect(database_url)) as connection:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("VACUUM outbox")


def pending(database_url: str) -> int:
    """Return how many outbox rows are pending."""
    with closing(psycopg2.connect(database_url)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM outbox")
        return int(cursor.fetchone()[0])


def outbox_is_empty(connection) -> bool:
    """Tell whether the outbox holds no row: one short query, as light as the wait can be."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT NOT EXISTS (SELECT 1 FROM outbox)")
        empty = bool(cursor.fetchone()[0])
    connection.rollback()
    return empty


def relay_drain(settings: StackSettings, log_path: Path) -> tuple[int, float]:
    """Start the service on the backlog; return the rows pending once UP and the seconds."""
    env = service_env(
        "outbox",
        database_url=settings.database_url,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        consumer_group=f"outbox-drain-{uuid.uuid4().hex[:8]}",
    )
    instance = ServiceInstance(0, env, log_path).start()
    try:
        # One connection for the whole wait: a new one every 50 ms (a backend forked each
        # time) and a count of the whole table would take CPU from the relay it measures.
        with closing(psycopg2.connect(settings.database_url)) as watcher:
            started, left = time.monotonic(), pending(settings.database_url)
            wait_until(
                lambda: outbox_is_empty(watcher),
                timeout=900,
                what="the relay to drain the outbox",
                interval=0.05,
            )
            return left, time.monotonic() - started
    finally:
        instance.stop()


if __name__ == "__main__":
    sys.exit(main())
