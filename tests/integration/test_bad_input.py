"""A rejected request writes nothing to the database and publishes nothing."""

from __future__ import annotations

import pytest

from tests.integration.helpers import order_body, query_one

JSON = {"Content-Type": "application/json"}
VALID_ITEM = order_body()["items"][0]


def bad_bodies() -> list:
    customer = order_body()["customerId"]

    def with_item(**changes) -> dict:
        return {"customerId": customer, "items": [{**VALID_ITEM, **changes}]}

    return [
        pytest.param(b"{not json", 400, id="malformed-json"),
        pytest.param(b"", 400, id="empty-body"),
        pytest.param(b"[]", 400, id="array"),
        pytest.param(b'{"items": []}', 400, id="missing-customer"),
        pytest.param(with_item(quantity=0), 400, id="zero-quantity"),
        pytest.param(with_item(quantity=-1), 400, id="negative-quantity"),
        pytest.param(with_item(quantity="2"), 400, id="quantity-as-text"),
        pytest.param(with_item(quantity=2**31), 400, id="quantity-beyond-integer-column"),
        pytest.param(with_item(unitPrice=0), 400, id="zero-price"),
        pytest.param(with_item(unitPrice=1.234), 400, id="price-with-3-decimals"),
        pytest.param(with_item(unitPrice=10**10), 400, id="price-beyond-numeric-column"),
        pytest.param(with_item(productId="not-a-uuid"), 400, id="bad-product-id"),
        pytest.param({"customerId": "nope", "items": [VALID_ITEM]}, 400, id="bad-customer-id"),
        pytest.param({"customerId": customer, "items": []}, 400, id="no-items"),
        pytest.param(b" " * (70 * 1024), 413, id="oversized"),
    ]


@pytest.mark.parametrize(("body", "status"), bad_bodies())
@pytest.mark.parametrize("path", ["/orders", "/chaos/phantom-event"])
def test_rejected_order_writes_nothing(client, db, created_events, path, body, status):
    rows_before = query_one(
        db, "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_items)"
    )
    positions = created_events.end_positions()

    if isinstance(body, bytes):
        response = client.simulate_post(path, body=body, headers=JSON)
    else:
        response = client.simulate_post(path, json=body)

    assert response.status_code == status
    assert set(response.json) == {"title", "description"}
    assert response.json["description"]
    assert (
        query_one(db, "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_items)")
        == rows_before
    )
    assert created_events.read_since(positions) == []
    assert created_events.end_positions() == positions


def test_wrong_content_type_writes_nothing(client, db):
    before = query_one(db, "SELECT count(*) FROM orders")

    response = client.simulate_post(
        "/orders", body="customerId=1", headers={"Content-Type": "text/plain"}
    )

    assert response.status_code == 415
    assert query_one(db, "SELECT count(*) FROM orders") == before


def test_wrong_method_and_unknown_ids_answer_in_json(client):
    assert client.simulate_delete("/orders").status_code == 405
    assert client.simulate_get("/orders/not-a-uuid").status_code == 404
    missing = client.simulate_get(f"/orders/{order_body()['items'][0]['productId']}")
    assert missing.status_code == 404
    assert "no order with id" in missing.json["description"]
