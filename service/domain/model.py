"""Orders and their items, with the rules that keep them valid."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from service.domain.errors import InvalidOrder

# Every order within these limits can be stored and is exact in JSON. The columns (see
# migrations/V001) are quantity INTEGER, unit_price NUMERIC(10,2), total NUMERIC(14,2); the
# largest order, 100 items x 10,000 x 999,999.99 = 999,999,990,000.00, fits the total's
# 14 digits, and a decimal of up to 15 significant digits survives a JSON reader's binary
# float unchanged. So no order the API accepts item by item is refused for its total.
MAX_QUANTITY = 10_000
MAX_UNIT_PRICE = Decimal("999999.99")
MAX_TOTAL = Decimal("999999999999.99")
MAX_ITEMS = 100
CENT = Decimal("0.01")


class OrderStatus(enum.StrEnum):
    """The life cycle of an order."""

    CREATED = "CREATED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class OrderItem:
    """One product line of an order."""

    product_id: UUID
    quantity: int
    unit_price: Decimal

    def __post_init__(self) -> None:
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int):
            raise InvalidOrder("quantity", "must be an integer")
        if not 0 < self.quantity <= MAX_QUANTITY:
            raise InvalidOrder("quantity", f"must be between 1 and {MAX_QUANTITY}")
        if not CENT <= self.unit_price <= MAX_UNIT_PRICE:
            raise InvalidOrder("unitPrice", f"must be between 0.01 and {MAX_UNIT_PRICE}")
        if self.unit_price != self.unit_price.quantize(CENT):
            raise InvalidOrder("unitPrice", "must have at most 2 decimal places")

    @property
    def subtotal(self) -> Decimal:
        """Return quantity times unit price."""
        return self.unit_price * self.quantity


@dataclass
class Order:
    """An order placed by a customer."""

    id: UUID
    customer_id: UUID
    items: tuple[OrderItem, ...]
    status: OrderStatus
    created_at: datetime
    updated_at: datetime
    # The client's Idempotency-Key, when it sent one; unique among orders.
    idempotency_key: str | None = None
    total: Decimal = field(init=False)

    def __post_init__(self) -> None:
        if not self.items:
            raise InvalidOrder("items", "an order needs at least one item")
        if len(self.items) > MAX_ITEMS:
            raise InvalidOrder("items", f"an order holds at most {MAX_ITEMS} items")
        self.total = sum((item.subtotal for item in self.items), Decimal("0.00"))
        if self.total > MAX_TOTAL:
            raise InvalidOrder("items", f"the order total exceeds {MAX_TOTAL}")

    @classmethod
    def place(
        cls,
        order_id: UUID,
        customer_id: UUID,
        items: tuple[OrderItem, ...],
        now: datetime,
        idempotency_key: str | None = None,
    ) -> Order:
        """Create a new order in status CREATED."""
        return cls(
            order_id, customer_id, tuple(items), OrderStatus.CREATED, now, now, idempotency_key
        )

    def same_request_as(self, other: Order) -> bool:
        """Tell whether ``other`` asks for this order: same customer, same items in order.

        Amounts compare as numbers, so ``149.9`` and ``149.90`` are the same price.
        """
        return self.customer_id == other.customer_id and self.items == other.items

    def cancelled(self, now: datetime) -> Order:
        """Return this order moved to CANCELLED (unchanged if it already is)."""
        if self.status is OrderStatus.CANCELLED:
            return self
        return replace(self, status=OrderStatus.CANCELLED, updated_at=now)
