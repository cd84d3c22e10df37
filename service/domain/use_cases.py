"""The use cases: create, read and cancel orders.

Creating an order is the Dual Write on purpose: the order is committed to the database,
then its event is published to the broker, and nothing makes the two atomic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID, uuid4

from service.domain.errors import OrderNotFound, PublishFailed
from service.domain.events import OrderCancelled, OrderCreated
from service.domain.model import Order, OrderItem
from service.domain.ports import Delivery, OrderEventPublisher, UnitOfWork

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
IdFactory = Callable[[], UUID]


@dataclass(frozen=True)
class ItemLine:
    """One requested item, as the caller sent it."""

    product_id: UUID
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class CreateOrderCommand:
    """A request to place an order."""

    customer_id: UUID
    items: tuple[ItemLine, ...]


@dataclass(frozen=True)
class CreateOrderResult:
    """What happened to a new order: its id and the fate of its event."""

    order_id: UUID
    event: OrderCreated
    delivery: Delivery | None
    publish_error: str | None

    @property
    def event_sent(self) -> bool:
        """Tell whether the broker confirmed the event."""
        return self.delivery is not None


class CreateOrder:
    """Place an order: save it, commit, then publish ``order.created``."""

    def __init__(
        self, publisher: OrderEventPublisher, clock: Clock, new_id: IdFactory = uuid4
    ) -> None:
        self._publisher = publisher
        self._clock = clock
        self._new_id = new_id

    def __call__(self, command: CreateOrderCommand, uow: UnitOfWork) -> CreateOrderResult:
        """Run the use case inside ``uow`` (joining its transaction if one is open)."""
        now = self._clock()
        items = tuple(OrderItem(i.product_id, i.quantity, i.unit_price) for i in command.items)
        order = Order.place(self._new_id(), command.customer_id, items, now)
        with uow:
            uow.orders.add(order)
            uow.commit()
        event = OrderCreated.of(order, self._new_id(), now)
        try:
            delivery = self._publisher.publish(event)
        except PublishFailed as ex:
            # The Dual Write failure the project demonstrates: the order is committed,
            # its event is not confirmed, and the caller still gets its 201.
            logger.warning("DUAL WRITE FAILURE — EVENT LOST for orderId=%s: %s", order.id, ex)
            return CreateOrderResult(order.id, event, None, str(ex))
        return CreateOrderResult(order.id, event, delivery, None)


class GetOrder:
    """Read one order."""

    def __call__(self, order_id: UUID, uow: UnitOfWork) -> Order:
        """Return the order or raise OrderNotFound."""
        with uow:
            order = uow.orders.get(order_id)
        if order is None:
            raise OrderNotFound(order_id)
        return order


class CancelOrder:
    """Move an order to CANCELLED when an ``order.cancelled`` event arrives."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def __call__(self, event: OrderCancelled, uow: UnitOfWork) -> Order:
        """Cancel the order (a no-op if it already is) or raise OrderNotFound."""
        with uow:
            order = uow.orders.get(event.order_id, for_update=True)
            if order is None:
                raise OrderNotFound(event.order_id)
            cancelled = order.cancelled(self._clock())
            if cancelled is not order:
                uow.orders.update_status(cancelled)
                uow.commit()
        return cancelled
