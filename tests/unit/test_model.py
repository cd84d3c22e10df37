"""Orders, items and events: the business rules of the domain."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

import pytest

from service.domain.errors import InvalidOrder
from service.domain.events import OrderCreated
from service.domain.model import (
    MAX_ITEMS,
    MAX_QUANTITY,
    MAX_TOTAL,
    MAX_UNIT_PRICE,
    Order,
    OrderItem,
    OrderStatus,
)

from .conftest import NOW


def an_item(quantity=1, unit_price="10.00") -> OrderItem:
    return OrderItem(uuid4(), quantity, Decimal(unit_price))


def an_order(*items: OrderItem) -> Order:
    return Order.place(uuid4(), uuid4(), items or (an_item(),), NOW)


def test_order_total_is_the_sum_of_quantity_times_unit_price():
    order = an_order(an_item(2, "149.95"), an_item(3, "0.10"))

    assert order.total == Decimal("300.20")


def test_new_order_is_created_at_its_placement_time():
    order = an_order()

    assert order.status is OrderStatus.CREATED
    assert order.created_at == order.updated_at == NOW


@pytest.mark.parametrize("quantity", [1, MAX_QUANTITY])
def test_quantity_within_limits_is_accepted(quantity):
    assert an_item(quantity).quantity == quantity


@pytest.mark.parametrize("quantity", [0, -1, MAX_QUANTITY + 1])
def test_quantity_outside_limits_is_rejected(quantity):
    with pytest.raises(InvalidOrder) as caught:
        an_item(quantity)

    assert caught.value.field == "quantity"


@pytest.mark.parametrize("quantity", [True, 2.0, "2", Decimal(2)])
def test_quantity_must_be_an_integer(quantity):
    with pytest.raises(InvalidOrder, match="quantity: must be an integer"):
        an_item(quantity)


@pytest.mark.parametrize("price", ["0.01", "1", "149.95", str(MAX_UNIT_PRICE)])
def test_unit_price_within_limits_is_accepted(price):
    assert an_item(unit_price=price).unit_price == Decimal(price)


@pytest.mark.parametrize("price", ["0", "0.00", "-1.00", "0.001", "100000000.00"])
def test_unit_price_outside_limits_is_rejected(price):
    with pytest.raises(InvalidOrder) as caught:
        an_item(unit_price=price)

    assert caught.value.field == "unitPrice"


@pytest.mark.parametrize("price", ["1.005", "149.951", "10.0000001"])
def test_unit_price_with_more_than_two_decimals_is_rejected(price):
    with pytest.raises(InvalidOrder, match="at most 2 decimal places"):
        an_item(unit_price=price)


def test_unit_price_with_trailing_zero_decimals_is_accepted():
    assert an_item(unit_price="1.5000").unit_price == Decimal("1.5")


def test_order_without_items_is_rejected():
    with pytest.raises(InvalidOrder) as caught:
        Order.place(uuid4(), uuid4(), (), NOW)

    assert caught.value.field == "items"


def test_order_with_the_maximum_number_of_items_is_accepted():
    assert len(an_order(*[an_item()] * MAX_ITEMS).items) == MAX_ITEMS


def test_order_with_too_many_items_is_rejected():
    with pytest.raises(InvalidOrder, match=f"at most {MAX_ITEMS} items"):
        an_order(*[an_item()] * (MAX_ITEMS + 1))


def test_the_largest_order_fits_the_total_column_exactly():
    # The limits are chosen so that no order valid item by item is refused for its total,
    # and its total survives a JSON reader's binary float.
    largest = an_order(*[an_item(MAX_QUANTITY, str(MAX_UNIT_PRICE))] * MAX_ITEMS)

    assert largest.total == MAX_ITEMS * MAX_QUANTITY * MAX_UNIT_PRICE
    assert largest.total <= MAX_TOTAL
    assert Decimal(repr(float(largest.total))) == largest.total


def test_invalid_order_names_its_field_in_the_message():
    error = InvalidOrder("unitPrice", "must be positive")

    assert str(error) == "unitPrice: must be positive"
    assert (error.field, error.message) == ("unitPrice", "must be positive")


def test_cancel_moves_the_order_to_cancelled_at_the_given_time():
    order = an_order()
    later = NOW + timedelta(minutes=5)

    cancelled = order.cancelled(later)

    assert cancelled.status is OrderStatus.CANCELLED
    assert cancelled.updated_at == later
    assert cancelled.created_at == NOW
    assert (cancelled.id, cancelled.items, cancelled.total) == (order.id, order.items, order.total)


def test_cancel_leaves_the_original_order_unchanged():
    order = an_order()

    order.cancelled(NOW + timedelta(minutes=5))

    assert order.status is OrderStatus.CREATED
    assert order.updated_at == NOW


def test_cancel_is_idempotent():
    once = an_order().cancelled(NOW + timedelta(minutes=5))

    twice = once.cancelled(NOW + timedelta(hours=1))

    assert twice is once
    assert twice.updated_at == NOW + timedelta(minutes=5)


def test_order_created_event_carries_the_order_data():
    order = an_order(an_item(2, "149.95"))
    event_id = uuid4()

    event = OrderCreated.of(order, event_id, NOW)

    assert event.event_id == event_id
    assert event.order_id == order.id
    assert event.customer_id == order.customer_id
    assert event.total_amount == Decimal("299.90")
    assert event.items == order.items
    assert event.occurred_at == NOW
