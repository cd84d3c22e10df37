"""The JSON forms of orders and their events (camelCase, as in the seed).

One place for what the API answers (``GET /orders/{id}``) and what the topics carry
(``order.created`` out, ``order.cancelled`` in), so an item or an amount is written the
same way on every road. Shared by the API and the adapters; imports only the domain.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from service.domain.events import OrderCancelled, OrderCreated
from service.domain.model import OrderItem


class MalformedEvent(ValueError):
    """A message that is not a valid event of the expected type."""


def json_number(amount: Decimal) -> float | int:
    """Return an amount as a JSON number (exact for the column sizes we allow)."""
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def iso_instant(moment: datetime) -> str:
    """Return an ISO 8601 UTC timestamp ending in ``Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def items_json(items: Iterable[OrderItem]) -> list[dict[str, object]]:
    """Return the JSON form of an order's items, in their order."""
    return [
        {
            "productId": str(item.product_id),
            "quantity": item.quantity,
            "unitPrice": json_number(item.unit_price),
        }
        for item in items
    ]


def encode_order_created(event: OrderCreated) -> bytes:
    """Return the ``order.created`` message value for ``event``."""
    payload = {
        "eventId": str(event.event_id),
        "orderId": str(event.order_id),
        "customerId": str(event.customer_id),
        "totalAmount": json_number(event.total_amount),
        "items": items_json(event.items),
        "occurredAt": iso_instant(event.occurred_at),
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def decode_order_cancelled(value: bytes | None) -> OrderCancelled:
    """Parse an ``order.cancelled`` message value.

    Raises:
        MalformedEvent: the value is not JSON or misses or mistypes a field.
    """
    if not value:
        raise MalformedEvent("empty message")
    try:
        payload = json.loads(value)
    except (ValueError, RecursionError) as ex:  # bad UTF-8 or JSON, huge ints, deep nesting
        raise MalformedEvent(f"not JSON: {type(ex).__name__}: {str(ex)[:200]}") from None
    if not isinstance(payload, dict):
        raise MalformedEvent("not a JSON object")
    try:
        return OrderCancelled(
            event_id=UUID(_text(payload, "eventId")),
            order_id=UUID(_text(payload, "orderId")),
            reason=str(payload.get("reason") or ""),
            occurred_at=datetime.fromisoformat(_text(payload, "occurredAt")),
        )
    except ValueError as ex:
        raise MalformedEvent(str(ex)) from ex


def _text(payload: dict, name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str):
        raise MalformedEvent(f"field {name!r} is missing or not a string")
    return value
