"""Turn a request into a domain command, or a 400 that names every problem."""

from __future__ import annotations

import re

import falcon
from pydantic import ValidationError

from service.api.schemas import CreateOrderRequest
from service.domain.use_cases import CreateOrderCommand, ItemLine

IDEMPOTENCY_KEY = "Idempotency-Key"
# 1 to 255 printable ASCII characters. Inner blanks are kept, but HTTP drops blanks at
# either end of a header value, so a key may not start or end with one.
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]([ -~]{0,253}[!-~])?$"
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN.strip("^$"))

# pydantic writes limits as Python reprs ("Decimal('99999999.99')"); callers need the number.
_DECIMAL_REPR = re.compile(r"Decimal\('([^']*)'\)")
# A body can hold thousands of faults (an array of 30,000 wrong items); the answer names
# the first ones and counts the rest.
MAX_DESCRIBED = 10
# Field names come from the client: an unknown one is shown escaped and shortened.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")


def create_order_command(
    req: falcon.Request, *, idempotency_key: str | None = None
) -> CreateOrderCommand:
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
        idempotency_key=idempotency_key,
    )


def idempotency_key(req: falcon.Request) -> str | None:
    """Return the request's ``Idempotency-Key``, None without one, or answer 400."""
    key = req.get_header(IDEMPOTENCY_KEY)
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise falcon.HTTPBadRequest(
            title="Invalid header",
            description=(
                f"{IDEMPOTENCY_KEY}: must be 1 to 255 printable ASCII characters, "
                f"not starting or ending with a blank (got {len(key)} characters)"
            ),
        )
    return key


def describe_errors(ex: ValidationError) -> str:
    """Return one line per problem, each starting with the field's path (``items[0].quantity``)."""
    errors = ex.errors(include_url=False, include_input=False)
    lines = [_describe(error) for error in errors[:MAX_DESCRIBED]]
    if len(errors) > MAX_DESCRIBED:
        lines.append(f"and {len(errors) - MAX_DESCRIBED} more problems")
    return "; ".join(lines)


def _describe(error) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{_name(p)}" for p in error["loc"])
    field = path.lstrip(".") or "body"
    message = _DECIMAL_REPR.sub(r"\1", error["msg"].removeprefix("Value error, "))
    if error["type"] == "missing":
        message = "is required"
    elif error["type"] in ("model_type", "list_type", "dict_type"):
        message = "must be a JSON " + ("array" if error["type"] == "list_type" else "object")
    elif error["type"] == "extra_forbidden":
        message = "is not a known field"
    return f"{field}: {message}"


def _name(part: object) -> str:
    name = str(part)
    if _PLAIN_NAME.fullmatch(name):
        return name
    # ascii(): no control character, lone surrogate or bidi override reaches the answer.
    return ascii(name if len(name) <= 64 else name[:64] + "…")
