"""Hand-written fakes for our own ports: the repository, the unit of work and the publisher.

``FakeUnitOfWork`` subclasses the real ``UnitOfWork``, so the nesting and rollback rules
under test are the production ones; only the storage underneath is a dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from service.domain.errors import PublishFailed
from service.domain.events import OrderCreated
from service.domain.model import Order
from service.domain.ports import Delivery, OrderEventPublisher, OrderRepository, UnitOfWork


class FakeOrderRepository(OrderRepository):
    """Orders in a dict keyed by id; ``count_rows`` answers as the SQL count would."""

    def __init__(self, orders: dict[UUID, Order] | None = None) -> None:
        self.orders: dict[UUID, Order] = {} if orders is None else orders
        self.locked: list[UUID] = []

    def add(self, order: Order) -> None:
        if order.id in self.orders:
            raise ValueError(f"duplicate key: order {order.id} exists")
        self.orders[order.id] = order

    def get(self, order_id: UUID, *, for_update: bool = False) -> Order | None:
        if for_update:
            self.locked.append(order_id)
        return self.orders.get(order_id)

    def update_status(self, order: Order) -> None:
        if order.id not in self.orders:
            raise KeyError(order.id)
        self.orders[order.id] = order

    def count_rows(self, order_id: UUID) -> int:
        return 1 if order_id in self.orders else 0


@dataclass
class FakeDatabase:
    """The committed state every unit of work starts from, and a tally of transactions."""

    committed: dict[UUID, Order] = field(default_factory=dict)
    begun: int = 0
    commits: int = 0
    rollbacks: int = 0
    ended: int = 0

    @property
    def open_transactions(self) -> int:
        """Return how many transactions began and have not ended."""
        return self.begun - self.ended

    @property
    def untouched(self) -> bool:
        """Tell whether nothing was ever written (no order, no commit)."""
        return not self.committed and self.commits == 0


class FakeUnitOfWork(UnitOfWork):
    """A transaction on a ``FakeDatabase``: writes are staged and reach it only on commit."""

    def __init__(self, database: FakeDatabase | None = None) -> None:
        super().__init__()
        self.database = FakeDatabase() if database is None else database
        self.orders = FakeOrderRepository(dict(self.database.committed))

    def _begin(self) -> None:
        self.database.begun += 1
        self.orders = FakeOrderRepository(dict(self.database.committed))

    def _commit(self) -> None:
        self.database.commits += 1
        self.database.committed.update(self.orders.orders)

    def _rollback(self) -> None:
        self.database.rollbacks += 1
        self.orders = FakeOrderRepository(dict(self.database.committed))

    def _end(self) -> None:
        self.database.ended += 1


class LeakyRollbackUnitOfWork(FakeUnitOfWork):
    """A broken transaction whose rollback keeps the staged writes: the boundary did not hold."""

    def _rollback(self) -> None:
        self.database.rollbacks += 1
        self.database.committed.update(self.orders.orders)


class NonJoiningUnitOfWork(FakeUnitOfWork):
    """A broken transaction whose nested blocks commit on their own instead of joining."""

    @property
    def joined(self) -> bool:
        return False


class FailingUnitOfWork(FakeUnitOfWork):
    """A transaction that fails at ``stage`` ("begin" or "commit") with ``error``."""

    def __init__(self, database: FakeDatabase, error: Exception, stage: str = "begin") -> None:
        super().__init__(database)
        self._error = error
        self._stage = stage

    def _begin(self) -> None:
        if self._stage == "begin":
            raise self._error
        super()._begin()

    def _commit(self) -> None:
        if self._stage == "commit":
            raise self._error
        super()._commit()


class FakePublisher(OrderEventPublisher):
    """Records what it is asked to publish; confirms it, or fails once told to."""

    def __init__(self, topic: str = "order.created", partition: int = 0) -> None:
        self.topic = topic
        self.partition = partition
        self.attempts: list[OrderCreated] = []
        self.events: list[OrderCreated] = []
        self.deliveries: list[Delivery] = []
        self.failure: str | None = None
        self._next_offset = 0

    def fail_with(self, reason: str = "no delivery report within 5 s") -> None:
        """Make every later publish raise ``PublishFailed(reason)``."""
        self.failure = reason

    def publish(self, event: OrderCreated) -> Delivery:
        self.attempts.append(event)
        if self.failure is not None:
            raise PublishFailed(self.failure)
        delivery = Delivery(self.topic, self.partition, self._next_offset)
        self._next_offset += 1
        self.events.append(event)
        self.deliveries.append(delivery)
        return delivery

    @property
    def untouched(self) -> bool:
        """Tell whether nobody asked to publish anything."""
        return not self.attempts
