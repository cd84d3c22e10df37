"""Prove the phantom event end to end, the seed's steps in one command.

Reuses PostgreSQL and Kafka if they answer (``MARS_*`` addresses), else starts the embedded
stack; starts the service with the chaos profile; records the baseline; triggers the
phantom event; checks the database by query and the topic by reading it; prints the proof;
stops everything it started. Exit status 0 only when the phantom event is confirmed.

Usage: ``python phantom_demo.py [ITERATIONS]``
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import closing

import psycopg2

from embedded_stack import EmbeddedStack, StackError, StackSettings
from evidence.topic_reader import TopicReader

BODY = {
    "customerId": "550e8400-e29b-41d4-a716-446655440000",
    "items": [
        {"productId": "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "quantity": 2, "unitPrice": 149.95}
    ],
}


def call(url: str, body: dict | None = None) -> tuple[int, dict]:
    """Send a JSON request; return the status and the JSON answer."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as ex:
        return ex.code, json.loads(ex.read() or b"{}")


def wait_until_up(base: str, service: subprocess.Popen, timeout: float = 30) -> None:
    """Poll the health endpoint until UP, the process dies, or the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise RuntimeError(f"the service exited with status {service.returncode}")
        try:
            if call(f"{base}/actuator/health")[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the service was not UP within {timeout:g} s")


def count_orders(database_url: str, order_id: str | None = None) -> int:
    """Count all orders, or the rows of one order."""
    with closing(psycopg2.connect(database_url)) as conn, conn.cursor() as cursor:
        if order_id is None:
            cursor.execute("SELECT count(*) FROM orders")
        else:
            cursor.execute("SELECT count(*) FROM orders WHERE id = %s", (order_id,))
        return cursor.fetchone()[0]


def prove(settings: StackSettings, base: str, iterations: int) -> bool:
    """Run the scenario against a running service; print the proof; return the verdict."""
    reader = TopicReader(settings.kafka_bootstrap_servers, "order.created")
    db_before = count_orders(settings.database_url)
    positions = reader.end_positions()
    kafka_before = sum(positions.values())
    reports = []
    for _ in range(iterations):
        status, report = call(f"{base}/chaos/phantom-event", BODY)
        print(f"POST /chaos/phantom-event -> {status} {json.dumps(report)}")
        reports.append(report)
    ids = [r["orderId"] for r in reports]
    rows = {order_id: count_orders(settings.database_url, order_id) for order_id in ids}
    db_after = count_orders(settings.database_url)
    new_events = reader.read_since(positions)
    on_topic = {r.key for r in new_events}
    kafka_after = kafka_before + len(new_events)
    confirmed = (
        all(n == 0 for n in rows.values())
        and all(order_id in on_topic for order_id in ids)
        and db_after == db_before
        and kafka_after - kafka_before >= iterations
    )
    print("\n==========================================")
    print("  DUAL WRITE FAILURE: PHANTOM EVENT PROOF")
    print("==========================================")
    print(f"DB orders before:     {db_before}")
    print(f"DB orders after:      {db_after}")
    print(f"DB delta:             {db_after - db_before} (expected: 0)")
    print(f"Kafka events before:  {kafka_before}")
    print(f"Kafka events after:   {kafka_after}")
    print(f"Kafka delta:          {kafka_after - kafka_before} (expected: {iterations})")
    for order_id in ids:
        found = "YES" if order_id in on_topic else "NO"
        print(f"Phantom order {order_id}: rows in DB {rows[order_id]}, in Kafka {found}")
    print("RESULT: " + ("PHANTOM EVENT CONFIRMED" if confirmed else "UNEXPECTED — see above"))
    return confirmed


def main() -> int:
    """Set up, prove, tear down."""
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    settings = StackSettings.from_env(os.environ)
    stack = EmbeddedStack(settings)
    try:
        print(stack.up().summary())
    except StackError as ex:
        print(f"cannot get PostgreSQL and Kafka: {ex}", file=sys.stderr)
        return 2
    port = os.environ.get("MARS_HTTP_PORT", "8082")
    env = {
        **os.environ,
        "MARS_DATABASE_URL": settings.database_url,
        "MARS_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "MARS_PROFILES_ACTIVE": "chaos",
        "MARS_HTTP_PORT": port,
    }
    service = subprocess.Popen([sys.executable, "-m", "service"], env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base, service)
        return 0 if prove(settings, base, iterations) else 1
    finally:
        service.send_signal(signal.SIGTERM)
        try:
            service.wait(timeout=15)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
        stack.down()


if __name__ == "__main__":
    sys.exit(main())
