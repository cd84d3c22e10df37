"""Turn a request body into a domain command, or a 400 that names every problem."""

from __future__ import annotations

import re

import falcon
from pydantic import ValidationError

from service.api.schemas import CreateOrderRequest
from service.domain.use_cases import CreateOrderCommand, ItemLine

# pydantic writes limits as Python reprs ("Decimal('99999999.99')"); callers need the number.
_DECIMAL_REPR = re.compile(r"Decimal\('([^']*)'\)")


def create_order_command(req: falcon.Request) -> CreateOrderCommand:
    """Read and validate the body of a create-order request."""
    media = req.get_media()
    try:
        body = CreateOrderRequest.model_validate(media)
    except ValidationError as ex:
        raise falcon.HTTPBadRequest(
            title="Invalid order", description=describe_errors(ex)
        ) from None
    return CreateOrderCommand(
        customer_id=body.customerId,
        items=tuple(ItemLine(i.productId, i.quantity, i.unitPrice) for i in body.items),
    )


def describe_errors(ex: ValidationError) -> str:
    """Return one line per problem, each starting with the field's path (``items[0].quantity``)."""
    lines = []
    for error in ex.errors(include_url=False):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        field = path.lstrip(".") or "body"
        message = _DECIMAL_REPR.sub(r"\1", error["msg"].removeprefix("Value error, "))
        if error["type"] == "missing":
            message = "is required"
        elif error["type"] in ("model_type", "list_type", "dict_type"):
            message = "must be a JSON " + ("array" if error["type"] == "list_type" else "object")
        elif error["type"] == "extra_forbidden":
            message = "is not a known field"
        lines.append(f"{field}: {message}")
    return "; ".join(lines)
