"""The JSON bodies of the API, as pydantic models: they validate requests and describe
responses, and the OpenAPI document is generated from them, so the two cannot drift."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, WithJsonSchema

from service.domain.model import MAX_ITEMS, MAX_QUANTITY, MAX_UNIT_PRICE


def _json_number(value: object) -> object:
    # Lax pydantic would turn "149.95" into a Decimal; the API takes numbers only.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a JSON number")
    return value


Price = Annotated[
    Decimal,
    BeforeValidator(_json_number),
    Field(gt=0, le=MAX_UNIT_PRICE, decimal_places=2, allow_inf_nan=False),
    # pydantic would document a Decimal as "number or string" with its own keywords; the
    # API takes numbers only. multipleOf 0.01 is left out: in floating point it rejects
    # valid prices such as 19.99, so the two-decimal rule is stated in words.
    WithJsonSchema(
        {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": float(MAX_UNIT_PRICE),
            "description": "At most two decimal places.",
        }
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrderItemRequest(_Strict):
    """One item of a new order."""

    productId: UUID
    quantity: StrictInt = Field(gt=0, le=MAX_QUANTITY)
    unitPrice: Price


class CreateOrderRequest(_Strict):
    """The body of ``POST /orders`` and ``POST /chaos/phantom-event``."""

    customerId: UUID
    items: list[OrderItemRequest] = Field(min_length=1, max_length=MAX_ITEMS)


class OrderCreatedResponse(BaseModel):
    """The answer to ``POST /orders``."""

    orderId: UUID


class OrderItemResponse(BaseModel):
    """One item of a stored order."""

    productId: UUID
    quantity: int
    unitPrice: float


class OrderResponse(BaseModel):
    """A stored order."""

    id: UUID
    customerId: UUID
    status: Literal["CREATED", "CANCELLED"]
    total: float
    items: list[OrderItemResponse]
    createdAt: str
    updatedAt: str


class PhantomEventReportResponse(BaseModel):
    """What ``POST /chaos/phantom-event`` observed; every field is measured."""

    orderId: UUID
    eventId: UUID
    existsInDb: bool = Field(description="A fresh query on another connection found the order.")
    eventSentToKafka: bool = Field(description="The broker's delivery report confirmed the event.")
    dbRolledBack: bool = Field(description="The transaction ended in a rollback.")
    phantomEventProduced: bool = Field(
        description="The event is on the topic and the order is not in the database."
    )
    explanation: str
    kafkaTopic: str | None
    kafkaPartition: int | None
    kafkaOffset: int | None
    kafkaError: str | None = Field(description="Why the publish failed, when it did.")
    dbQuery: str = Field(description="The query that counted the order's rows.")
    dbRowsFound: int
    mode: Literal["dual-write", "outbox"] = Field(
        description="How the create-order use case wrote the event: published it (Dual "
        "Write) or stored it in the outbox in the order's transaction."
    )
    outboxRowsFound: int | None = Field(
        description="Outbox mode: the order's outbox rows, counted on a fresh connection "
        "after the rollback; null in Dual Write mode."
    )


class ComponentHealth(BaseModel):
    """The state of one dependency."""

    status: Literal["UP", "DOWN"]
    details: dict[str, object] = {}


class HealthResponse(BaseModel):
    """The answer of ``GET /actuator/health``."""

    status: Literal["UP", "DOWN"]
    components: dict[str, ComponentHealth]


class ErrorResponse(BaseModel):
    """Every error, in Falcon's shape."""

    title: str
    description: str | None = None
