"""The JSON forms (``service.json_forms``): ``order.created`` out, ``order.cancelled`` in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from service.api.resources.orders import order_json
from service.domain.events import OrderCreated
from service.domain.model import MAX_TOTAL, Order, OrderItem
from service.json_forms import (
    MalformedEvent,
    decode_order_cancelled,
    encode_order_created,
    iso_instant,
    items_json,
    json_number,
)

from .conftest import NOW

EVENT_ID = UUID("11111111-1111-4111-8111-111111111111")
ORDER_ID = UUID("22222222-2222-4222-8222-222222222222")


def an_event(*items: OrderItem) -> OrderCreated:
    items = items or (OrderItem(uuid4(), 2, Decimal("149.95")),)
    order = Order.place(ORDER_ID, uuid4(), items, NOW)
    return OrderCreated.of(order, EVENT_ID, NOW)


def a_cancellation(**fields) -> bytes:
    payload = {
        "eventId": str(EVENT_ID),
        "orderId": str(ORDER_ID),
        "reason": "customer request",
        "occurredAt": "2025-01-02T03:04:05Z",
        **fields,
    }
    return json.dumps({k: v for k, v in payload.items() if v is not ...}).encode()


def test_order_created_is_encoded_in_camel_case():
    event = an_event()

    payload = json.loads(encode_order_created(event))

    assert set(payload) == {
        "eventId",
        "orderId",
        "customerId",
        "totalAmount",
        "items",
        "occurredAt",
    }
    assert set(payload["items"][0]) == {"productId", "quantity", "unitPrice"}


def test_order_created_carries_the_key_fields():
    product_id = uuid4()
    event = an_event(OrderItem(product_id, 2, Decimal("149.95")))

    payload = json.loads(encode_order_created(event))

    assert payload["eventId"] == str(EVENT_ID)
    assert payload["orderId"] == str(ORDER_ID)
    assert payload["customerId"] == str(event.customer_id)
    assert payload["items"] == [{"productId": str(product_id), "quantity": 2, "unitPrice": 149.95}]
    assert payload["occurredAt"] == "2025-01-02T03:04:05Z"


def test_order_created_amounts_are_json_numbers():
    event = an_event(OrderItem(uuid4(), 2, Decimal("149.95")), OrderItem(uuid4(), 1, Decimal("5")))

    payload = json.loads(encode_order_created(event))

    assert payload["totalAmount"] == 304.9
    assert [item["unitPrice"] for item in payload["items"]] == [149.95, 5]
    assert type(payload["items"][1]["unitPrice"]) is int


def test_an_order_and_its_event_show_the_items_alike():
    items = (OrderItem(uuid4(), 2, Decimal("149.95")), OrderItem(uuid4(), 1, Decimal("5")))
    order = Order.place(ORDER_ID, uuid4(), items, NOW)

    event_items = json.loads(encode_order_created(OrderCreated.of(order, EVENT_ID, NOW)))["items"]

    assert order_json(order)["items"] == event_items == items_json(items)
    assert [item["productId"] for item in event_items] == [str(i.product_id) for i in items]


def test_order_created_is_compact_utf8_json():
    encoded = encode_order_created(an_event())

    assert isinstance(encoded, bytes)
    assert b": " not in encoded
    assert b", " not in encoded


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (Decimal("20.00"), "20"),
        (Decimal("0.01"), "0.01"),
        (Decimal("149.95"), "149.95"),
        (MAX_TOTAL, "999999999999.99"),
    ],
)
def test_json_number_keeps_every_cent(amount, expected):
    assert json.dumps(json_number(amount)) == expected


def test_iso_instant_ends_in_z_for_utc():
    assert iso_instant(datetime(2025, 1, 2, 3, 4, 5, 600_000, tzinfo=UTC)) == (
        "2025-01-02T03:04:05.600000Z"
    )


def test_iso_instant_converts_other_offsets_to_utc():
    berlin_winter = timezone(timedelta(hours=1))

    assert iso_instant(datetime(2025, 1, 2, 4, 4, 5, tzinfo=berlin_winter)) == (
        "2025-01-02T03:04:05Z"
    )


def test_valid_cancellation_is_decoded():
    event = decode_order_cancelled(a_cancellation())

    assert event.event_id == EVENT_ID
    assert event.order_id == ORDER_ID
    assert event.reason == "customer request"
    assert event.occurred_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize("reason", [..., None, ""])
def test_cancellation_without_a_reason_is_decoded_with_an_empty_one(reason):
    assert decode_order_cancelled(a_cancellation(reason=reason)).reason == ""


def test_cancellation_with_an_offset_timestamp_is_decoded():
    event = decode_order_cancelled(a_cancellation(occurredAt="2025-01-02T04:04:05+01:00"))

    assert event.occurred_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="none"),
        pytest.param(b"", id="empty"),
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"\xff\xfe\xfa", id="not-utf8"),
        pytest.param(b'{"eventId": ', id="truncated"),
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b'"order"', id="string"),
        pytest.param(b"null", id="null"),
        pytest.param(a_cancellation(eventId=...), id="missing-eventId"),
        pytest.param(a_cancellation(orderId=...), id="missing-orderId"),
        pytest.param(a_cancellation(occurredAt=...), id="missing-occurredAt"),
        pytest.param(a_cancellation(orderId="not-a-uuid"), id="orderId-not-a-uuid"),
        pytest.param(a_cancellation(orderId=42), id="orderId-a-number"),
        pytest.param(a_cancellation(eventId=None), id="eventId-null"),
        pytest.param(a_cancellation(occurredAt="yesterday"), id="occurredAt-not-a-time"),
    ],
)
def test_malformed_cancellation_raises_malformed_event(value):
    with pytest.raises(MalformedEvent):
        decode_order_cancelled(value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"[" * 100_000, id="deeply-nested"),
        pytest.param(b'{"eventId": ' + b"1" * 5000 + b"}", id="integer-over-4300-digits"),
    ],
)
def test_hostile_cancellation_raises_malformed_event(value):
    with pytest.raises(MalformedEvent):
        decode_order_cancelled(value)
