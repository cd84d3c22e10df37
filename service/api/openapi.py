"""The OpenAPI 3.1 document of the API, generated from the pydantic models it validates with."""

from __future__ import annotations

from typing import Any

import falcon
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from service.api import schemas
from service.api.errors import RETRY_AFTER_SECONDS
from service.api.resources.orders import IDEMPOTENT_REPLAYED
from service.api.validation import IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_PATTERN

_REF = "#/components/schemas/{model}"


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}},
    }


def _error(description: str) -> dict[str, Any]:
    return _json(schemas.ErrorResponse, description)


_RETRY_AFTER = {
    "description": f"Seconds to wait before trying again ({RETRY_AFTER_SECONDS}).",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}


def _unavailable(description: str) -> dict[str, Any]:
    return {**_error(description), "headers": {"Retry-After": _RETRY_AFTER}}


_DATABASE_DOWN = _unavailable(
    "PostgreSQL did not answer in time (down, frozen, unreachable, or every pooled "
    "connection stayed busy); nothing was stored."
)

# POST /orders: besides the database being down, a COMMIT may be cut off after it was
# sent. That answer names the order so that the client can read it and learn the outcome.
_CREATE_UNAVAILABLE = {
    "description": (
        "PostgreSQL did not answer in time, and nothing was stored (an error body); or the "
        "connection was lost during COMMIT, so the order may or may not exist (a body with "
        "orderId: GET /orders/{orderId} tells, and a retry with the same Idempotency-Key "
        "places it at most once)."
    ),
    "headers": {"Retry-After": _RETRY_AFTER},
    "content": {
        "application/json": {
            "schema": {
                "anyOf": [
                    {"$ref": _REF.format(model="ErrorResponse")},
                    {"$ref": _REF.format(model="OutcomeUnknownResponse")},
                ]
            }
        }
    },
}

_IDEMPOTENCY_KEY_HEADER = {
    "name": IDEMPOTENCY_KEY,
    "in": "header",
    "required": False,
    "description": (
        "Makes a retry safe: the first request with a key places the order; a repeat with "
        "the same key and the same order (customer and items, amounts compared as numbers) "
        f"answers that order again with {IDEMPOTENT_REPLAYED}: true, and writes and "
        "publishes nothing; the same key with another order is 422. Keys are kept with "
        "their orders. 1 to 255 printable ASCII characters, no blank at either end."
    ),
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": IDEMPOTENCY_KEY_PATTERN,
    },
}


def _create_body() -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": _REF.format(model="CreateOrderRequest")},
                "example": {
                    "customerId": "550e8400-e29b-41d4-a716-446655440000",
                    "items": [
                        {
                            "productId": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
                            "quantity": 2,
                            "unitPrice": 149.95,
                        }
                    ],
                },
            }
        },
    }


_HEALTH_DESCRIPTION = (
    "Components: db, kafka, consumer and, in outbox mode, outbox. kafka is DOWN when no "
    "broker answers or a topic of the service is missing (health creates nothing; the "
    "service's topic keeper creates a lost topic within 5 s). The consumer component is UP "
    "while the order.cancelled consumer runs and no message is being retried; DOWN while a "
    "message is retried (its error names the message, the orderId, the failed attempts "
    "since when, and lastError with its time), while a broken client is replaced, or when "
    "the thread is gone. Its details: running, processed, duplicates, skipped, retried, "
    "commitFailures, clientRestarts, lag, lastError, lastErrorAt, prunedProcessedEvents. "
    "The outbox component is UP while the relay thread runs and the backlog can be read, "
    "DOWN when the relay is not running or the backlog query fails; its details are "
    "backlog (pending rows), oldestPendingAgeSeconds, consecutiveFailures, lastError, "
    "lastErrorAt, lastPublishedAt, publishedSinceStart, stuckRows, oldestStuckOrderId and "
    "oldestStuckLastError (a row that failed MARS_OUTBOX_STUCK_AFTER_ATTEMPTS times: still "
    "retried, never deleted). A broker outage leaves it UP (each row retries with its own "
    "backoff) and shows as kafka DOWN and a growing backlog. Answers within 2 s, also "
    "while every request thread waits on a frozen dependency (health has threads of its "
    "own)."
)

