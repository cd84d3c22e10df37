"""The OpenAPI 3.1 document of the API, generated from the pydantic models it validates with."""

from __future__ import annotations

from typing import Any

import falcon
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from service.api import schemas

_REF = "#/components/schemas/{model}"


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}},
    }


def _error(description: str) -> dict[str, Any]:
    return _json(schemas.ErrorResponse, description)


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
    "Components: db, kafka and, in outbox mode, outbox. The outbox component is UP while "
    "the relay thread runs and the backlog can be read, DOWN when the relay is not "
    "running or the backlog query fails; its details are backlog (pending rows), "
    "oldestPendingAgeSeconds, consecutiveFailures, lastError, lastErrorAt, lastPublishedAt "
    "and publishedSinceStart. A broker outage leaves it UP (the relay retries with backoff) "
    "and shows as kafka DOWN and a growing backlog. Answers within 2 s."
)

_METRICS_DESCRIPTION = (
    "Process metrics, and in outbox mode: outbox_backlog, outbox_oldest_pending_age_seconds, "
    "outbox_relay_running (gauges, read at each scrape), outbox_relay_passes_total, "
    "outbox_published_total, outbox_publish_failures_total (counters) and "
    "outbox_relay_delay_seconds (histogram: "
    "from a row's creation to its event's delivery report)."
)

_BAD_BODY = {
    "400": _error("Malformed JSON or an invalid field (the description names it)."),
    "413": _error("The body is larger than the limit."),
    "415": _error("The body is not application/json."),
}


def build_openapi(*, chaos: bool, outbox: bool = False) -> dict[str, Any]:
    """Return the document; the chaos path appears only when the profile is active.

    With ``outbox`` the summaries describe the outbox mode instead of the Dual Write.
    """
    models = [
        schemas.CreateOrderRequest,
        schemas.OrderCreatedResponse,
        schemas.OrderResponse,
        schemas.HealthResponse,
        schemas.ErrorResponse,
        schemas.PhantomEventReportResponse,
    ]
    _, defs = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    paths: dict[str, Any] = {
        "/orders": {
            "post": {
                "summary": (
                    "Place an order (the order and its order.created event in one "
                    "transaction: the Transactional Outbox; a relay publishes it)"
                    if outbox
                    else "Place an order (commit, then publish order.created: the Dual Write)"
                ),
                "operationId": "createOrder",
                "requestBody": _create_body(),
                "responses": {
                    "201": {
                        **_json(
                            schemas.OrderCreatedResponse,
                            "Created; its event waits in the outbox for the relay."
                            if outbox
                            else "Created (also when the event was lost: see the service log).",
                        ),
                        "headers": {"Location": {"schema": {"type": "string"}}},
                    },
                    **_BAD_BODY,
                },
            }
        },
        "/orders/{orderId}": {
            "get": {
                "summary": "Read an order",
                "operationId": "getOrder",
                "parameters": [
                    {
                        "name": "orderId",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": _json(schemas.OrderResponse, "The order."),
                    "404": _error("No such order, or the id is not a UUID."),
                },
            }
        },
        "/actuator/health": {
            "get": {
                "summary": "Health of the database and the broker"
                + (", and the outbox relay's backlog" if outbox else ""),
                "description": _HEALTH_DESCRIPTION,
                "operationId": "health",
                "responses": {
                    "200": _json(schemas.HealthResponse, "Every component is UP."),
                    "503": _json(schemas.HealthResponse, "A component is DOWN."),
                },
            }
        },
        "/metrics": {
            "get": {
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
        },
    }
    if chaos:
        paths["/chaos/phantom-event"] = {
            "post": {
                "summary": (
                    "Attempt the phantom event: store the event in the outbox, then roll "
                    "the order back (nothing is published)"
                    if outbox
                    else "Force the phantom event: publish, then roll the order back"
                ),
                "description": (
                    "Only with the chaos profile. Every field of the report is observed."
                ),
                "operationId": "phantomEvent",
                "requestBody": _create_body(),
                "responses": {
                    "200": _json(schemas.PhantomEventReportResponse, "What was observed."),
                    **_BAD_BODY,
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Order service (Dual Write chaos)",
            "version": "1.0.0",
            "description": "Saves orders in PostgreSQL and publishes order.created to Kafka.",
        },
        "paths": paths,
        "components": {"schemas": defs["$defs"]},
    }


class OpenApiDocument:
    """Serve the OpenAPI document at ``/openapi.json``."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._document = document

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Return the document."""
        resp.media = self._document
