"""Crash safety: ``python -m service`` killed with SIGKILL while events are pending.

The service runs as a real process (outbox and chaos profiles) on a database of its own,
with a dedicated broker behind a proxy that the test cuts and restores.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from embedded_stack import BrokerProcess, TcpProxy
from embedded_stack.databases import private_database
from evidence.topic_reader import TopicReader
from tests.integration.helpers import order_body, wait_for
from tests.integration.outbox_support import events_by_order, metric, scalar
from tests.integration.ports import free_port
from tests.integration.service_process import launch

ROOT = Path(__file__).resolve().parents[2]
# Bounds, each far above what was measured here (start ~1 s; ~6 s with the broker
# unreachable, as the start's topic check waits 5 s; delivery 0.5-0.9 s after the restore).
START_TIMEOUT = 30
DELIVERY_BOUND = 20

logger = logging.getLogger(__name__)


@dataclass
class Stage:
    """The dedicated broker, its proxy, the private database and the service's settings."""

    broker: BrokerProcess
    proxy: TcpProxy
    database_url: str
    env: dict[str, str]
    url: str
    logs: Path

    def launch(self, name: str) -> subprocess.Popen:
        """Start ``python -m service``, its output in a file (a pipe could fill and block it)."""
        return launch(self.env, self.logs / f"{name}.log")

    def wait_answering(self, process: subprocess.Popen, name: str) -> None:
        """Wait until the service answers HTTP (health may be 503 while the broker is away)."""

        def answers() -> bool:
            if process.poll() is not None:
                return True
            try:
                return requests.get(f"{self.url}/actuator/health", timeout=3).status_code > 0
            except requests.RequestException:
                # Not listening yet, or slow to answer while it starts: ask again.
                return False

        wait_for(answers, START_TIMEOUT, f"the {name} service's start", 0.2)
        assert process.poll() is None, (self.logs / f"{name}.log").read_text()

    def post(self, path: str) -> dict:
        response = requests.post(f"{self.url}{path}", json=order_body(), timeout=10)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def metrics(self) -> str:
        return requests.get(f"{self.url}/metrics", timeout=5).text


@pytest.fixture
def stage(stack, tmp_path) -> Iterator[Stage]:
    broker_port, proxy_port, http_port = free_port(), free_port(), free_port()
    bootstrap = f"127.0.0.1:{proxy_port}"
    with (
        private_database(stack.database_url) as database_url,
        BrokerProcess(broker_port, advertised=bootstrap) as broker,
        TcpProxy(proxy_port, "127.0.0.1", broker_port) as proxy,
    ):
        env = {
            "MARS_DATABASE_URL": database_url,
            "MARS_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "MARS_PROFILES_ACTIVE": "outbox,chaos",
            "MARS_HTTP_PORT": str(http_port),
            "MARS_KAFKA_PUBLISH_TIMEOUT_MS": "2000",
            "MARS_OUTBOX_POLL_INTERVAL_MS": "50",
            "MARS_OUTBOX_BACKOFF_MAX_MS": "1000",
        }
        yield Stage(broker, proxy, database_url, env, f"http://127.0.0.1:{http_port}", tmp_path)


