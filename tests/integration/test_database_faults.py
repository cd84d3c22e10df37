"""The service under database faults: a PostgreSQL of the tests' own, restarted and frozen.

The service runs as a real process (waitress, its threads and its pool), in both modes,
against that server and the session's broker. Every claim is read where it lives: rows by
a query on the restarted server, events on the topic.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import psutil
import psycopg2
import pytest
import requests
from confluent_kafka import Producer

from embedded_stack.dedicated_postgres import DedicatedPostgres
from evidence.topic_reader import TopicReader
from tests.integration.helpers import concurrently, order_body, wait_for
from tests.integration.service_process import ServiceProcess, running_service

STATEMENT_TIMEOUT_MS = 5000
# A request stuck on a frozen server ends after the client's own bound (the statement
# timeout plus one second); the rest is slack for 2 shared cores.
STUCK_REQUEST_BOUND = STATEMENT_TIMEOUT_MS / 1000 + 1 + 2.0
IN_FLIGHT = 8


@pytest.fixture(params=["dual-write", "outbox"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def service(
    stack, dedicated_postgres: DedicatedPostgres, mode: str, tmp_path
) -> Iterator[ServiceProcess]:
    env = {
        "MARS_DATABASE_URL": dedicated_postgres.url,
        "MARS_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
        "MARS_PROFILES_ACTIVE": "outbox" if mode == "outbox" else "",
        "MARS_HTTP_THREADS": str(IN_FLIGHT),
        "MARS_DB_STATEMENT_TIMEOUT_MS": str(STATEMENT_TIMEOUT_MS),
        "MARS_KAFKA_CONSUMER_GROUP": f"order-service-db-faults-{uuid.uuid4()}",
    }
    try:
        with running_service(env, tmp_path / "service.log") as running:
            yield running
    finally:
        dedicated_postgres.resume()


@dataclass
class Answer:
    status: int | None
    body: dict
    sent_at: float
    seconds: float


def post_order(url: str, timeout: float = 30) -> Answer:
    started = time.monotonic()
    try:
        response = requests.post(f"{url}/orders", json=order_body(), timeout=timeout)
    except requests.RequestException as ex:
        return Answer(None, {"error": str(ex)}, started, time.monotonic() - started)
    return Answer(response.status_code, response.json(), started, time.monotonic() - started)


@dataclass
class Traffic:
    """Orders placed one after another from a thread of its own, every answer kept."""

    url: str
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Traffic:
        self._thread = threading.Thread(target=self._run)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.answers.append(post_order(self.url, timeout=15))
            self._stop.wait(0.02)


def rows_of(database_url: str, order_ids: list[str]) -> dict[str, str]:
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT id::text, status FROM orders WHERE id = ANY(%s::uuid[])", (order_ids,)
            )
            return dict(cursor.fetchall())
    finally:
        conn.close()


def events_for(bootstrap: str, order_ids: list[str], since: dict) -> set[str]:
    wanted = set(order_ids)
    return {r.key for r in TopicReader(bootstrap, "order.created").read_since(since)} & wanted


def send_cancellation(bootstrap: str, order_id: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    event = {
        "eventId": str(uuid.uuid4()),
        "orderId": order_id,
        "reason": "changed my mind",
        "occurredAt": "2026-12-01T12:00:00Z",
    }
    producer.produce("order.cancelled", key=order_id, value=json.dumps(event).encode())
    assert producer.flush(10) == 0, "the cancellation was not delivered"


def test_no_request_fails_once_a_restarted_database_answers(
    service, dedicated_postgres, stack, mode
):
    since = TopicReader(stack.kafka_bootstrap_servers, "order.created").end_positions()
    with Traffic(service.url) as traffic:
        wait_for(lambda: len(traffic.answers) >= 5, 10, "traffic before the restart")
        downtime = dedicated_postgres.restart()
        ready_at = time.monotonic()
        # A burst first, so that every pooled connection is asked for at once.
        after = concurrently(lambda: post_order(service.url), IN_FLIGHT)
        after += [post_order(service.url) for _ in range(12)]
    during = [a for a in traffic.answers if a.sent_at < ready_at]
    later = [a for a in traffic.answers if a.sent_at >= ready_at] + after
    print(
        f"\n{mode}: PostgreSQL down {downtime:.2f} s; {len(during)} requests before it was "
        f"ready ({sum(a.status != 201 for a in during)} not 201); {len(later)} after "
        f"({sum(a.status != 201 for a in later)} not 201)"
    )

    assert [a.status for a in later] == [201] * len(later), [a.body for a in later]
    created = [a.body["orderId"] for a in later]
    assert set(rows_of(dedicated_postgres.url, created)) == set(created)
    # Dual write publishes in the request; the outbox relay, recovered on its own, later.
    wait_for(
        lambda: events_for(stack.kafka_bootstrap_servers, created, since) == set(created),
        20,
        "an event for every order placed after the restart",
        0.5,
    )


def test_a_cancellation_sent_after_a_database_restart_is_applied(
    service, dedicated_postgres, stack
):
    dedicated_postgres.restart()
    order_id = post_order(service.url).body["orderId"]
    started = time.monotonic()
    send_cancellation(stack.kafka_bootstrap_servers, order_id)

    wait_for(
        lambda: rows_of(dedicated_postgres.url, [order_id]) == {order_id: "CANCELLED"},
        30,
        "the cancellation applied",
        0.2,
    )
    print(f"\ncancelled {time.monotonic() - started:.2f} s after it was sent")


def established_http_connections(service: ServiceProcess) -> int:
    port = int(service.url.rsplit(":", 1)[1])
    connections = psutil.Process(service.process.pid).net_connections(kind="tcp")
    return sum(
        1 for c in connections if c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


def test_a_frozen_database_leaves_health_answering_and_ends_stuck_requests_with_503(
    service, dedicated_postgres, mode
):
    answers: list[Answer] = []
    with dedicated_postgres.frozen():
        threads = [
            threading.Thread(target=lambda: answers.append(post_order(service.url)))
            for _ in range(IN_FLIGHT)
        ]
        for thread in threads:
            thread.start()
        # Every request thread of the service now waits on the frozen server.
        wait_for(
            lambda: established_http_connections(service) >= IN_FLIGHT,
            5,
            f"{IN_FLIGHT} requests in flight",
            0.05,
        )
        started = time.monotonic()
        health = requests.get(f"{service.url}/actuator/health", timeout=10)
        health_seconds = time.monotonic() - started
        for thread in threads:
            thread.join(timeout=30)
    print(
        f"\n{mode}: health answered {health.status_code} in {health_seconds:.2f} s; stuck "
        f"requests ended after {max(a.seconds for a in answers):.2f} s at most"
    )

    assert health.status_code == 503
    assert health.json()["components"]["db"]["status"] == "DOWN"
    assert health_seconds < 2.0
    assert [a.status for a in answers] == [503] * IN_FLIGHT, [a.body for a in answers]
    assert all(a.body.get("title") for a in answers), [a.body for a in answers]
    assert max(a.seconds for a in answers) < STUCK_REQUEST_BOUND
    # Once the server runs again, the next orders go through.
    wait_for(lambda: post_order(service.url).status == 201, 15, "an order after the freeze")
