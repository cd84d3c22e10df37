"""``service.api.validation.describe_errors``: one line per problem, starting with its field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.api.schemas import CreateOrderRequest
from service.api.validation import describe_errors

from .payloads import item, order, without


def description_of(body) -> str:
    with pytest.raises(ValidationError) as caught:
        CreateOrderRequest.model_validate(body)
    return describe_errors(caught.value)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(without(order(), "customerId"), "customerId: is required", id="missing"),
        pytest.param([order()], "body: must be a JSON object", id="body-not-object"),
        pytest.param(order(items="x"), "items: must be a JSON array", id="not-array"),
        pytest.param(order(items=[3]), "items[0]: must be a JSON object", id="item-not-object"),
        pytest.param(order(coupon="x"), "coupon: is not a known field", id="extra"),
        pytest.param(
            order(item(unitPrice="1")),
            "items[0].unitPrice: must be a JSON number",
            id="value-error",
        ),
        pytest.param(
            order(item(), item(quantity=0)),
            "items[1].quantity: Input should be greater than 0",
            id="nested-path",
        ),
    ],
)
def test_each_problem_is_described_with_its_field(body, expected):
    assert description_of(body) == expected


def test_several_problems_are_joined_in_order():
    body = {"customerId": "nope", "items": [item(quantity=0)], "coupon": 1}

    lines = description_of(body).split("; ")

    assert [line.split(":")[0] for line in lines] == ["customerId", "items[0].quantity", "coupon"]


def test_value_error_prefix_is_removed():
    assert "Value error" not in description_of(order(item(unitPrice=True)))