_METRICS_DESCRIPTION = (
    "Process metrics. The order.cancelled consumer: order_cancelled_processed_total, "
    "order_cancelled_duplicates_total, order_cancelled_skipped_total (malformed or unknown "
    "order), order_cancelled_retried_total (failed attempts, each retried after a "
    "back-off), order_cancelled_commit_failures_total, processed_events_pruned_total "
    "(counters); order_cancelled_consumer_running, order_cancelled_retrying and "
    "order_cancelled_lag{partition} (gauges: messages behind each partition's end, read by "
    "the consumer thread from its position and the last high watermark, no broker call per "
    "scrape). In outbox mode: outbox_backlog, outbox_oldest_pending_age_seconds, "
    "outbox_stuck_rows, outbox_relay_running (gauges, read at each scrape), "
    "outbox_relay_passes_total, outbox_published_total, outbox_publish_failures_total "
    "(counters) and outbox_relay_delay_seconds (histogram: from a row's creation to its "
    "event's delivery report)."
)

_BAD_BODY = {
    "400": _error(
        "Malformed JSON (not UTF-8, a key twice in one object, NaN or Infinity, a number "
        "no decimal holds, nesting too deep), a body that breaks the request schema, or an "
        "unreadable Content-Length; the description names the field or the problem."
    ),
    "413": _error("The body is larger than the limit (MARS_MAX_BODY_BYTES, 64 KiB by default)."),
    "415": _error("The body is not application/json, or declares a charset other than UTF-8."),
}

_DESCRIPTION = (
    "Saves orders in PostgreSQL and publishes order.created to Kafka.\n\n"
    "Every error is a JSON object with title and description. Numbers are read exactly "
    "as written (a price is a decimal, never a binary float), and the schemas mean them "
    "so: unitPrice has multipleOf 0.01, i.e. at most two decimal places of the number as "
    "written; an integer may be written 2 or 2.0. A method a path does not list answers "
    "405 with an Allow header (components/responses/MethodNotAllowed); an unknown path 404."
)

_METHOD_NOT_ALLOWED = {
    **_error("The path does not take this method."),
    "headers": {
        "Allow": {
            "description": "The methods the path takes.",
            "required": True,
            "schema": {"type": "string"},
        }
    },
}


def build_openapi(*, chaos: bool, outbox: bool = False) -> dict[str, Any]:
    """Return the document; the chaos path appears only when the profile is active.

    With ``outbox`` the summaries describe the outbox mode instead of the Dual Write.
    """
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Order service (Dual Write chaos)",
            "version": "1.0.0",
            "description": _DESCRIPTION,
        },
        "paths": _paths(chaos=chaos, outbox=outbox),
        "components": {
            "schemas": _component_schemas(),
            "responses": {"MethodNotAllowed": _METHOD_NOT_ALLOWED},
        },
    }


def _component_schemas() -> dict[str, Any]:
    """Return the JSON Schemas of every request and answer body, from the pydantic models."""
    models = [
        schemas.CreateOrderRequest,
        schemas.OrderCreatedResponse,
        schemas.OrderResponse,
        schemas.HealthResponse,
        schemas.ErrorResponse,
        schemas.OutcomeUnknownResponse,
        schemas.PhantomEventReportResponse,
    ]
    _, defs = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    return defs["$defs"]


def _paths(*, chaos: bool, outbox: bool) -> dict[str, Any]:
    """Return the path items, in the order the document lists them."""
    paths: dict[str, Any] = {
        "/orders": {"post": _create_order(outbox=outbox)},
        "/orders/{orderId}": {"get": _read_order()},
        "/actuator/health": {"get": _health(outbox=outbox)},
        "/metrics": {"get": _metrics()},
    }
    if chaos:
        paths["/chaos/phantom-event"] = {"post": _phantom_event(outbox=outbox)}
    return paths


