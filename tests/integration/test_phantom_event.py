"""The phantom event: the order is rolled back, its event stays on the topic.

Every field of the report must be observed; the failing-publish test would catch a
report whose ``eventSentToKafka`` or explanation were constants.
"""

from __future__ import annotations

from falcon import testing

from service.adapters.kafka import KafkaOrderEventPublisher
from service.app import Adapters, create_app
from tests.integration.helpers import order_body, query_one


def test_phantom_order_is_absent_and_its_event_sits_at_the_reported_offset(
    client, db, created_events
):
    before = created_events.end_positions()

    response = client.simulate_post("/chaos/phantom-event", json=order_body())

    assert response.status_code == 200
    report = response.json
    order_id = report["orderId"]
    assert report["existsInDb"] is False
    assert report["eventSentToKafka"] is True
    assert report["dbRolledBack"] is True
    assert report["phantomEventProduced"] is True
    assert report["explanation"].startswith("PHANTOM EVENT")
    assert report["dbRowsFound"] == 0
    assert query_one(db, "SELECT count(*) FROM orders WHERE id = %s", order_id) == (0,)
    assert query_one(db, "SELECT count(*) FROM order_items WHERE order_id = %s", order_id) == (0,)
    found = [r for r in created_events.read_since(before) if r.key == order_id]
    assert [(r.partition, r.offset) for r in found] == [
        (report["kafkaPartition"], report["kafkaOffset"])
    ]
    assert found[0].value["orderId"] == order_id
    assert found[0].value["eventId"] == report["eventId"]


def test_normal_orders_still_commit_after_a_phantom_event(client, db):
    client.simulate_post("/chaos/phantom-event", json=order_body())

    order_id = client.simulate_post("/orders", json=order_body()).json["orderId"]

    assert query_one(db, "SELECT status FROM orders WHERE id = %s", order_id) == ("CREATED",)


def test_failed_publish_reports_that_no_phantom_was_produced(
    config, runtime, db, created_events, unreachable_broker
):
    publisher = KafkaOrderEventPublisher(unreachable_broker, timeout_ms=2000)
    adapters = Adapters(runtime.adapters.uow_factory, publisher, runtime.adapters.health)
    client = testing.TestClient(create_app(config, adapters))
    before = created_events.end_positions()
    try:
        report = client.simulate_post("/chaos/phantom-event", json=order_body()).json
    finally:
        publisher.close(timeout=0)

    assert report["eventSentToKafka"] is False
    assert report["phantomEventProduced"] is False
    assert report["kafkaError"]
    assert report["kafkaOffset"] is None
    assert "phantom event was not produced" in report["explanation"]
    assert report["existsInDb"] is False
    assert report["dbRolledBack"] is True
    order_id = report["orderId"]
    assert query_one(db, "SELECT count(*) FROM orders WHERE id = %s", order_id) == (0,)
    assert not [r for r in created_events.read_since(before) if r.key == order_id]
