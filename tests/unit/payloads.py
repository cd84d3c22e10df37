"""Request bodies: a valid order, and the invalid ones the API must reject without writing."""

from __future__ import annotations

import copy

import pytest

from service.domain.model import MAX_ITEMS, MAX_QUANTITY, MAX_UNIT_PRICE

CUSTOMER_ID = "550e8400-e29b-41d4-a716-446655440000"
PRODUCT_ID = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
OTHER_PRODUCT_ID = "6ba7b811-9dad-11d1-80b4-00c04fd430c8"


def item(**fields) -> dict:
    """Return one valid item, with ``fields`` replacing or adding keys."""
    return {"productId": PRODUCT_ID, "quantity": 2, "unitPrice": 149.95, **fields}


def order(*items: dict, **fields) -> dict:
    """Return a valid create-order body (one item unless ``items`` are given)."""
    return {"customerId": CUSTOMER_ID, "items": list(items) or [item()], **fields}


def without(body: dict, key: str) -> dict:
    """Return a copy of ``body`` without ``key``."""
    trimmed = copy.deepcopy(body)
    del trimmed[key]
    return trimmed


# (body, the field the error must name). Each is rejected by the request schema itself.
SCHEMA_INVALID_BODIES = [
    pytest.param([order()], "body", id="array-instead-of-object"),
    pytest.param(without(order(), "customerId"), "customerId", id="missing-customerId"),
    pytest.param(without(order(), "items"), "items", id="missing-items"),
    pytest.param(order(items=[]), "items", id="empty-items"),
    pytest.param(order(items={}), "items", id="items-not-an-array"),
    pytest.param(order(items=["x"]), "items[0]", id="item-not-an-object"),
    pytest.param(order(customerId="not-a-uuid"), "customerId", id="customerId-not-a-uuid"),
    pytest.param(order(customerId=42), "customerId", id="customerId-a-number"),
    pytest.param(order(customerId=CUSTOMER_ID.replace("-", "")), "customerId", id="uuid-bare"),
    pytest.param(order(customerId="{" + CUSTOMER_ID + "}"), "customerId", id="uuid-braces"),
    pytest.param(order(customerId="urn:uuid:" + CUSTOMER_ID), "customerId", id="uuid-urn"),
    pytest.param(order(customerId=CUSTOMER_ID + "\n"), "customerId", id="uuid-newline"),
    pytest.param(
        order(customerId="\u0665" * 8 + CUSTOMER_ID[8:]), "customerId", id="uuid-arabic-digits"
    ),
    pytest.param(order(item(productId="123")), "items[0].productId", id="productId-not-a-uuid"),
    pytest.param(
        order(item(), item(productId="zz")), "items[1].productId", id="second-productId-bad"
    ),
    pytest.param(order(without(item(), "quantity")), "items[0].quantity", id="missing-quantity"),
    pytest.param(order(item(quantity=0)), "items[0].quantity", id="quantity-zero"),
    pytest.param(order(item(quantity=-1)), "items[0].quantity", id="quantity-negative"),
    pytest.param(order(item(quantity="2")), "items[0].quantity", id="quantity-a-string"),
    pytest.param(order(item(quantity=2.5)), "items[0].quantity", id="quantity-a-float"),
    pytest.param(order(item(quantity=True)), "items[0].quantity", id="quantity-true"),
    pytest.param(
        order(item(quantity=MAX_QUANTITY + 1)), "items[0].quantity", id="quantity-above-max"
    ),
    pytest.param(order(item(unitPrice=0)), "items[0].unitPrice", id="price-zero"),
    pytest.param(order(item(unitPrice=-1.5)), "items[0].unitPrice", id="price-negative"),
    pytest.param(order(item(unitPrice="149.95")), "items[0].unitPrice", id="price-a-string"),
    pytest.param(order(item(unitPrice=None)), "items[0].unitPrice", id="price-null"),
    pytest.param(order(item(unitPrice=1.005)), "items[0].unitPrice", id="price-3-decimals"),
    pytest.param(order(item(unitPrice=5e-324)), "items[0].unitPrice", id="price-5e-324"),
    pytest.param(order(item(unitPrice=0.001)), "items[0].unitPrice", id="price-below-a-cent"),
    pytest.param(
        order(item(unitPrice=19.990000000000002)), "items[0].unitPrice", id="price-float-noise"
    ),
    pytest.param(
        order(item(unitPrice=float(MAX_UNIT_PRICE) + 1)),
        "items[0].unitPrice",
        id="price-above-max",
    ),
    pytest.param(order(coupon="FREE"), "coupon", id="unknown-field"),
    pytest.param(order(item(color="red")), "items[0].color", id="unknown-item-field"),
    pytest.param(order(*[item()] * (MAX_ITEMS + 1)), "items", id="too-many-items"),
]
