"""The transaction boundary of the phantom event, and the report of what it observed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from service.chaos.executor import PhantomEventChaosInterceptor, PhantomEventSimulationException
from service.domain.ports import RowCount, UnitOfWork
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
_OUTBOX_ROLLED_BACK = (
    "NO PHANTOM EVENT (outbox mode): the order.created event was written to the outbox "
    "inside the transaction that rolled back, so it was rolled back with the order: a fresh "
    "query finds {rows} outbox rows for the order, and the request published nothing to "
    "Kafka. The relay publishes only committed outbox rows, so no consumer will hear of "
    "this order."
)
_OUTBOX_ROW_LEFT = (
    "UNEXPECTED: {rows} outbox row(s) for the order survived the rollback; the relay would "
    "publish an event for an order that does not exist."
)


@dataclass(frozen=True)
class PhantomEventReport:
    """What one phantom-event attempt observed: every field measured, none assumed."""

    result: CreateOrderResult
    rows_found: int
    db_rolled_back: bool
    # The query that counted the order's rows, its id filled in by the repository.
    query: str
    # Outbox mode only: the order's outbox rows, counted on a fresh connection after the
    # rollback. None in Dual Write mode, where the use case writes no outbox row.
    outbox_rows_found: int | None = None

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
        if self.result.via_outbox:
            if self.outbox_rows_found:
                return _OUTBOX_ROW_LEFT.format(rows=self.outbox_rows_found)
            return _OUTBOX_ROLLED_BACK.format(rows=self.outbox_rows_found)
        if not self.result.event_sent:
            return _NOT_PUBLISHED.format(error=self.result.publish_error)
        return _PHANTOM


class ChaosService:
    """The ``@Transactional`` boundary: runs the intercepted executor in one transaction."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        executor: PhantomEventChaosInterceptor,
    ) -> None:
        self._uow_factory = uow_factory
        self._executor = executor

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
        count, outbox_rows_found = self._count_rows(result)
        return PhantomEventReport(
            result=result,
            rows_found=count.rows,
            db_rolled_back=uow.rolled_back and not uow.committed,
            query=count.query,
            outbox_rows_found=outbox_rows_found,
        )

    def _count_rows(self, result: CreateOrderResult) -> tuple[RowCount, int | None]:
        # A new unit of work borrows another connection: what it sees is committed data.
        with self._uow_factory() as fresh:
            count = fresh.orders.count_rows(result.order_id)
            if not result.via_outbox:
                return count, None
            return count, fresh.outbox.count_for_order(result.order_id)