def end(process: subprocess.Popen, sig: signal.Signals) -> int:
    """Send ``sig`` to the process by its PID and wait for it; SIGKILL if it lingers."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.returncode


def test_sigkill_with_pending_rows_loses_no_committed_event(stage):
    """Every committed order's event is delivered after a crash: at least once.

    The guarantee: an order whose ``POST /orders`` answered 201 is committed with its
    event, so its ``order.created`` event reaches the topic at least once, even when the
    service is SIGKILLed while the event is still pending and the broker is unreachable,
    as soon as a restarted service reaches the broker. It may arrive more than once (a
    publish whose report was lost is sent again); every copy carries the same eventId,
    which is how consumers recognise a duplicate. An order that never committed (a
    rolled-back phantom attempt) has no event at all.
    """
    reader = TopicReader(stage.proxy.listen_address, "order.created")
    first = stage.launch("first")
    try:
        stage.wait_answering(first, "first")
        positions = reader.end_positions()
        committed = [stage.post("/orders")["orderId"] for _ in range(3)]
        rolled_back = [stage.post("/chaos/phantom-event")["orderId"]]
        stage.proxy.cut()
        committed += [stage.post("/orders")["orderId"] for _ in range(10)]
        rolled_back.append(stage.post("/chaos/phantom-event")["orderId"])
        # The relay has rows pending and has failed to publish them at least once.
        wait_for(
            lambda: (
                metric(text := stage.metrics(), "outbox_publish_failures_total")
                and metric(text, "outbox_backlog") >= 10
            ),
            15,
            "pending rows and a failed publish",
        )
    finally:
        assert end(first, signal.SIGKILL) == -signal.SIGKILL

    pending_after_the_crash = scalar(stage.database_url, "SELECT count(*) FROM outbox")
    assert pending_after_the_crash >= 10
    second = stage.launch("second")
    try:
        # It starts while the broker is still unreachable, and takes orders meanwhile.
        stage.wait_answering(second, "second")
        assert "Outbox mode starts anyway" in (stage.logs / "second.log").read_text()
        committed += [stage.post("/orders")["orderId"] for _ in range(3)]
        stage.proxy.restore()
        restored = time.monotonic()
        events = wait_for(
            lambda: (
                all((found := events_by_order(reader, positions))[o] for o in committed) and found
            ),
            DELIVERY_BOUND,
            "every committed order's event",
            0.2,
        )
        logger.info(
            "%d pending rows survived the SIGKILL; every event on the topic %.2f s after the "
            "broker came back",
            pending_after_the_crash,
            time.monotonic() - restored,
        )
        wait_for(lambda: metric(stage.metrics(), "outbox_backlog") == 0, 10, "an empty backlog")
        events = events_by_order(reader, positions)
    finally:
        exit_status = end(second, signal.SIGTERM)

    in_db = scalar(stage.database_url, "SELECT count(*) FROM orders")
    assert in_db == len(committed), "the database holds other orders than the 201s"
    for order_id in committed:
        copies = events[order_id]
        assert copies, f"no event for the committed orderId={order_id}"
        assert len({c.value["eventId"] for c in copies}) == 1, f"different events: {copies}"
        assert {c.value["orderId"] for c in copies} == {order_id}
    assert set(events) == set(committed), "an event for an order that is not committed"
    assert not set(rolled_back) & set(events)
    assert exit_status == 0


def test_sigkill_in_dual_write_leaves_a_committed_order_whose_event_is_lost(stage):
    """The same crash without the outbox: the order in flight is committed, its event never.

    The broker is unreachable while a request waits for its delivery report, after its
    commit; the kill ends the only process that could still publish it. Read after the
    proxy is restored, the topic holds the event of the order before, and none of this one.
    """
    stage.env["MARS_PROFILES_ACTIVE"] = "chaos"
    reader = TopicReader(stage.proxy.listen_address, "order.created")
    process = stage.launch("dual-write")
    customer = str(uuid.uuid4())
    try:
        stage.wait_answering(process, "dual-write")
        positions = reader.end_positions()
        delivered = stage.post("/orders")["orderId"]
        stage.proxy.cut()
        in_flight = threading.Thread(target=post_ignoring_the_crash, args=(stage.url, customer))
        in_flight.start()
        # Committed: the request now waits for a delivery report that cannot come.
        wait_for(
            lambda: scalar(
                stage.database_url, "SELECT count(*) FROM orders WHERE customer_id = %s", customer
            ),
            10,
            "the commit of the order in flight",
        )
    finally:
        assert end(process, signal.SIGKILL) == -signal.SIGKILL
    in_flight.join(timeout=15)
    stage.proxy.restore()

    lost = scalar(
        stage.database_url, "SELECT id::text FROM orders WHERE customer_id = %s", customer
    )
    events = events_by_order(reader, positions)
    assert len(events[delivered]) == 1
    assert events[lost] == [], "the killed request's event reached the topic after all"


def post_ignoring_the_crash(url: str, customer: str) -> None:
    body = {**order_body(), "customerId": customer}
    with contextlib.suppress(requests.RequestException):
        requests.post(f"{url}/orders", json=body, timeout=15)
