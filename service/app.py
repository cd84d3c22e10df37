"""The app factory: wires the use cases and resources onto a Falcon app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import falcon
import falcon.media
from prometheus_client import CollectorRegistry

from service.api.errors import add_error_handlers
from service.api.json_body import loads_exact
from service.api.openapi import OpenApiDocument, build_openapi
from service.api.resources.health import Health
from service.api.resources.metrics import Metrics
from service.api.resources.orders import OrderById, OrderCollection
from service.config import Config
from service.domain.ports import OrderEventPublisher, UnitOfWork
from service.domain.use_cases import (
    Clock,
    CreateOrder,
    CreateOrderViaOutbox,
    GetOrder,
    PlaceOrder,
)
from service.health import HealthCheck


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Adapters:
    """What the app needs from the outside world; real ones come from ``bootstrap``."""

    uow_factory: Callable[[], UnitOfWork]
    publisher: OrderEventPublisher
    health: HealthCheck
    # What GET /metrics renders; None serves an empty registry.
    metrics: CollectorRegistry | None = None


def create_order_use_case(config: Config, adapters: Adapters, clock: Clock) -> PlaceOrder:
    """Return the create-order use case of the configured mode: outbox or Dual Write."""
    if config.outbox_enabled:
        return CreateOrderViaOutbox(clock)
    return CreateOrder(adapters.publisher, clock)


def create_app(config: Config, adapters: Adapters, *, clock: Clock = utc_now) -> falcon.App:
    """Build the Falcon app; the chaos routes exist only with the ``chaos`` profile.

    With the ``outbox`` profile, ``POST /orders`` (and the chaos executor) store each event
    in the outbox with its order instead of publishing it.
    """
    app = falcon.App(media_type=falcon.MEDIA_JSON)
    # Prices stay exact: JSON numbers with a fraction are read as Decimal, not float; and
    # a body no exact reading holds (duplicate keys, huge exponents) is a 400.
    json_handler = falcon.media.JSONHandler(loads=loads_exact)
    app.req_options.media_handlers = falcon.media.Handlers({falcon.MEDIA_JSON: json_handler})
    app.req_options.strip_url_path_trailing_slash = True
    add_error_handlers(app)

    create_order = create_order_use_case(config, adapters, clock)
    app.add_route(
        "/orders", OrderCollection(create_order, adapters.uow_factory, config.max_body_bytes)
    )
    app.add_route("/orders/{order_id}", OrderById(GetOrder(), adapters.uow_factory))
    app.add_route("/actuator/health", Health(adapters.health))
    app.add_route("/metrics", Metrics(adapters.metrics or CollectorRegistry()))
    app.add_route(
        "/openapi.json",
        OpenApiDocument(build_openapi(chaos=config.chaos_enabled, outbox=config.outbox_enabled)),
    )
    if config.chaos_enabled:
        from service.chaos.wiring import install_chaos_routes  # noqa: PLC0415 (profile only)

        install_chaos_routes(app, create_order, adapters.uow_factory, config.max_body_bytes)
    return app
