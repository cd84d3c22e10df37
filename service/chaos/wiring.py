"""Adds the chaos routes to an app; the only module of the package the app factory imports."""

from __future__ import annotations

import logging
from collections.abc import Callable

import falcon

from service.chaos.executor import ChaosOrderExecutor, PhantomEventChaosInterceptor
from service.chaos.resource import PhantomEvent
from service.chaos.service import ChaosService
from service.domain.ports import UnitOfWork
from service.domain.use_cases import PlaceOrder

logger = logging.getLogger(__name__)


def install_chaos_routes(
    app: falcon.App,
    create_order: PlaceOrder,
    uow_factory: Callable[[], UnitOfWork],
    max_body_bytes: int,
) -> None:
    """Route ``POST /chaos/phantom-event`` and warn loudly that chaos is on."""
    executor = PhantomEventChaosInterceptor(ChaosOrderExecutor(create_order))
    chaos_service = ChaosService(uow_factory, executor)
    app.add_route("/chaos/phantom-event", PhantomEvent(chaos_service, max_body_bytes))
    # In outbox mode the endpoint publishes nothing, but it still creates and rolls back
    # orders on purpose: the warning stays loud in both modes.
    logger.warning(
        "CHAOS PROFILE ACTIVE: POST /chaos/phantom-event forces the rollback of orders it "
        "creates (in dual-write mode their events are still published). Never enable it where "
        "real consumers listen."
    )
