"""The JSON bodies of the API, as pydantic models: they validate requests and describe
responses, and the OpenAPI document is generated from them, so the two cannot drift."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from service.domain.model import CENT, MAX_ITEMS, MAX_QUANTITY, MAX_UNIT_PRICE, OrderStatus
from service.domain.use_cases import WriteMode

# The RFC 9562 spelling, any case. pydantic alone would also take 32 bare digits, braces
# and "urn:uuid:", which JSON Schema's format "uuid" refuses: the document and the API
# would disagree. The pattern states it for validators that treat "format" as a note.
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_UUID = re.compile(UUID_PATTERN.strip("^$"))
UUID_SCHEMA = {"type": "string", "format": "uuid", "pattern": UUID_PATTERN}

# The values the answers may carry, spelt once, in the domain: Literal[("a", "b")] is
# Literal["a", "b"], so the document lists them as an enum of strings.
_STATUSES = tuple(status.value for status in OrderStatus)
_WRITE_MODES = tuple(mode.value for mode in WriteMode)

# Integral values this far out all fail the range check alike; clamping them keeps int()
# from building a number of a billion digits out of "1e999999999".
_CLAMP = 10**18


def is_uuid_text(text: str) -> bool:
    """Tell whether ``text`` is a UUID in the one spelling the API takes."""
    return _UUID.fullmatch(text) is not None


def _uuid_text(value: object) -> object:
    if isinstance(value, str) and not _UUID.fullmatch(value):
        raise ValueError("must be a UUID written as 8-4-4-4-12 hexadecimal digits")
    return value


def _json_number(value: object) -> object:
    # Lax pydantic would turn "149.95" into a Decimal; the API takes numbers only.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a JSON number")
    return value


def _json_integer(value: object) -> object:
    # JSON Schema's "integer" is any number without a fraction: 2.0 and 1e2 are integers,
    # and a client (or schemathesis) may write them so.
    value = _json_number(value)
    if isinstance(value, int):
        return value
    exact = Decimal(str(value)) if isinstance(value, float) else value
    if not exact.is_finite() or exact != exact.to_integral_value():
        raise ValueError("must be an integer")
    return int(max(-_CLAMP, min(_CLAMP, exact)))


Uuid = Annotated[UUID, BeforeValidator(_uuid_text), WithJsonSchema(UUID_SCHEMA)]

Quantity = Annotated[
    int,
    BeforeValidator(_json_integer),
    Field(gt=0, le=MAX_QUANTITY),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY}),
]

Price = Annotated[
    Decimal,
    BeforeValidator(_json_number),
    Field(ge=CENT, le=MAX_UNIT_PRICE, decimal_places=2, allow_inf_nan=False),
    # pydantic would document a Decimal as "number or string" with its own keywords; the
    # API takes numbers only. multipleOf 0.01 is the two-decimal rule, meant as JSON Schema
    # means it: of the number as written (149.95 is 14995 cents), not of the binary float
    # a reader may store it in (where 149.95 / 0.01 = 14994.999999999998).
    WithJsonSchema(
        {
            "type": "number",
            "minimum": float(CENT),
            "maximum": float(MAX_UNIT_PRICE),
            "multipleOf": float(CENT),
            "description": "At most two decimal places, read exactly as written.",
        }
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrderItemRequest(_Strict):
    """One item of a new order."""

    productId: Uuid
    quantity: Quantity
    unitPrice: Price


class CreateOrderRequest(_Strict):
    """The body of ``POST /orders`` and ``POST /chaos/phantom-event``.

    A body with a key twice in one object is rejected before this model sees it.
    """

    customerId: Uuid
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
    status: Literal[_STATUSES]
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
    mode: Literal[_WRITE_MODES] = Field(
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


class OutcomeUnknownResponse(BaseModel):
    """503 for an order whose COMMIT was cut off: it may or may not exist."""

    title: str
    description: str
    orderId: UUID = Field(description="Read GET /orders/{orderId} to learn whether it exists.")
