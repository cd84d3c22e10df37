"""``/orders`` and ``/orders/{id}``."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import falcon

from service.api.hooks import require_json_body
from service.api.schemas import is_uuid_text
from service.api.validation import create_order_command, idempotency_key
from service.domain.errors import OrderNotFound
from service.domain.model import Order
from service.domain.ports import UnitOfWork
from service.domain.use_cases import GetOrder, PlaceOrder
from service.json_forms import iso_instant, items_json, json_number

UowFactory = Callable[[], UnitOfWork]

# Set on a 201 that answers a repeated Idempotency-Key: nothing new was written or published.
IDEMPOTENT_REPLAYED = "Idempotent-Replayed"


class OrderCollection:
    """Place orders."""

    def __init__(
        self, create_order: PlaceOrder, uow_factory: UowFactory, max_body_bytes: int
    ) -> None:
        self._create_order = create_order
        self._uow_factory = uow_factory
        self.max_body_bytes = max_body_bytes

    @falcon.before(require_json_body)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Create an order: 201 with its id, even when its event could not be published.

        In outbox mode the event is stored with the order and published later by the relay.
        A repeat of an ``Idempotency-Key`` with the same order answers the first order again,
        marked ``Idempotent-Replayed: true``.
        """
        command = create_order_command(req, idempotency_key=idempotency_key(req))
        result = self._create_order(command, self._uow_factory())
        resp.status = falcon.HTTP_201
        resp.location = f"/orders/{result.order_id}"
        if result.replayed:
            resp.set_header(IDEMPOTENT_REPLAYED, "true")
        resp.media = {"orderId": str(result.order_id)}


class OrderById:
    """Read one order."""

    def __init__(self, get_order: GetOrder, uow_factory: UowFactory) -> None:
        self._get_order = get_order
        self._uow_factory = uow_factory

    def on_get(self, req: falcon.Request, resp: falcon.Response, order_id: str) -> None:
        """Return the order, or 404 for an unknown or malformed id."""
        # The one UUID spelling the API takes in bodies, so no id is found by one road only.
        if not is_uuid_text(order_id):
            raise OrderNotFound(f"{order_id[:64]!r} (not a UUID)")
        parsed = UUID(order_id)
        resp.media = order_json(self._get_order(parsed, self._uow_factory()))


def order_json(order: Order) -> dict[str, object]:
    """Return the JSON form of a stored order."""
    return {
        "id": str(order.id),
        "customerId": str(order.customer_id),
        "status": order.status.value,
        "total": json_number(order.total),
        "items": items_json(order.items),
        "createdAt": iso_instant(order.created_at),
        "updatedAt": iso_instant(order.updated_at),
    }
