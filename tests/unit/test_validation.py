"""``service.api.validation.describe_errors``: one line per problem, starting with its field."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from service.api.schemas import CreateOrderRequest
from service.api.validation import MAX_DESCRIBED, describe_errors

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


@pytest.mark.parametrize("quantity", [2, 2.0, Decimal("2.0"), Decimal("2E+0"), Decimal("0.2E1")])
def test_a_quantity_may_be_written_as_any_whole_number(quantity):
    body = CreateOrderRequest.model_validate(order(item(quantity=quantity)))

    assert body.items[0].quantity == 2
    assert type(body.items[0].quantity) is int


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        (Decimal("1E+999999999999999999"), "less than or equal to 10000"),
        (Decimal("-1E+999999999999999999"), "greater than 0"),
        (Decimal("2.5"), "must be an integer"),
        (Decimal("1E-999999999999999999"), "must be an integer"),
    ],
)
def test_a_quantity_far_out_of_range_is_described_by_its_bound(quantity, expected):
    assert expected in description_of(order(item(quantity=quantity)))


def test_a_price_is_kept_exactly_as_written():
    body = CreateOrderRequest.model_validate(order(item(unitPrice=Decimal("149.90"))))

    assert body.items[0].unitPrice == Decimal("149.9")


def test_only_the_first_problems_are_listed_and_the_rest_counted():
    body = order(*[{"productId": "x"}] * 20)

    lines = description_of(body).split("; ")

    assert len(lines) == MAX_DESCRIBED + 1
    assert lines[-1] == f"and {3 * 20 - MAX_DESCRIBED} more problems"


def test_an_unknown_field_with_odd_characters_is_shown_escaped():
    description = description_of(order(**{"\u202ebad\n\x00": 1, "k" * 100: 2}))

    assert "'\\u202ebad\\n\\x00': is not a known field" in description
    assert "k" * 65 not in description
    assert description.isascii()
