"""Error handlers: every error is JSON (``title``, ``description``), never an HTML page.

The API imports no driver and no adapter: the unit of work turns database failures into
the domain's ``DatabaseUnavailable`` and ``CommitOutcomeUnknown``, which are mapped here.
"""

from __future__ import annotations

import json
import logging

import falcon

from service.domain.errors import (
    CommitOutcomeUnknown,
    DatabaseUnavailable,
    IdempotencyKeyReused,
    InvalidOrder,
    OrderNotFound,
)
from service.log_text import printable

logger = logging.getLogger(__name__)

# Seconds a client is asked to wait before it tries again after a 503.
RETRY_AFTER_SECONDS = 2


class OutcomeUnknown(falcon.HTTPServiceUnavailable):
    """503 whose body names the order whose commit may or may not have taken effect."""

    def __init__(self, order_id: object) -> None:
        super().__init__(
            title="Outcome unknown",
            description=(
                f"the connection to PostgreSQL was lost during COMMIT: order {order_id} may "
                f"or may not exist. GET /orders/{order_id} tells; sent again with the same "
                "Idempotency-Key, the order is placed at most once"
            ),
            retry_after=RETRY_AFTER_SECONDS,
        )
        self.order_id = str(order_id)

    def to_dict(self, obj_type=dict):
        """Return title, description and ``orderId``."""
        body = super().to_dict(obj_type)
        body["orderId"] = self.order_id
        return body


def _invalid_order(req, resp, ex: InvalidOrder, params) -> None:
    raise falcon.HTTPBadRequest(title="Invalid order", description=str(ex))


def _order_not_found(req, resp, ex: OrderNotFound, params) -> None:
    raise falcon.HTTPNotFound(title="Order not found", description=str(ex))


def _idempotency_key_reused(req, resp, ex: IdempotencyKeyReused, params) -> None:
    raise falcon.HTTPUnprocessableEntity(title="Idempotency-Key reused", description=str(ex))


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
    # The JSON loader's InvalidJson says what is wrong; a UnicodeDecodeError is a body
    # that is not UTF-8. Neither message quotes more than a short, escaped piece.
    cause = ex.__cause__
    if isinstance(cause, UnicodeDecodeError):
        description = f"the body is not UTF-8 JSON (byte {cause.start} is not UTF-8)"
    elif isinstance(cause, ValueError):
        description = str(cause)
    else:
        description = "the body is not valid JSON"
    raise falcon.HTTPBadRequest(title="Malformed JSON", description=description)


def _media_missing(req, resp, ex: falcon.MediaNotFoundError, params) -> None:
    raise falcon.HTTPBadRequest(title="Missing body", description="the request has no JSON body")


def _database_unavailable(req, resp, ex: DatabaseUnavailable, params) -> None:
    logger.error("database unavailable during %s %s: %s", req.method, printable(req.path), ex)
    raise falcon.HTTPServiceUnavailable(
        title="Database unavailable",
        description="PostgreSQL did not answer; nothing was stored; try again later",
        retry_after=RETRY_AFTER_SECONDS,
    )


def _commit_outcome_unknown(req, resp, ex: CommitOutcomeUnknown, params) -> None:
    if ex.order_id is None:
        # No order to name (the use case names it for POST /orders): a plain 503.
        logger.error("commit outcome unknown during %s %s: %s", req.method, printable(req.path), ex)
        raise falcon.HTTPServiceUnavailable(
            title="Outcome unknown",
            description="the connection was lost during COMMIT; the change may exist",
            retry_after=RETRY_AFTER_SECONDS,
        )
    raise OutcomeUnknown(ex.order_id)


def _unexpected(req, resp, ex: Exception, params) -> None:
    logger.exception("unexpected error during %s %s", req.method, printable(req.path))
    raise falcon.HTTPInternalServerError(
        title="Internal error", description="the service failed; its log has the details"
    )


def _serialize_error(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError) -> None:
    # Falcon's default answers XML to a client that prefers it and encodes descriptions
    # as UTF-8, which a lone surrogate from a client's JSON cannot pass: always ASCII JSON.
    resp.content_type = falcon.MEDIA_JSON
    resp.data = json.dumps(ex.to_dict(), ensure_ascii=True).encode("ascii")


def add_error_handlers(app: falcon.App) -> None:
    """Map our exceptions and Falcon's generic errors to JSON answers (most specific wins)."""
    app.set_error_serializer(_serialize_error)
    app.add_error_handler(Exception, _unexpected)
    app.add_error_handler(InvalidOrder, _invalid_order)
    app.add_error_handler(OrderNotFound, _order_not_found)
    app.add_error_handler(IdempotencyKeyReused, _idempotency_key_reused)
    app.add_error_handler(falcon.HTTPRouteNotFound, _route_not_found)
    app.add_error_handler(falcon.HTTPMethodNotAllowed, _method_not_allowed)
    app.add_error_handler(falcon.MediaMalformedError, _media_malformed)
    app.add_error_handler(falcon.MediaNotFoundError, _media_missing)
    app.add_error_handler(DatabaseUnavailable, _database_unavailable)
    app.add_error_handler(CommitOutcomeUnknown, _commit_outcome_unknown)
