"""The events an order produces and consumes, and the topics they travel on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from service.domain.model import Order, OrderItem

# The topics of the design's fixed names: every adapter, the composition root and the tests
# take them from here.
ORDER_CREATED_TOPIC = "order.created"
ORDER_CANCELLED_TOPIC = "order.cancelled"


@dataclass(frozen=True)
class OrderCreated:
    """Published on ``order.created`` once an order is placed."""

    event_id: UUID
    order_id: UUID
    customer_id: UUID
    total_amount: Decimal
    items: tuple[OrderItem, ...]
    occurred_at: datetime

    @classmethod
    def of(cls, order: Order, event_id: UUID, now: datetime) -> OrderCreated:
        """Describe the placement of ``order``."""
        return cls(event_id, order.id, order.customer_id, order.total, order.items, now)


@dataclass(frozen=True)
class OrderCancelled:
    """Consumed from ``order.cancelled``: someone asks to cancel an order."""

    event_id: UUID
    order_id: UUID
    reason: str
    occurred_at: datetime
