"""Many phantom events at once: sent concurrently, every answer recorded, one query for all."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from tests.unit.robot_libraries import load_library

ChaosReport = load_library("ChaosReport")
CUSTOMER = "550e8400-e29b-41d4-a716-446655440000"
PRODUCT = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"


class _ChaosEndpoint(BaseHTTPRequestHandler):
    """Answers POST /chaos/phantom-event as the service does, remembering each body."""

    # Set per test by the fixture, on a subclass of its own.
    bodies: ClassVar[list[dict]]
    without_order_id: ClassVar[set[int]]
    url: ClassVar[str]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.bodies.append(body)
        quantity = body["items"][0]["quantity"]
        answer = {"existsInDb": False, "eventSentToKafka": True, "dbRolledBack": True}
        if quantity not in self.without_order_id:
            answer["orderId"] = str(uuid.UUID(int=quantity))
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def service() -> Iterator[type[_ChaosEndpoint]]:
    handler = type("Endpoint", (_ChaosEndpoint,), {"bodies": [], "without_order_id": set()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


def test_every_call_is_sent_with_the_seeds_body_and_recorded_in_iteration_order(service):
    report = ChaosReport()

    order_ids = report.trigger_phantom_events_concurrently(service.url, 25, CUSTOMER, PRODUCT)

    assert order_ids == [str(uuid.UUID(int=quantity)) for quantity in range(1, 26)]
    quantities = sorted(body["items"][0]["quantity"] for body in service.bodies)
    assert quantities == list(range(1, 26))
    assert {body["items"][0]["unitPrice"] for body in service.bodies} == {10.0}
    assert {body["customerId"] for body in service.bodies} == {CUSTOMER}


def test_an_answer_without_an_order_id_fails_after_every_answer_is_recorded(service):
    service.without_order_id.add(7)
    report = ChaosReport()

    with pytest.raises(
        AssertionError, match=r"1 answer.* without an orderId, the first: iteration 7"
    ):
        report.trigger_phantom_events_concurrently(service.url, 12, CUSTOMER, PRODUCT)

    assert len(report.phantom_order_ids()) == 11


def test_one_query_for_all_orders_records_each_orders_rows(service):
    report = ChaosReport()
    order_ids = report.trigger_phantom_events_concurrently(service.url, 3, CUSTOMER, PRODUCT)

    report.record_database_rows_of_every_phantom_order(
        [(order_ids[1],)], "SELECT id FROM orders WHERE id = %s", "… = ANY(%s)"
    )

    rows = {a.order_id: a.rows_found for a in report._run.attempts}
    assert rows == {order_ids[0]: 0, order_ids[1]: 1, order_ids[2]: 0}
    queries = [a.query for a in report._run.attempts]
    assert queries[0] == f"SELECT id FROM orders WHERE id = '{order_ids[0]}'"
