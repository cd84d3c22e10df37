"""``POST /chaos/phantom-event``: present only with the chaos profile, and its report."""

from __future__ import annotations

from uuid import UUID

import pytest

from .fakes import LeakyRollbackUnitOfWork
from .payloads import SCHEMA_INVALID_BODIES, order

REPORT_FIELDS = {
    "orderId",
    "eventId",
    "existsInDb",
    "eventSentToKafka",
    "dbRolledBack",
    "phantomEventProduced",
    "explanation",
    "kafkaTopic",
    "kafkaPartition",
    "kafkaOffset",
    "kafkaError",
    "dbQuery",
    "dbRowsFound",
    "mode",
    "outboxRowsFound",
}


def test_phantom_event_route_is_absent_without_the_chaos_profile(client, database, publisher):
    response = client.simulate_post("/chaos/phantom-event", json=order())

    assert response.status_code == 404
    assert database.untouched
    assert publisher.untouched


def test_phantom_event_route_is_absent_with_only_the_outbox_profile(make_client):
    client = make_client({"MARS_PROFILES_ACTIVE": "outbox"})

    assert client.simulate_post("/chaos/phantom-event", json=order()).status_code == 404


def test_phantom_event_reports_the_observed_phantom(chaos_client, database, publisher):
    response = chaos_client.simulate_post("/chaos/phantom-event", json=order())

    assert response.status_code == 200
    report = response.json
    assert set(report) == REPORT_FIELDS
    [event] = publisher.events
    assert report["orderId"] == str(event.order_id)
    assert report["eventId"] == str(event.event_id)
    assert report["existsInDb"] is False
    assert report["dbRowsFound"] == 0
    assert report["eventSentToKafka"] is True
    assert (report["kafkaTopic"], report["kafkaPartition"], report["kafkaOffset"]) == (
        "order.created",
        0,
        0,
    )
    assert report["kafkaError"] is None
    assert report["dbRolledBack"] is True
    assert report["phantomEventProduced"] is True
    assert report["explanation"].startswith("PHANTOM EVENT")
    assert report["dbQuery"] == f"SELECT count(*) FROM orders WHERE id = '{report['orderId']}'"
    assert (report["mode"], report["outboxRowsFound"]) == ("dual-write", None)
    assert database.committed == {}


def test_phantom_order_cannot_be_read_afterwards(chaos_client):
    order_id = chaos_client.simulate_post("/chaos/phantom-event", json=order()).json["orderId"]

    assert chaos_client.simulate_get(f"/orders/{order_id}").status_code == 404


def test_phantom_event_with_a_failing_broker_reports_no_phantom(chaos_client, publisher):
    publisher.fail_with("broker unreachable")

    report = chaos_client.simulate_post("/chaos/phantom-event", json=order()).json

    assert report["eventSentToKafka"] is False
    assert report["phantomEventProduced"] is False
    assert report["existsInDb"] is False
    assert report["dbRolledBack"] is True
    assert (report["kafkaTopic"], report["kafkaPartition"], report["kafkaOffset"]) == (
        None,
        None,
        None,
    )
    assert report["kafkaError"] == "broker unreachable"
    assert "phantom event was not produced" in report["explanation"]


def test_phantom_event_report_follows_the_database(make_client, database):
    client = make_client(
        {"MARS_PROFILES_ACTIVE": "chaos"}, uow_factory=lambda: LeakyRollbackUnitOfWork(database)
    )

    report = client.simulate_post("/chaos/phantom-event", json=order()).json

    assert report["existsInDb"] is True
    assert report["dbRowsFound"] == 1
    assert report["phantomEventProduced"] is False
    assert report["explanation"].startswith("UNEXPECTED")
    assert UUID(report["orderId"]) in database.committed


def test_ordinary_orders_are_untouched_by_the_chaos_profile(chaos_client, database):
    response = chaos_client.simulate_post("/orders", json=order())

    assert response.status_code == 201
    assert UUID(response.json["orderId"]) in database.committed


@pytest.mark.parametrize(("body", "field"), SCHEMA_INVALID_BODIES)
def test_invalid_phantom_order_is_rejected_and_writes_nothing(
    chaos_client, database, publisher, body, field
):
    response = chaos_client.simulate_post("/chaos/phantom-event", json=body)

    assert response.status_code == 400
    assert f"{field}: " in response.json["description"]
    assert database.untouched
    assert publisher.untouched


def test_phantom_event_needs_a_json_body(chaos_client, publisher):
    response = chaos_client.simulate_post(
        "/chaos/phantom-event", body="{}", headers={"Content-Type": "text/plain"}
    )

    assert response.status_code == 415
    assert publisher.untouched


def test_phantom_event_refuses_an_oversized_body(make_client, publisher):
    client = make_client({"MARS_PROFILES_ACTIVE": "chaos", "MARS_MAX_BODY_BYTES": "1024"})

    response = client.simulate_post("/chaos/phantom-event", json=order(padding="x" * 2000))

    assert response.status_code == 413
    assert publisher.untouched
