"""The use cases: create, read and cancel orders, and relay the outbox.

Creating an order comes in two modes. ``CreateOrder`` is the Dual Write on purpose: the
order is committed to the database, then its event is published to the broker, and nothing
makes the two atomic. ``CreateOrderViaOutbox`` writes the order and its event to the
database in one transaction; ``RelayOutbox`` publishes the stored events afterwards, at
least once.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

from service.domain.errors import (
    CommitOutcomeUnknown,
    DuplicateEvent,
    IdempotencyKeyReused,
    OrderNotFound,
    PublishFailed,
)
from service.domain.events import OrderCancelled, OrderCreated
from service.domain.model import Order, OrderItem
from service.domain.ports import (
    Delivery,
    FailedAttempt,
    MessagePublisher,
    OrderEventPublisher,
    OutboxMessage,
    UnitOfWork,
)
from service.domain.retry import RetryDelay

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
    # The client's Idempotency-Key: a repeat with the same key and the same order
    # answers the first order again instead of placing a second one.
    idempotency_key: str | None = None


class WriteMode(enum.StrEnum):
    """How a create-order use case writes the event, by the names the API answers with."""

    DUAL_WRITE = "dual-write"
    OUTBOX = "outbox"


@dataclass(frozen=True)
class CreateOrderResult:
    """What happened to a new order: its id and the fate of its event."""

    order_id: UUID
    # None for a replay: the first request placed the order, this one created nothing.
    event: OrderCreated | None
    delivery: Delivery | None
    publish_error: str | None
    # True when the event went to the outbox, in the order's transaction, instead of
    # to the broker: the relay publishes it once that transaction has committed.
    via_outbox: bool = False
    # True when the Idempotency-Key named an order placed before: nothing was written
    # or published now, and the answer is the first one's.
    replayed: bool = False

    @property
    def event_sent(self) -> bool:
        """Tell whether the broker confirmed the event."""
        return self.delivery is not None

    @property
    def mode(self) -> WriteMode:
        """Tell how the event was written: published at once, or stored in the outbox."""
        return WriteMode.OUTBOX if self.via_outbox else WriteMode.DUAL_WRITE


# Both create-order use cases have this shape, so the API and the chaos executor run
# whichever the configuration chose.
PlaceOrder = Callable[[CreateOrderCommand, UnitOfWork], CreateOrderResult]


def _new_order(command: CreateOrderCommand, order_id: UUID, now: datetime) -> Order:
    items = tuple(OrderItem(i.product_id, i.quantity, i.unit_price) for i in command.items)
    return Order.place(order_id, command.customer_id, items, now, command.idempotency_key)


def _replay(order: Order, uow: UnitOfWork, *, via_outbox: bool) -> CreateOrderResult | None:
    """Store ``order``; if its Idempotency-Key was taken, return the first order's result.

    Raises:
        IdempotencyKeyReused: the key's first order is not this one (another body).
    """
    if uow.orders.add(order):
        return None
    key = order.idempotency_key
    first = uow.orders.get_by_idempotency_key(key) if key is not None else None
    if first is None:
        # The key's order is gone between the conflict and the read (a delete by hand).
        raise IdempotencyKeyReused(str(key), "unknown")
    if not first.same_request_as(order):
        raise IdempotencyKeyReused(str(key), first.id)
    logger.info("replayed orderId=%s for a repeated Idempotency-Key", first.id)
    return CreateOrderResult(first.id, None, None, None, via_outbox=via_outbox, replayed=True)


def _commit(uow: UnitOfWork, order: Order) -> None:
    """Commit; a lost connection during COMMIT is named with the order it concerns."""
    try:
        uow.commit()
    except CommitOutcomeUnknown as ex:
        logger.error(
            "COMMIT OUTCOME UNKNOWN for orderId=%s: %s; GET /orders/%s tells whether it exists",
            order.id,
            ex.detail,
            order.id,
        )
        raise CommitOutcomeUnknown(ex.detail, order.id) from ex


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
            replay = _replay(order, uow, via_outbox=False)
            if replay is not None:
                return replay
            try:
                _commit(uow, order)
            except CommitOutcomeUnknown:
                # Publishing now could make a phantom event; not publishing may lose it.
                logger.warning(
                    "DUAL WRITE FAILURE — EVENT LOST for orderId=%s if its commit took "
                    "effect: the commit's outcome is unknown, so no event is published",
                    order.id,
                )
                raise
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
            replay = _replay(order, uow, via_outbox=True)
            if replay is not None:
                return replay
            uow.outbox.add(event)
            # The event row shares the order's fate, also when the outcome is unknown.
            _commit(uow, order)
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
    # The pass looked only at rows after this id (0: at all of them).
    after_id: int = 0

    def rows_may_wait(self, batch_size: int) -> bool:
        """Tell whether a pass should follow at once: a full batch, or rows not looked at."""
        return self.claimed >= batch_size or self.after_id > 0

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

    def __init__(
        self,
        publisher: MessagePublisher,
        clock: Clock,
        batch_size: int = 100,
        retry_delay: RetryDelay | None = None,
        rescan_every: timedelta = timedelta(seconds=1),
    ) -> None:
        self._publisher = publisher
        self._clock = clock
        self._batch_size = batch_size
        # Each failed row waits on its own, by its own attempts: one row the broker keeps
        # refusing (too large, say) never holds back the rows of other orders.
        self._retry_delay = retry_delay or RetryDelay(0.2, 5.0)
        # While full batches follow each other, each pass goes on after the last row the
        # one before claimed. A short pass, or ``rescan_every``, starts again from the first
        # row: a row committed after later ones, or one whose retry came due, waits no
        # longer than that behind a backlog.
        self._rescan_every = rescan_every
        self._after_id = 0
        self._rescan_at = clock() + rescan_every

    def __call__(self, uow: UnitOfWork) -> RelayPass:
        """Claim, publish, and mark sent what the broker confirmed, in one transaction."""
        with uow:
            after_id = self._resume_after()
            batch = uow.outbox.claim_batch(self._batch_size, after_id)
            if not batch:
                self._after_id = 0
                return RelayPass(claimed=0, after_id=after_id)
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
                uow.outbox.record_failures(
                    [
                        FailedAttempt(
                            m.id,
                            outcome.error or "not confirmed",
                            confirmed_at + timedelta(seconds=self._retry_delay(m.attempts + 1)),
                        )
                        for m, outcome in pairs
                        if not outcome.delivered
                    ]
                )
            uow.commit()
        # Only a committed pass moves on: the rows of a failed one are still to be sent.
        self._after_id = batch[-1].id if len(batch) >= self._batch_size else 0
        return RelayPass(len(batch), published, failed, error, confirmed_at, after_id)

    def _resume_after(self) -> int:
        if self._after_id and self._clock() < self._rescan_at:
            return self._after_id
        self._rescan_at = self._clock() + self._rescan_every
        return 0


class ProcessedEventsPruner:
    """Deletes ``processed_events`` rows older than the retention, in bounded batches.

    Each batch is a transaction of its own, so no run holds many row locks or a long
    transaction; a run stops after ``max_batches`` and says whether rows are left.
    """

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        clock: Clock,
        retention: timedelta,
        *,
        batch_size: int = 1000,
        max_batches: int = 20,
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self.retention = retention
        self._batch_size = batch_size
        self._max_batches = max_batches

    def prune(self) -> tuple[int, bool]:
        """Delete old rows; return how many, and whether none older than the retention is left."""
        older_than = self._clock() - self.retention
        total = 0
        for _ in range(self._max_batches):
            with self._uow_factory() as uow:
                deleted = uow.processed_events.prune(older_than, self._batch_size)
                uow.commit()
            total += deleted
            if deleted < self._batch_size:
                return total, True
        return total, False
