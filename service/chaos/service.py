"""The transaction boundary of the phantom event, and the report of what it observed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from service.chaos.executor import PhantomEventChaosInterceptor, PhantomEventSimulationException
from service.domain.ports import UnitOfWork
from service.domain.use_cases import CreateOrderCommand, CreateOrderResult

_PHANTOM = (
    "PHANTOM EVENT: The order.created event was published to Kafka, but the order does NOT "
    "exist in PostgreSQL. Any consumer processing this event will reference a non-existent "
    "order."
)
_NOT_PUBLISHED = (
    "NO PHANTOM EVENT: the database rolled back, but the broker did not confirm the "
    "order.created event ({error}), so no consumer hears of the order. The phantom event "
    "was not produced."
)
_STILL_IN_DB = (
    "UNEXPECTED: the order is still in PostgreSQL after the rollback; the transaction "
    "boundary did not hold."
)


@dataclass(frozen=True)
class PhantomEventReport:
    """What one phantom-event attempt observed: every field measured, none assumed."""

    result: CreateOrderResult
    rows_found: int
    db_rolled_back: bool
    query: str

    @property
    def exists_in_db(self) -> bool:
        """Tell whether a fresh query found the order."""
        return self.rows_found > 0

    @property
    def phantom_event_produced(self) -> bool:
        """Tell whether the event is confirmed while the order is absent."""
        return self.result.event_sent and not self.exists_in_db

    @property
    def explanation(self) -> str:
        """Say in words what happened."""
        if self.exists_in_db:
            return _STILL_IN_DB
        if not self.result.event_sent:
            return _NOT_PUBLISHED.format(error=self.result.publish_error)
        return _PHANTOM


class ChaosService:
    """The ``@Transactional`` boundary: runs the intercepted executor in one transaction."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        executor: PhantomEventChaosInterceptor,
        count_query: str,
    ) -> None:
        self._uow_factory = uow_factory
        self._executor = executor
        self._count_query = count_query

    def attempt_phantom_order(self, command: CreateOrderCommand) -> PhantomEventReport:
        """Create an order whose transaction rolls back after its event was published."""
        uow = self._uow_factory()
        try:
            with uow:
                self._executor.execute(command, uow)
                uow.commit()
        except PhantomEventSimulationException as ex:
            result = ex.result
        else:
            raise RuntimeError("the phantom-event interceptor did not fire")
        return PhantomEventReport(
            result=result,
            rows_found=self._count_rows(result.order_id),
            db_rolled_back=uow.rolled_back and not uow.committed,
            query=self._count_query,
        )

    def _count_rows(self, order_id: UUID) -> int:
        # A new unit of work borrows another connection: what it sees is committed data.
        with self._uow_factory() as fresh:
            return fresh.orders.count_rows(order_id)
