"""Does a long topic history cost the suite? The phantom-event suite, empty topic vs 100,000 events.

    python bench/history.py [--engines kafka,tansu] [--events 100000]

For each engine the benchmark starts its own embedded stack (free loopback ports, a
temporary state folder), runs the phantom-event suite once on an empty ``order.created``,
fills the topic with ``--events`` earlier events (3 partitions, one record per batch, as
the service writes them), and runs the suite again. It prints the second run's wall time
as a ratio of the first, both measured in this run:

- Apache Kafka: PASS when the ratio is at most ``HISTORY_TARGET`` (1.2x), else SHORT;
- Tansu: the suite is expected to fail, and it must fail naming the broker's limit (the
  topic reader's message), not with a bare timeout: EXPECTED when it does, else SHORT.

Exit status 0 when every engine met its target. Everything it starts is stopped.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import Producer
from robot.api import ExecutionResult, ResultVisitor
from robot.result import TestCase

from bench.locations import HOST, REPO_ROOT, stack_of_its_own
from embedded_stack import EmbeddedStack, StackSettings
from embedded_stack.net import free_port
from evidence.topic_reader import TANSU_LIMIT_HINT
from service.domain.events import ORDER_CREATED_TOPIC

HISTORY_TARGET = 1.2
SUITE_TIMEOUT = 900


@dataclass(frozen=True)
class SuiteRun:
    """One run of the phantom-event suite: its wall time, result and failure messages."""

    seconds: float
    passed: int
    failed: int
    messages: tuple[str, ...]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status."""
    parser = argparse.ArgumentParser(prog="python bench/history.py", description=__doc__)
    parser.add_argument(
        "--engines", default="kafka,tansu", help="comma list (default: %(default)s)"
    )
    parser.add_argument("--events", type=int, default=100_000, help="earlier events to write")
    options = parser.parse_args(argv)
    verdicts = [
        measure(engine.strip(), options.events) for engine in options.engines.split(",") if engine
    ]
    return 0 if all(verdicts) else 1


def measure(engine: str, events: int) -> bool:
    """Run the suite on an empty topic and after ``events`` earlier ones; print the verdict."""
    with tempfile.TemporaryDirectory(prefix=f"history-{engine}-") as scratch:
        folder = Path(scratch)
        settings = stack_of_its_own(folder / "stack", engine)
        with EmbeddedStack(settings):
            empty = run_suite(settings, folder / "empty")
            started = time.monotonic()
            fill_topic(settings.kafka_bootstrap_servers, events)
            filled_after = time.monotonic() - started
            full = run_suite(settings, folder / "history")
    return report(engine, events, empty, full, filled_after)


def run_suite(settings: StackSettings, output_dir: Path) -> SuiteRun:
    """Run the phantom-event suite (dual write) against the stack; time it, read its result."""
    command = [
        sys.executable, "-m", "robot", "--outputdir", str(output_dir), "--log", "NONE",
        "--report", "NONE", "--include", "phantom-event", "--exclude", "outbox",
        "-v", f"DATABASE_URL:{settings.database_url}",
        "-v", f"KAFKA_BOOTSTRAP_SERVERS:{settings.kafka_bootstrap_servers}",
        "-v", f"SERVICE_URL:http://{HOST}:{free_port(HOST)}",
        "-v", f"STACK_DIR:{settings.state_dir}",
        str(REPO_ROOT / "acceptance"),
    ]  # fmt: skip
    started = time.monotonic()
    subprocess.run(command, cwd=REPO_ROOT, capture_output=True, timeout=SUITE_TIMEOUT, check=False)
    seconds = time.monotonic() - started
    result = ExecutionResult(str(output_dir / "output.xml"))
    stats = result.statistics.total
    failures = []
    result.suite.visit(_FailureCollector(failures))
    return SuiteRun(seconds, stats.passed, stats.failed, tuple(failures))


def fill_topic(bootstrap_servers: str, events: int) -> None:
    """Write ``events`` order.created-shaped events, one record per batch, as the service does."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap_servers,
            "acks": "all",
            "linger.ms": 0,
            # One record per batch: the service publishes each order on its own.
            "batch.num.messages": 1,
            "enable.idempotence": False,
            "queue.buffering.max.messages": 100_000,
        }
    )
    payload = b'{"eventId":"history","orderId":"history","items":[]}'
    for number in range(events):
        while True:
            try:
                producer.produce(ORDER_CREATED_TOPIC, payload, key=f"history-{number}".encode())
                break
            except BufferError:
                producer.poll(0.1)
        if number % 1000 == 0:
            producer.poll(0)
    left = producer.flush(600)
    if left:
        raise RuntimeError(f"{left} history events were not delivered")


def report(engine: str, events: int, empty: SuiteRun, full: SuiteRun, filled: float) -> bool:
    """Print the figures and the verdict of one engine; return whether it met its target."""
    ratio = full.seconds / empty.seconds
    print(f"\n{engine}: {events:,} earlier events written in {filled:.1f} s")
    for label, run in (("empty topic", empty), (f"after {events:,} events", full)):
        print(f"  {label}: {run.seconds:.1f} s, {run.passed} passed, {run.failed} failed")
    if engine == "tansu":
        named = full.failed > 0 and any(TANSU_LIMIT_HINT in m for m in full.messages)
        first = full.messages[0] if full.messages else "no failure"
        verdict = "EXPECTED" if named else "SHORT"
        print(f"  {ratio:.2f}x; fails naming the broker's limit: {verdict} ({first[:300]})")
        return named
    passed = empty.failed == 0 and full.failed == 0 and ratio <= HISTORY_TARGET
    print(f"  {ratio:.2f}x (target <= {HISTORY_TARGET}x): {'PASS' if passed else 'SHORT'}")
    return passed


class _FailureCollector(ResultVisitor):
    """Keep each failed test's name and message."""

    def __init__(self, messages: list[str]) -> None:
        self._messages = messages

    def visit_test(self, test: TestCase) -> None:
        """Keep the test's message if it failed."""
        if test.status == "FAIL":
            self._messages.append(f"{test.name}: {test.message}")


if __name__ == "__main__":
    sys.exit(main())
