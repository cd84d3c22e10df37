"""A created order is in PostgreSQL and its event on the topic, with the same data."""

from __future__ import annotations

import json
import uuid

from tests.integration.helpers import order_body, query_one


def test_created_order_is_stored_and_its_event_published(client, db, created_events):
    before = created_events.end_positions()
    body = order_body(quantity=3, unit_price=19.99)

    response = client.simulate_post("/orders", json=body)

    assert response.status_code == 201
    order_id = response.json["orderId"]
    assert response.headers["Location"] == f"/orders/{order_id}"
    row = query_one(db, "SELECT status, total, customer_id FROM orders WHERE id = %s", order_id)
    assert row is not None, "the order is not in the database"
    assert (row[0], str(row[1]), row[2]) == ("CREATED", "59.97", body["customerId"])
    items = query_one(
        db,
        "SELECT product_id, quantity, unit_price FROM order_items WHERE order_id = %s",
        order_id,
    )
    assert (items[0], items[1], str(items[2])) == (body["items"][0]["productId"], 3, "19.99")
    events = [r for r in created_events.read_since(before) if r.key == order_id]
    assert len(events) == 1, f"expected one event keyed {order_id}, found {len(events)}"
    event = events[0].value
    assert event["orderId"] == order_id
    assert event["customerId"] == body["customerId"]
    assert event["totalAmount"] == 59.97
    assert event["items"] == [
        {"productId": body["items"][0]["productId"], "quantity": 3, "unitPrice": 19.99}
    ]
    assert set(event) == {"eventId", "orderId", "customerId", "totalAmount", "items", "occurredAt"}


def test_created_order_reads_back_through_the_api(client):
    order_id = client.simulate_post("/orders", json=order_body(1, 25.0)).json["orderId"]

    response = client.simulate_get(f"/orders/{order_id}")

    assert response.status_code == 200
    assert response.json["status"] == "CREATED"
    assert response.json["total"] == 25
    assert json.loads(response.text)["id"] == order_id


def test_orders_with_many_items_keep_their_order(client, db):
    body = order_body()
    body["items"] = [
        {"productId": item, "quantity": n + 1, "unitPrice": 1.5}
        for n, item in enumerate(str(uuid.uuid4()) for _ in range(5))
    ]

    order_id = client.simulate_post("/orders", json=body).json["orderId"]

    stored = client.simulate_get(f"/orders/{order_id}").json["items"]
    assert [i["productId"] for i in stored] == [i["productId"] for i in body["items"]]
    assert query_one(db, "SELECT total FROM orders WHERE id = %s", order_id)[0] == 22.5
