"""Measure the raw limit of one order: one PostgreSQL transaction plus one produce-and-wait.

No HTTP and no web framework: what is left is the floor a complete service cannot beat on
this machine. The SQL is the service's own (``PostgresOrderRepository.add``) and so is the
producer (``KafkaOrderEventPublisher``: acks=all, linger.ms=0, one delivery report awaited
per message), and so is the kind of connection (``GluedBeginConnection``: BEGIN travels
with the first statement). Each thread keeps one open connection for the whole run, as a
working pool would: connection set-up is not part of an order's cost.

Two shapes, each repeated (median of the repeats is reported, as the project notes advise):

- sequential: one thread, one connection;
- threads: ``--threads`` threads (4), each with its own connection, one shared publisher.

The events go to a topic of their own (``bench.raw-limit``, 3 partitions like the service's
topics), so that a measurement does not fill ``order.created``.

``--scenario phantom`` measures the floor of ``POST /chaos/phantom-event`` instead: INSERT,
produce-and-wait, ROLLBACK, then a count of the order's rows on a second connection.

``--scenario outbox`` measures the floor of ``POST /orders`` in outbox mode: the order and
its outbox row (the service's SQL, its ``NOTIFY`` included) in one transaction, no Kafka.

``drain_floor`` is the outbox relay's floor: a backlog of outbox rows drained without the
service, in batches of the relay's size: claim the batch (``FOR UPDATE SKIP LOCKED``),
produce every row, wait for all the delivery reports together, delete them in one
statement, commit (``bench/outbox_drain.py`` runs it beside the relay).

Usage: ``python bench/raw_limit.py [--n 2000] [--threads 4] [--repeats 3] [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

if __package__ in (None, ""):
    # `python bench/raw_limit.py` puts bench/ on the path, not the repository root that
    # holds the service's package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg2
from confluent_kafka import Producer

from bench.locations import BOOTSTRAP_SERVERS, DATABASE_URL
from embedded_stack.databases import private_database
from evidence.quantiles import nearest_rank
from service.adapters.kafka import (
    BATCH_LINGER_MS,
    KafkaOrderEventPublisher,
    TopicSpec,
    ensure_topics,
    producer_settings,
)
from service.adapters.migrations import apply_migrations
from service.adapters.postgres import (
    COUNT_ORDER_ROWS,
    PostgresOrderRepository,
    PostgresOutboxRepository,
)
from service.adapters.postgres_connections import GluedBeginConnection, connection_options
from service.domain.events import OrderCreated
from service.domain.model import Order, OrderItem
from service.json_forms import encode_order_created

ORDER = "order"
PHANTOM = "phantom"
OUTBOX = "outbox"
# A topic of its own, with the partitions of the service's topics (MARS_KAFKA_TOPIC_PARTITIONS):
# the tens of thousands of events of a measurement stay out of order.created, whose reading
# Tansu's in-memory storage slows down sharply once a partition holds >12,000 batches.
DEFAULT_TOPIC = "bench.raw-limit"
DEFAULT_PARTITIONS = 3
# The same item as the README's example body, so the event has the same size (~300 bytes).
_PRODUCT = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
_QUANTITY = 2
_UNIT_PRICE = Decimal("149.95")
_WARM_UP_OPS = 200


@dataclass(frozen=True)
class Sample:
    """The timings of one measured shape: latencies in ms and the throughput."""

    ops: int
    seconds: float
    p50_ms: float
    p95_ms: float
    db_p50_ms: float
    kafka_p50_ms: float

    @property
    def per_second(self) -> float:
        """Return the operations per second."""
        return self.ops / self.seconds


@dataclass(frozen=True)
class Shape:
    """The median over the repeats of one shape (sequential, or N threads)."""

    threads: int
    p50_ms: float
    p95_ms: float
    per_second: float
    db_p50_ms: float
    kafka_p50_ms: float
    repeats: list[dict]


@dataclass(frozen=True)
class RawLimit:
    """The raw limit measured in one run."""

    scenario: str
    n: int
    event_bytes: int
    orders_total: int
    sequential: Shape
    threaded: Shape


class _Worker:
    """One thread's connection and the operation it times."""

    def __init__(
        self, database_url: str, publisher: KafkaOrderEventPublisher, scenario: str
    ) -> None:
        self._conn = _connect(database_url)
        self._repository = PostgresOrderRepository(self._conn)
        self._outbox = PostgresOutboxRepository(self._conn) if scenario == OUTBOX else None
        self._publisher = publisher
        self._phantom = scenario == PHANTOM
        # The phantom boundary counts the rows on a second connection (ChaosService).
        self._check_conn = _connect(database_url) if self._phantom else None

    def run(self, order: Order, event: OrderCreated) -> tuple[int, int]:
        """Do one order; return its total time and the time spent publishing, in ns."""
        start = time.perf_counter_ns()
        self._repository.add(order)
        if self._outbox is not None:
            # The outbox's transaction: the relay publishes later, outside the request.
            self._outbox.add(event)
            self._conn.commit()
            return time.perf_counter_ns() - start, 0
        if not self._phantom:
            self._conn.commit()
        published = time.perf_counter_ns()
        self._publisher.publish(event)
        publish_ns = time.perf_counter_ns() - published
        if self._phantom:
            self._conn.rollback()
            with self._check_conn.cursor() as cursor:
                cursor.execute(COUNT_ORDER_ROWS, (str(order.id),))
                cursor.fetchone()
            self._check_conn.commit()
        return time.perf_counter_ns() - start, publish_ns

    def close(self) -> None:
        """Close the connections."""
        self._conn.close()
        if self._check_conn is not None:
            self._check_conn.close()


