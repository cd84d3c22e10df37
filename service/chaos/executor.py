"""The executor the chaos interceptor wraps, and the interceptor itself."""

from __future__ import annotations

import logging

from service.domain.ports import UnitOfWork
from service.domain.use_cases import CreateOrderCommand, CreateOrderResult, PlaceOrder

logger = logging.getLogger(__name__)


class PhantomEventSimulationException(RuntimeError):
    """Raised after the order was saved and its event published, to force the rollback.

    It carries the executor's result, so the boundary can report what was published.
    """

    def __init__(self, result: CreateOrderResult) -> None:
        super().__init__(f"simulated failure after publishing orderId={result.order_id}")
        self.result = result


class ChaosOrderExecutor:
    """Runs the ordinary create-order use case, unchanged, inside the caller's transaction.

    "Ordinary" means whichever the service runs: the Dual Write, or with the ``outbox``
    profile the outbox, whose event row then shares the boundary's transaction.
    """

    def __init__(self, create_order: PlaceOrder) -> None:
        self._create_order = create_order

    def execute(self, command: CreateOrderCommand, uow: UnitOfWork) -> CreateOrderResult:
        """Save the order, and publish its event or store it in the outbox (the use case's)."""
        return self._create_order(command, uow)


class PhantomEventChaosInterceptor:
    """The counterpart of the seed's ``@Around`` aspect: a proxy around the executor.

    It offers the executor's ``execute`` and says what it is: in a traceback, a log or
    its repr it shows as the interceptor around ``ChaosOrderExecutor.execute``, never as
    the executor itself. ``execute`` lets the real executor run to its end, then raises
    ``PhantomEventSimulationException`` before the surrounding transaction can commit.
    """

    def __init__(self, target: ChaosOrderExecutor) -> None:
        self._target = target

    def __repr__(self) -> str:
        return f"<{type(self).__name__} around {type(self._target).__name__}.execute>"

    def execute(self, command: CreateOrderCommand, uow: UnitOfWork) -> CreateOrderResult:
        """Run the target's ``execute``, then raise ``PhantomEventSimulationException``."""
        result = self._target.execute(command, uow)
        logger.warning("CHAOS: forcing a rollback after the publish of orderId=%s", result.order_id)
        raise PhantomEventSimulationException(result)
