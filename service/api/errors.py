"""Error handlers: every error is JSON (``title``, ``description``), never an HTML page."""

from __future__ import annotations

import logging

import falcon
import psycopg2

from service.adapters.postgres import DatabaseUnavailable
from service.domain.errors import InvalidOrder, OrderNotFound

logger = logging.getLogger(__name__)


def _invalid_order(req, resp, ex: InvalidOrder, params) -> None:
    raise falcon.HTTPBadRequest(title="Invalid order", description=str(ex))


def _order_not_found(req, resp, ex: OrderNotFound, params) -> None:
    raise falcon.HTTPNotFound(title="Order not found", description=str(ex))


def _route_not_found(req, resp, ex: falcon.HTTPRouteNotFound, params) -> None:
    raise falcon.HTTPNotFound(
        title="Not found", description=f"no resource at {req.path} (see /openapi.json)"
    )


def _method_not_allowed(req, resp, ex: falcon.HTTPMethodNotAllowed, params) -> None:
    allowed = (ex.headers or {}).get("Allow", "")
    raise falcon.HTTPMethodNotAllowed(
        [m.strip() for m in allowed.split(",") if m.strip()],
        title="Method not allowed",
        description=f"{req.method} is not allowed on {req.path}; allowed: {allowed}",
    )


def _media_malformed(req, resp, ex: falcon.MediaMalformedError, params) -> None:
    raise falcon.HTTPBadRequest(title="Malformed JSON", description="the body is not valid JSON")


def _media_missing(req, resp, ex: falcon.MediaNotFoundError, params) -> None:
    raise falcon.HTTPBadRequest(title="Missing body", description="the request has no JSON body")


def _database_unavailable(req, resp, ex: Exception, params) -> None:
    logger.error("database unavailable during %s %s: %s", req.method, req.path, ex)
    raise falcon.HTTPServiceUnavailable(
        title="Database unavailable", description="PostgreSQL did not answer; try again later"
    )


def _unexpected(req, resp, ex: Exception, params) -> None:
    logger.exception("unexpected error during %s %s", req.method, req.path)
    raise falcon.HTTPInternalServerError(
        title="Internal error", description="the service failed; its log has the details"
    )


def add_error_handlers(app: falcon.App) -> None:
    """Map our exceptions and Falcon's generic errors to JSON answers (most specific wins)."""
    app.add_error_handler(Exception, _unexpected)
    app.add_error_handler(InvalidOrder, _invalid_order)
    app.add_error_handler(OrderNotFound, _order_not_found)
    app.add_error_handler(falcon.HTTPRouteNotFound, _route_not_found)
    app.add_error_handler(falcon.HTTPMethodNotAllowed, _method_not_allowed)
    app.add_error_handler(falcon.MediaMalformedError, _media_malformed)
    app.add_error_handler(falcon.MediaNotFoundError, _media_missing)
    app.add_error_handler(DatabaseUnavailable, _database_unavailable)
    app.add_error_handler(psycopg2.OperationalError, _database_unavailable)