def _connect(database_url: str) -> GluedBeginConnection:
    # The service's pool's kind of connection: BEGIN travels with a transaction's first
    # statement, so the floor makes the round trips the service makes, no more.
    return psycopg2.connect(
        database_url, connection_factory=GluedBeginConnection, **connection_options()
    )


def new_orders(count: int, customer_id: uuid.UUID) -> list[tuple[Order, OrderCreated]]:
    """Build orders and their events before the clock starts (their ids must be unique)."""
    now = datetime.now(UTC)
    item = OrderItem(_PRODUCT, _QUANTITY, _UNIT_PRICE)
    orders = []
    for _ in range(count):
        order = Order.place(uuid.uuid4(), customer_id, (item,), now)
        orders.append((order, OrderCreated.of(order, uuid.uuid4(), now)))
    return orders


def _sample(timings: list[tuple[int, int]], seconds: float) -> Sample:
    totals = sorted(total / 1e6 for total, _ in timings)
    db = sorted((total - publish) / 1e6 for total, publish in timings)
    kafka = sorted(publish / 1e6 for _, publish in timings)
    return Sample(
        ops=len(timings),
        seconds=seconds,
        p50_ms=nearest_rank(totals, 50),
        p95_ms=nearest_rank(totals, 95),
        db_p50_ms=nearest_rank(db, 50),
        kafka_p50_ms=nearest_rank(kafka, 50),
    )


def _run_threads(workers: list[_Worker], orders: list[tuple[Order, OrderCreated]]) -> Sample:
    """Split ``orders`` over the workers, start them together, time the whole batch."""
    batches = [orders[index :: len(workers)] for index in range(len(workers))]
    timings: list[list[tuple[int, int]]] = [[] for _ in workers]
    start_line = threading.Barrier(len(workers) + 1)

    def work(index: int) -> None:
        start_line.wait()
        record = timings[index].append
        run = workers[index].run
        for order, event in batches[index]:
            record(run(order, event))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    start_line.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    return _sample([t for batch in timings for t in batch], seconds)


def _median_shape(threads: int, samples: list[Sample]) -> Shape:
    def median(pick: Callable[[Sample], float]) -> float:
        return statistics.median(pick(s) for s in samples)

    return Shape(
        threads=threads,
        p50_ms=median(lambda s: s.p50_ms),
        p95_ms=median(lambda s: s.p95_ms),
        per_second=median(lambda s: s.per_second),
        db_p50_ms=median(lambda s: s.db_p50_ms),
        kafka_p50_ms=median(lambda s: s.kafka_p50_ms),
        repeats=[{**asdict(s), "per_second": s.per_second} for s in samples],
    )


