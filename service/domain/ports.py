"""The ports: what the use cases need from the outside world, as abstract classes."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from uuid import UUID

from service.domain.events import OrderCreated
from service.domain.model import Order


class OrderRepository(abc.ABC):
    """Orders, stored inside the current unit of work's transaction."""

    @abc.abstractmethod
    def add(self, order: Order) -> None:
        """Store a new order and its items."""

    @abc.abstractmethod
    def get(self, order_id: UUID, *, for_update: bool = False) -> Order | None:
        """Return the order with this id, or None."""

    @abc.abstractmethod
    def update_status(self, order: Order) -> None:
        """Store the status and update time of an existing order."""

    @abc.abstractmethod
    def count_rows(self, order_id: UUID) -> int:
        """Return how many rows of ``orders`` have this id (0 or 1): evidence, not a guess."""


class UnitOfWork(abc.ABC):
    """One database transaction: leaving the outermost ``with`` rolls back unless committed.

    Nested ``with`` blocks join the outer transaction, as Spring's ``REQUIRED``
    propagation does in the original project: an inner ``commit()`` is left to the
    outermost block. This is what lets the chaos boundary roll back an order that the
    ordinary create-order use case believes it committed.
    """

    orders: OrderRepository

    def __init__(self) -> None:
        self._depth = 0
        self.committed = False
        self.rolled_back = False

    def __enter__(self) -> Self:
        if self._depth == 0:
            self.committed = False
            self.rolled_back = False
            self._begin()
        self._depth += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            try:
                if not self.committed:
                    self._rollback()
                    self.rolled_back = True
            finally:
                self._end()

    @property
    def joined(self) -> bool:
        """Tell whether this block runs inside an outer transaction."""
        return self._depth > 1

    def commit(self) -> None:
        """Commit, unless an outer block owns the transaction (it decides then)."""
        if self.joined:
            return
        self._commit()
        self.committed = True

    @abc.abstractmethod
    def _begin(self) -> None:
        """Open the transaction (borrow a connection)."""

    @abc.abstractmethod
    def _commit(self) -> None:
        """Commit the transaction."""

    @abc.abstractmethod
    def _rollback(self) -> None:
        """Roll the transaction back."""

    @abc.abstractmethod
    def _end(self) -> None:
        """Release what ``_begin`` took."""


@dataclass(frozen=True)
class Delivery:
    """The broker's delivery report for one event: where it was written."""

    topic: str
    partition: int
    offset: int


class OrderEventPublisher(abc.ABC):
    """Publishes order events to the message broker."""

    @abc.abstractmethod
    def publish(self, event: OrderCreated) -> Delivery:
        """Publish ``event`` and wait for the broker's delivery report.

        Raises:
            PublishFailed: the broker did not confirm the event in time.
        """
