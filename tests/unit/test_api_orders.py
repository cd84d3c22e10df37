"""``/orders`` and ``/orders/{id}`` through Falcon's test client, on fakes."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from service.domain.errors import CommitOutcomeUnknown, DatabaseUnavailable
from service.domain.model import MAX_ITEMS, MAX_QUANTITY, MAX_UNIT_PRICE, OrderStatus

from .conftest import NOW
from .fakes import FailingUnitOfWork
from .payloads import CUSTOMER_ID, OTHER_PRODUCT_ID, PRODUCT_ID, SCHEMA_INVALID_BODIES, item, order

JSON = {"Content-Type": "application/json"}


def post_raw(client, body, headers=JSON, path="/orders"):
    return client.simulate_post(path, body=body, headers=headers)


def assert_json_error(response, status, *, naming):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json) == {"title", "description"}
    assert response.json["title"]
    assert naming in response.json["description"]


def assert_nothing_written(database, publisher):
    assert database.untouched
    assert publisher.untouched


def test_create_order_answers_201_with_location_and_order_id(client):
    response = client.simulate_post("/orders", json=order())

    assert response.status_code == 201
    order_id = UUID(response.json["orderId"])
    assert response.json == {"orderId": str(order_id)}
    assert response.headers["location"] == f"/orders/{order_id}"


def test_create_order_stores_the_order_and_publishes_its_event(client, database, publisher):
    response = client.simulate_post("/orders", json=order(item(quantity=3, unitPrice=0.1)))

    order_id = UUID(response.json["orderId"])
    stored = database.committed[order_id]
    assert stored.customer_id == UUID(CUSTOMER_ID)
    assert stored.total == Decimal("0.30")
    [event] = publisher.events
    assert event.order_id == order_id
    assert event.total_amount == Decimal("0.30")
    assert [(str(i.product_id), i.quantity, i.unit_price) for i in event.items] == [
        (PRODUCT_ID, 3, Decimal("0.10"))
    ]


def test_prices_are_read_exactly_not_as_floats(client, database):
    # 0.1 + 0.2 is 0.30000000000000004 in floats; the stored total must be exact.
    body = order(
        item(quantity=1, unitPrice=0.1), item(productId=OTHER_PRODUCT_ID, quantity=1, unitPrice=0.2)
    )

    response = client.simulate_post("/orders", json=body)

    stored = database.committed[UUID(response.json["orderId"])]
    assert stored.total == Decimal("0.30")


def test_create_order_accepts_a_json_content_type_with_charset(client, database):
    response = post_raw(
        client, json.dumps(order()), {"Content-Type": "application/json; charset=utf-8"}
    )

    assert response.status_code == 201
    assert len(database.committed) == 1


def test_lost_event_still_answers_201_and_keeps_the_order(client, database, publisher, caplog):
    publisher.fail_with("no delivery report within 5 s")

    with caplog.at_level(logging.WARNING):
        response = client.simulate_post("/orders", json=order())

    assert response.status_code == 201
    order_id = response.json["orderId"]
    assert UUID(order_id) in database.committed
    assert publisher.events == []
    assert f"DUAL WRITE FAILURE — EVENT LOST for orderId={order_id}" in caplog.text


def test_get_order_returns_the_stored_order(client):
    created = client.simulate_post("/orders", json=order(item(quantity=2, unitPrice=149.95)))
    order_id = created.json["orderId"]

    response = client.simulate_get(created.headers["location"])

    assert response.status_code == 200
    assert response.json == {
        "id": order_id,
        "customerId": CUSTOMER_ID,
        "status": "CREATED",
        "total": 299.9,
        "items": [{"productId": PRODUCT_ID, "quantity": 2, "unitPrice": 149.95}],
        "createdAt": "2025-01-02T03:04:05Z",
        "updatedAt": "2025-01-02T03:04:05Z",
    }


def test_get_order_keeps_the_items_in_their_order(client):
    body = order(item(productId=OTHER_PRODUCT_ID, quantity=1), item(quantity=5, unitPrice=2))
    order_id = client.simulate_post("/orders", json=body).json["orderId"]

    items = client.simulate_get(f"/orders/{order_id}").json["items"]

    assert items == [
        {"productId": OTHER_PRODUCT_ID, "quantity": 1, "unitPrice": 149.95},
        {"productId": PRODUCT_ID, "quantity": 5, "unitPrice": 2},
    ]


def test_get_order_shows_a_cancelled_order(client, database):
    order_id = UUID(client.simulate_post("/orders", json=order()).json["orderId"])
    later = NOW + timedelta(hours=1)
    database.committed[order_id] = database.committed[order_id].cancelled(later)

    response = client.simulate_get(f"/orders/{order_id}")

    assert response.json["status"] == OrderStatus.CANCELLED.value
    assert response.json["createdAt"] == "2025-01-02T03:04:05Z"
    assert response.json["updatedAt"] == "2025-01-02T04:04:05Z"


def test_get_order_ignores_a_trailing_slash(client):
    order_id = client.simulate_post("/orders", json=order()).json["orderId"]

    assert client.simulate_get(f"/orders/{order_id}/").status_code == 200


def test_get_unknown_order_is_404(client):
    unknown = str(uuid4())

    response = client.simulate_get(f"/orders/{unknown}")

    assert_json_error(response, 404, naming=unknown)


@pytest.mark.parametrize("order_id", ["not-a-uuid", "123", "' OR 1=1 --"])
def test_get_order_with_a_malformed_id_is_404(client, order_id):
    response = client.simulate_get(f"/orders/{order_id}")

    assert_json_error(response, 404, naming="not a UUID")


@pytest.mark.parametrize(("body", "field"), SCHEMA_INVALID_BODIES)
def test_invalid_order_is_rejected_naming_the_field(client, database, publisher, body, field):
    response = client.simulate_post("/orders", json=body)

    assert_json_error(response, 400, naming=f"{field}: ")
    assert_nothing_written(database, publisher)


def test_the_largest_valid_order_is_accepted_and_its_total_read_back_exactly(client, database):
    # No order the schema admits may be refused for its total (NUMERIC(14,2)).
    body = order(*[item(quantity=MAX_QUANTITY, unitPrice=float(MAX_UNIT_PRICE))] * MAX_ITEMS)

    response = client.simulate_post("/orders", json=body)

    assert response.status_code == 201, response.text
    expected = MAX_ITEMS * MAX_QUANTITY * MAX_UNIT_PRICE
    assert database.committed[UUID(response.json["orderId"])].total == expected
    read = client.simulate_get(response.headers["location"])
    assert json.loads(read.text, parse_float=Decimal)["total"] == expected


def test_every_problem_of_a_body_is_named(client):
    body = {"customerId": "nope", "items": [item(quantity=0, unitPrice="1")]}

    description = client.simulate_post("/orders", json=body).json["description"]

    for field in ("customerId", "items[0].quantity", "items[0].unitPrice"):
        assert f"{field}: " in description


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("{", id="truncated"),
        pytest.param("{'customerId': 1}", id="single-quotes"),
        pytest.param(b"\xff\xfe\x00", id="not-utf8"),
        pytest.param('{"customerId": "x",}', id="trailing-comma"),
    ],
)
def test_malformed_json_is_rejected(client, database, publisher, body):
    response = post_raw(client, body)

    assert_json_error(response, 400, naming="JSON")
    assert_nothing_written(database, publisher)


def test_deeply_nested_json_is_rejected_as_malformed(client, database, publisher):
    response = post_raw(client, "[" * 50_000)

    assert_json_error(response, 400, naming="JSON")
    assert_nothing_written(database, publisher)


def test_empty_body_is_rejected(client, database, publisher):
    response = post_raw(client, "")

    assert_json_error(response, 400, naming="body")
    assert_nothing_written(database, publisher)


@pytest.mark.parametrize("body", ["null", '"order"', "42"])
def test_json_that_is_not_an_object_is_rejected(client, database, publisher, body):
    response = post_raw(client, body)

    assert_json_error(response, 400, naming="body: must be a JSON object")
    assert_nothing_written(database, publisher)


def test_body_over_the_default_limit_is_413(client, database, publisher):
    body = json.dumps(order(padding="x" * (64 * 1024)))

    response = post_raw(client, body)

    assert_json_error(response, 413, naming=str(64 * 1024))
    assert_nothing_written(database, publisher)


def test_body_over_a_configured_limit_is_413(make_client, database, publisher):
    client = make_client({"MARS_MAX_BODY_BYTES": "1024"})
    body = json.dumps(order(*[item()] * 20))
    assert len(body) > 1024

    response = post_raw(client, body)

    assert_json_error(response, 413, naming="1024")
    assert_nothing_written(database, publisher)


def test_body_within_a_configured_limit_is_accepted(make_client):
    client = make_client({"MARS_MAX_BODY_BYTES": "1024"})

    assert post_raw(client, json.dumps(order())).status_code == 201


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Content-Type": "text/plain"}, id="text-plain"),
        pytest.param({"Content-Type": "application/x-www-form-urlencoded"}, id="form"),
        pytest.param({}, id="no-content-type"),
    ],
)
def test_body_that_is_not_declared_json_is_415(client, database, publisher, headers):
    response = post_raw(client, json.dumps(order()), headers)

    assert_json_error(response, 415, naming="application/json")
    assert_nothing_written(database, publisher)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/orders", "POST"),
        ("GET", "/orders", "POST"),
        ("PUT", f"/orders/{PRODUCT_ID}", "GET"),
        ("POST", "/actuator/health", "GET"),
    ],
)
def test_wrong_method_is_405_with_allow_header(client, database, publisher, method, path, allowed):
    response = client.simulate_request(method, path, json=order())

    assert_json_error(response, 405, naming=method)
    assert allowed in [m.strip() for m in response.headers["allow"].split(",")]
    assert method not in response.headers["allow"]
    assert_nothing_written(database, publisher)


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/orders"), ("GET", f"/orders/{PRODUCT_ID}")]
)
def test_unavailable_database_is_503_and_publishes_nothing(
    make_client, database, publisher, method, path
):
    unavailable = DatabaseUnavailable("every database connection stayed busy")
    client = make_client(uow_factory=lambda: FailingUnitOfWork(database, unavailable))

    response = client.simulate_request(method, path, json=order())

    assert_json_error(response, 503, naming="PostgreSQL")
    assert int(response.headers["retry-after"]) >= 1
    assert_nothing_written(database, publisher)


def test_a_commit_whose_outcome_is_unknown_is_503_naming_the_order(
    make_client, database, publisher, caplog
):
    lost = CommitOutcomeUnknown("server closed the connection during COMMIT")
    client = make_client(uow_factory=lambda: FailingUnitOfWork(database, lost, stage="commit"))

    with caplog.at_level(logging.WARNING):
        response = client.simulate_post("/orders", json=order())

    assert response.status_code == 503
    assert set(response.json) == {"title", "description", "orderId"}
    order_id = response.json["orderId"]
    assert UUID(order_id)
    assert "may or may not exist" in response.json["description"]
    assert f"GET /orders/{order_id}" in response.json["description"]
    assert int(response.headers["retry-after"]) >= 1
    assert f"COMMIT OUTCOME UNKNOWN for orderId={order_id}" in caplog.text
    assert publisher.untouched


KEY = {"Idempotency-Key": "order-2025-01-02-0001"}


def test_a_repeated_idempotency_key_answers_the_first_order(client, database, publisher):
    first = client.simulate_post("/orders", json=order(), headers=KEY)
    again = client.simulate_post("/orders", json=order(), headers=KEY)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json == first.json
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert database.commits == 1
    assert len(publisher.events) == 1


def test_a_replay_compares_amounts_as_numbers(client, database):
    first = client.simulate_post("/orders", json=order(item(unitPrice=149.9)), headers=KEY)
    again = client.simulate_post(
        "/orders",
        body=json.dumps(order(item(unitPrice=149.9))).replace("149.9", "149.90"),
        headers={**KEY, "Content-Type": "application/json"},
    )

    assert again.status_code == 201
    assert again.json == first.json


def test_an_idempotency_key_reused_for_another_order_is_422(client, database, publisher):
    first = client.simulate_post("/orders", json=order(), headers=KEY)

    other = client.simulate_post("/orders", json=order(item(quantity=3)), headers=KEY)

    assert_json_error(other, 422, naming=first.json["orderId"])
    assert "Idempotency-Key" in other.json["title"]
    assert database.commits == 1
    assert len(publisher.events) == 1


def test_orders_without_a_key_are_never_replays(client, database, publisher):
    answers = [client.simulate_post("/orders", json=order()) for _ in range(2)]

    assert answers[0].json != answers[1].json
    assert not any("idempotent-replayed" in a.headers for a in answers)
    assert len(database.committed) == 2


@pytest.mark.parametrize("key", ["a", "k" * 255, "order 17/2025:#1", "~!@$%^&*()_+"])
def test_an_idempotency_key_of_printable_ascii_is_accepted(client, database, key):
    response = client.simulate_post("/orders", json=order(), headers={"Idempotency-Key": key})

    assert response.status_code == 201
    assert database.committed[UUID(response.json["orderId"])].idempotency_key == key


def test_unexpected_error_is_a_json_500_without_internals(make_client, database, caplog):
    failure = RuntimeError("password=hunter2 in a stack frame")
    client = make_client(uow_factory=lambda: FailingUnitOfWork(database, failure))

    with caplog.at_level(logging.ERROR):
        response = client.simulate_get(f"/orders/{PRODUCT_ID}")

    assert_json_error(response, 500, naming="log")
    assert "hunter2" not in response.text
    assert "hunter2" in caplog.text
    assert any(record.exc_info for record in caplog.records)


@pytest.mark.parametrize("path", ["/nothing-here", "/orders/a/b", "/chaos/phantom-event"])
def test_unknown_path_is_404(client, database, publisher, path):
    response = client.simulate_post(path, json=order())

    assert_json_error(response, 404, naming=path)
    assert_nothing_written(database, publisher)