def measure(
    database_url: str,
    bootstrap_servers: str,
    *,
    n: int = 2000,
    threads: int = 4,
    repeats: int = 3,
    scenario: str = ORDER,
    topic: str = DEFAULT_TOPIC,
) -> RawLimit:
    """Measure the raw limit: sequential, then ``threads`` threads; median of ``repeats``.

    Args:
        database_url: The PostgreSQL the service uses (its tables must exist); the outbox
            scenario runs in a database of its own beside it (see ``_database_for``).
        bootstrap_servers: The Kafka brokers.
        n: Orders per sequential repeat; the threaded repeats do ``2 * n`` so each of their
            runs lasts long enough to be stable.
        threads: Threads of the threaded shape (own connection each, one publisher).
        repeats: Repeats of each shape.
        scenario: ``order`` (commit) or ``phantom`` (rollback, then a count on another
            connection).
        topic: Where the events go; created with 3 partitions if missing.

    Returns:
        The medians, with every repeat kept for the record.
    """
    # Rows of the run are recognisable afterwards by their customer.
    customer_id = uuid.uuid4()
    with (
        _database_for(scenario, database_url) as url,
        _open_workers(url, bootstrap_servers, threads, scenario, topic) as workers,
    ):
        warm_up = new_orders(_WARM_UP_OPS, customer_id)
        _run_threads(workers[:1], warm_up)
        _run_threads(workers, new_orders(_WARM_UP_OPS, customer_id))
        sequential, threaded = _repeat_both_shapes(workers, n, repeats, customer_id)
    return RawLimit(
        scenario=scenario,
        n=n,
        event_bytes=len(encode_order_created(warm_up[0][1])),
        # Warm-ups included: what the run's CPU figures divide by.
        orders_total=2 * _WARM_UP_OPS + repeats * 3 * n,
        sequential=_median_shape(1, sequential),
        threaded=_median_shape(threads, threaded),
    )


@contextmanager
def _database_for(scenario: str, database_url: str) -> Iterator[str]:
    """Yield where ``scenario`` runs: the outbox's floor in a database of its own.

    A service in outbox mode on ``database_url`` (the benchmark's, in the same run) would
    otherwise be woken by the floor's commits and publish its rows meanwhile.
    """
    if scenario != OUTBOX:
        yield database_url
        return
    with private_database(database_url, prefix="bench_outbox_floor") as url:
        with closing(psycopg2.connect(url)) as connection:
            apply_migrations(connection)
        yield url


@contextmanager
def _open_workers(
    database_url: str, bootstrap_servers: str, threads: int, scenario: str, topic: str
) -> Iterator[list[_Worker]]:
    """Yield ``threads`` workers sharing one publisher to ``topic``; close them after."""
    ensure_topics(bootstrap_servers, [TopicSpec(topic, DEFAULT_PARTITIONS)])
    publisher = KafkaOrderEventPublisher(
        bootstrap_servers, timeout_ms=5000, linger_ms=0, topic=topic
    )
    workers = [_Worker(database_url, publisher, scenario) for _ in range(threads)]
    try:
        yield workers
    finally:
        for worker in workers:
            worker.close()
        publisher.close()


def _repeat_both_shapes(
    workers: list[_Worker], n: int, repeats: int, customer_id: uuid.UUID
) -> tuple[list[Sample], list[Sample]]:
    sequential, threaded = [], []
    for _ in range(repeats):
        sequential.append(_run_threads(workers[:1], new_orders(n, customer_id)))
        threaded.append(_run_threads(workers, new_orders(2 * n, customer_id)))
    return sequential, threaded


@dataclass(frozen=True)
class DrainSample:
    """How fast a backlog of outbox rows was drained."""

    rows: int
    seconds: float
    batch_size: int

    @property
    def per_second(self) -> float:
        """Return rows drained per second."""
        return self.rows / self.seconds