def _create_order(*, outbox: bool) -> dict[str, Any]:
    """Return the ``POST /orders`` operation."""
    return {
        "summary": (
            "Place an order (the order and its order.created event in one "
            "transaction: the Transactional Outbox; a relay publishes it)"
            if outbox
            else "Place an order (commit, then publish order.created: the Dual Write)"
        ),
        "operationId": "createOrder",
        "parameters": [_IDEMPOTENCY_KEY_HEADER],
        "requestBody": _create_body(),
        "responses": {
            "201": _order_created(outbox=outbox),
            **_BAD_BODY,
            "422": _error(
                "The Idempotency-Key was first used with another order; the "
                "description names that order."
            ),
            "503": _CREATE_UNAVAILABLE,
        },
    }


def _order_created(*, outbox: bool) -> dict[str, Any]:
    """Return the 201 of ``POST /orders``: its body, headers and the link to the order."""
    return {
        **_json(
            schemas.OrderCreatedResponse,
            "Created; its event waits in the outbox for the relay."
            if outbox
            else "Created (also when the event was lost: see the service log).",
        ),
        "headers": {
            "Location": {
                "description": "/orders/{orderId}",
                "required": True,
                "schema": {"type": "string"},
            },
            IDEMPOTENT_REPLAYED: {
                "description": (
                    "Sent on a repeat of an Idempotency-Key: the order was "
                    "placed by the first request, nothing new was stored."
                ),
                "required": False,
                "schema": {"type": "string", "enum": ["true"]},
            },
        },
        "links": {
            "GetOrder": {
                "operationId": "getOrder",
                "parameters": {"orderId": "$response.body#/orderId"},
                "description": "The order just placed.",
            }
        },
    }


def _read_order() -> dict[str, Any]:
    """Return the ``GET /orders/{orderId}`` operation."""
    return {
        "summary": "Read an order",
        "operationId": "getOrder",
        "parameters": [
            {
                "name": "orderId",
                "in": "path",
                "required": True,
                "description": "Any other text is no order's id: 404.",
                "schema": schemas.UUID_SCHEMA,
            }
        ],
        "responses": {
            "200": _json(schemas.OrderResponse, "The order."),
            "404": _error("No such order, or the id is not a UUID."),
            "503": _DATABASE_DOWN,
        },
    }


def _health(*, outbox: bool) -> dict[str, Any]:
    """Return the ``GET /actuator/health`` operation."""
    return {
        "summary": "Health of the database and the broker"
        + (", and the outbox relay's backlog" if outbox else ""),
        "description": _HEALTH_DESCRIPTION,
        "operationId": "health",
        "responses": {
            "200": _json(schemas.HealthResponse, "Every component is UP."),
            "503": _json(schemas.HealthResponse, "A component is DOWN."),
        },
    }


def _metrics() -> dict[str, Any]:
    """Return the ``GET /metrics`` operation."""
    return {
        "summary": "Metrics in the Prometheus text format",
        "description": _METRICS_DESCRIPTION,
        "operationId": "metrics",
        "responses": {
            "200": {
                "description": "The metrics (text exposition format 0.0.4).",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    }


def _phantom_event(*, outbox: bool) -> dict[str, Any]:
    """Return the ``POST /chaos/phantom-event`` operation (chaos profile only)."""
    return {
        "summary": (
            "Attempt the phantom event: store the event in the outbox, then roll "
            "the order back (nothing is published)"
            if outbox
            else "Force the phantom event: publish, then roll the order back"
        ),
        "description": "Only with the chaos profile. Every field of the report is observed.",
        "operationId": "phantomEvent",
        "requestBody": _create_body(),
        "responses": {
            "200": _json(schemas.PhantomEventReportResponse, "What was observed."),
            **_BAD_BODY,
            "503": _DATABASE_DOWN,
        },
    }


class OpenApiDocument:
    """Serve the OpenAPI document at ``/openapi.json``."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._document = document

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Return the document."""
        resp.media = self._document
