"""The acceptance suite keeps its verdict on shared infrastructure, run after run.

Another client writes orders and events while the suite runs, and the topic already holds
events for orders that never existed, on every partition. The verdict must still be
right, and the report must explain the difference in the global counts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import pytest
from confluent_kafka import Producer
from robot.api import ExecutionResult

from tests.integration.helpers import CUSTOMER
from tests.integration.ports import free_port

ROOT = Path(__file__).parents[2]
# phantom_event.robot: one test per step of the seed.
SEED_STEPS = 10
VERDICT = "PHANTOM EVENT CONFIRMED"


def robot(stack, output_dir: Path, *variables: str) -> subprocess.CompletedProcess:
    """Run the acceptance suite against the session's stack and a service on a free port."""
    command = [
        sys.executable,
        "-m",
        "robot",
        "--outputdir",
        str(output_dir),
        "--console",
        "dotted",
        "-v",
        f"DATABASE_URL:{stack.database_url}",
        "-v",
        f"KAFKA_BOOTSTRAP_SERVERS:{stack.kafka_bootstrap_servers}",
        # The session's stack folder: the suite finds the stack there and leaves it running.
        "-v",
        f"STACK_DIR:{stack.state_dir}",
        "-v",
        f"SERVICE_URL:http://127.0.0.1:{free_port()}",
        *(arg for variable in variables for arg in ("-v", variable)),
        str(ROOT / "acceptance" / "phantom_event.robot"),
    ]
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def assert_every_seed_step_passed(output_dir: Path, run: subprocess.CompletedProcess) -> str:
    """Check what the run produced: every test passed, and the report holds the verdict.

    Returns the Markdown report, for further checks.
    """
    assert run.returncode == 0, run.stdout[-3000:]
    result = ExecutionResult(str(output_dir / "output.xml"))
    tests = result.suite.all_tests
    not_passed = [f"{test.name}: {test.status} {test.message}" for test in tests if not test.passed]
    totals = result.statistics.total
    assert (totals.passed, totals.failed, totals.skipped) == (SEED_STEPS, 0, 0), not_passed
    for page in ("report.html", "log.html"):
        assert (output_dir / page).stat().st_size > 0, f"{page} is missing or empty"
    report = (output_dir / "phantom-event-report.md").read_text(encoding="utf-8")
    assert VERDICT in report
    return report


class OtherClient:
    """Writes orders to the same table and events to the same topic, until stopped."""

    def __init__(self, stack) -> None:
        self._conn = psycopg2.connect(stack.database_url)
        self._conn.autocommit = True
        self._producer = Producer({"bootstrap.servers": stack.kafka_bootstrap_servers})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self.orders = 0

    def seed_history(self, partitions: int = 3, per_partition: int = 10) -> None:
        """Events for orders that never existed, spread over every partition."""
        for partition in range(partitions):
            for _ in range(per_partition):
                order_id = str(uuid.uuid4())
                self._producer.produce(
                    "order.created",
                    key=order_id,
                    value=json.dumps({"orderId": order_id}),
                    partition=partition,
                )
        assert self._producer.flush(10) == 0

    def __enter__(self) -> OtherClient:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._producer.flush(10)
        self._conn.close()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            order_id = str(uuid.uuid4())
            with self._conn.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO orders (id, customer_id, status, total, created_at, updated_at)"
                    " VALUES (%s, %s, 'CREATED', 1, %s, %s)",
                    (order_id, CUSTOMER, datetime.now(UTC), datetime.now(UTC)),
                )
            self._producer.produce(
                "order.created", key=order_id, value=json.dumps({"orderId": order_id})
            )
            self._producer.poll(0)
            self.orders += 1


@pytest.mark.usefixtures("runtime")  # the service's migrations and topics exist
def test_suite_passes_while_another_client_writes_and_explains_the_counts(stack, tmp_path):
    with OtherClient(stack) as other:
        other.seed_history()
        run = robot(stack, tmp_path, "ITERATIONS:3")

    assert other.orders > 0
    report = assert_every_seed_step_passed(tmp_path, run)
    assert f"{VERDICT} — Dual Write failure demonstrated successfully" in report
    assert "from other clients" in report or "from other producers" in report
    assert "| Kafka: phantom event found | present | present (3/3) | PASS |" in report


@pytest.mark.usefixtures("runtime")
def test_suite_passes_three_times_in_a_row_on_the_same_stack(stack, tmp_path):
    for attempt in range(1, 4):
        output_dir = tmp_path / f"run-{attempt}"
        assert_every_seed_step_passed(output_dir, robot(stack, output_dir))