_FILL_OUTBOX = """
INSERT INTO outbox (event_id, topic, message_key, payload, created_at)
SELECT gen_random_uuid(), %s, gen_random_uuid()::text, %s::json, now()
FROM generate_series(1, %s)
"""
# After the last id claimed, as the relay does while it drains a backlog.
_CLAIM_BATCH = """
SELECT id, message_key, payload::text FROM outbox WHERE id > %s ORDER BY id LIMIT %s
FOR UPDATE SKIP LOCKED
"""
_DELETE_BATCH = "DELETE FROM outbox WHERE id = ANY(%s)"


def fill_outbox(database_url: str, rows: int, topic: str) -> None:
    """Write ``rows`` pending outbox rows of an order.created-sized payload, one statement."""
    [(_, event)] = new_orders(1, uuid.uuid4())
    payload = encode_order_created(event).decode()
    with closing(psycopg2.connect(database_url)) as conn, conn.cursor() as cursor:
        cursor.execute(_FILL_OUTBOX, (topic, payload, rows))
        conn.commit()


def drain_floor(
    database_url: str, bootstrap_servers: str, *, topic: str, batch_size: int = 100
) -> DrainSample:
    """Drain every pending outbox row as the relay would, without the service; time it.

    The producer is set up as the relay's is (its batch linger), so the floor sends each
    batch as one request per partition too.
    """
    producer = Producer(producer_settings(bootstrap_servers, 5000, BATCH_LINGER_MS))
    drained, last_id = 0, 0
    started = time.monotonic()
    with closing(_connect(database_url)) as conn:
        while True:
            with conn.cursor() as cursor:
                cursor.execute(_CLAIM_BATCH, (last_id, batch_size))
                batch = cursor.fetchall()
                if not batch:
                    conn.commit()
                    break
                errors: list[object] = []
                for _, key, payload in batch:
                    producer.produce(
                        topic, payload.encode(), key.encode(), on_delivery=_keep_error(errors)
                    )
                producer.flush(30)
                if errors:
                    raise RuntimeError(f"the broker refused {len(errors)} message(s): {errors[0]}")
                cursor.execute(_DELETE_BATCH, ([row[0] for row in batch],))
            conn.commit()
            drained += len(batch)
            last_id = batch[-1][0]
    return DrainSample(drained, time.monotonic() - started, batch_size)


def _keep_error(errors: list[object]) -> Callable[[object, object], None]:
    def report(error: object, _message: object) -> None:
        if error is not None:
            errors.append(error)

    return report


def describe(raw: RawLimit) -> str:
    """Return the result as a few lines for people."""
    lines = [f"raw limit ({raw.scenario}), event {raw.event_bytes} bytes, median of repeats:"]
    for shape in (raw.sequential, raw.threaded):
        lines.append(
            f"  {shape.threads} thread(s): p50 {shape.p50_ms:.3f} ms, p95 {shape.p95_ms:.3f} ms, "
            f"{shape.per_second:,.0f}/s (database p50 {shape.db_p50_ms:.3f} ms, "
            f"Kafka p50 {shape.kafka_p50_ms:.3f} ms)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse the options, measure, print (and write JSON if asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("MARS_DATABASE_URL", DATABASE_URL))
    parser.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("MARS_KAFKA_BOOTSTRAP_SERVERS", BOOTSTRAP_SERVERS),
    )
    parser.add_argument("--n", type=int, default=2000, help="orders per sequential repeat")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scenario", choices=[ORDER, PHANTOM, OUTBOX], default=ORDER)
    parser.add_argument("--topic", default=DEFAULT_TOPIC, help="created if missing")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    raw = measure(
        args.database_url,
        args.bootstrap_servers,
        n=args.n,
        threads=args.threads,
        repeats=args.repeats,
        scenario=args.scenario,
        topic=args.topic,
    )
    print(describe(raw))
    if args.json:
        args.json.write_text(json.dumps(asdict(raw), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
