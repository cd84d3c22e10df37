"""The use cases: create, read and cancel orders, and relay the outbox.

Creating an order comes in two modes. ``CreateOrder`` is the Dual Write on purpose: the
order is committed to the database, then its event is published to the broker, and nothing
makes the two atomic. ``CreateOrderViaOutbox`` writes the order and its event to the
database in one transaction; ``RelayOutbox`` publishes the stored events afterwards, at
least once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID, uuid4

from service.domain.errors import DuplicateEvent, OrderNotFound, PublishFailed
from service.domain.events import OrderCancelled, OrderCreated
from service.domain.model import Order, OrderItem
from service.domain.ports import (
    Delivery,
    MessagePublisher,
    OrderEventPublisher,
    OutboxMessage,
    UnitOfWork,
)

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
    # True when the event went to the outbox, in the order's transaction, instead of
    # to the broker: the relay publishes it once that transaction has committed.
    via_outbox: bool = False

    @property
    def event_sent(self) -> bool:
        """Tell whether the broker confirmed the event."""
        return self.delivery is not None


# Both create-order use cases have this shape, so the API and the chaos executor run
# whichever the configuration chose.
PlaceOrder = Callable[[CreateOrderCommand, UnitOfWork], CreateOrderResult]


def _new_order(command: CreateOrderCommand, order_id: UUID, now: datetime) -> Order:
    items = tuple(OrderItem(i.product_id, i.quantity, i.unit_price) for i in command.items)
    return Order.place(order_id, command.customer_id, items, now)


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
        order = _new_order(command, self._new_id(), now)
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


class CreateOrderViaOutbox:
    """Place an order the Transactional Outbox way: the order and its event, one transaction.

    Nothing is published here. The event is a row of the outbox, committed or rolled back
    with its order, so there is never an event without its order nor an order without its
    event; ``RelayOutbox`` publishes it later.
    """

    def __init__(self, clock: Clock, new_id: IdFactory = uuid4) -> None:
        self._clock = clock
        self._new_id = new_id

    def __call__(self, command: CreateOrderCommand, uow: UnitOfWork) -> CreateOrderResult:
        """Run the use case inside ``uow`` (joining its transaction if one is open)."""
        now = self._clock()
        order = _new_order(command, self._new_id(), now)
        event = OrderCreated.of(order, self._new_id(), now)
        with uow:
            uow.orders.add(order)
            uow.outbox.add(event)
            uow.commit()
        return CreateOrderResult(order.id, event, None, None, via_outbox=True)


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
    """Move an order to CANCELLED when an ``order.cancelled`` event arrives, once per event.

    Delivery is at least once, so the same event can come again (a redelivery after a
    crash, a producer's retry). Its id is recorded in the transaction that cancels, so a
    second copy is recognised, even when another consumer handles it at the same time:
    the second insert of the id waits for the first transaction and then finds it.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def __call__(self, event: OrderCancelled, uow: UnitOfWork) -> Order:
        """Cancel the order (a no-op if it already is).

        Raises:
            DuplicateEvent: this event id was handled before; nothing changed.
            OrderNotFound: no such order; the event is not recorded as handled.
        """
        with uow:
            if not uow.processed_events.add(event.event_id, type(event).__name__):
                raise DuplicateEvent(event.event_id)
            order = uow.orders.get(event.order_id, for_update=True)
            if order is None:
                raise OrderNotFound(event.order_id)
            cancelled = order.cancelled(self._clock())
            if cancelled is not order:
                uow.orders.update_status(cancelled)
            uow.commit()
        return cancelled


@dataclass(frozen=True)
class RelayPass:
    """What one pass of the outbox relay did."""

    claimed: int
    published: tuple[OutboxMessage, ...] = ()
    failed: tuple[OutboxMessage, ...] = ()
    error: str | None = None
    confirmed_at: datetime | None = None

    def delays(self) -> list[float]:
        """Return, per published row, the seconds from its creation to its delivery report."""
        if self.confirmed_at is None:
            return []
        return [(self.confirmed_at - m.created_at).total_seconds() for m in self.published]


class RelayOutbox:
    """One pass of the relay: publish a batch of pending outbox rows, at least once.

    The rows stay locked by this pass's transaction while their events are published, so
    no other relay takes them. A row is removed only after its own delivery report, in the
    same transaction that locked it; a row without a report stays pending and is published
    again by a later pass, even if the broker wrote it meanwhile (a timeout is
    indeterminate). So every committed event is delivered at least once; a duplicate
    carries the same eventId, which is how consumers recognise it.
    """

    def __init__(self, publisher: MessagePublisher, clock: Clock, batch_size: int = 100) -> None:
        self._publisher = publisher
        self._clock = clock
        self._batch_size = batch_size

    def __call__(self, uow: UnitOfWork) -> RelayPass:
        """Claim, publish, and mark sent what the broker confirmed, in one transaction."""
        with uow:
            batch = uow.outbox.claim_batch(self._batch_size)
            if not batch:
                return RelayPass(claimed=0)
            # One row per order at most (see claim_batch), so the batch can be sent at once:
            # the order of its messages does not matter, only each one's own report does.
            outcomes = self._publisher.publish_messages(batch)
            confirmed_at = self._clock()
            pairs = list(zip(batch, outcomes, strict=True))
            published = tuple(m for m, outcome in pairs if outcome.delivered)
            failed = tuple(m for m, outcome in pairs if not outcome.delivered)
            error = next((o.error for _, o in pairs if not o.delivered), None)
            if published:
                uow.outbox.mark_sent([m.id for m in published])
            if failed:
                uow.outbox.record_failure([m.id for m in failed], error or "not confirmed")
            uow.commit()
        return RelayPass(len(batch), published, failed, error, confirmed_at)
