"""Business errors raised by the domain and the use cases."""


class DomainError(Exception):
    """Base class of the errors the domain raises on purpose."""


class InvalidOrder(DomainError):
    """An order breaks a business rule (quantity, price, total, items)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class OrderNotFound(DomainError):
    """No order has the requested id."""

    def __init__(self, order_id: object) -> None:
        super().__init__(f"no order with id {order_id}")
        self.order_id = order_id


class PublishFailed(DomainError):
    """The broker did not confirm an event: it may be lost, or may still arrive later."""


class DuplicateEvent(DomainError):
    """An event with this id was handled before: delivery is at least once, handling once."""

    def __init__(self, event_id: object) -> None:
        super().__init__(f"event {event_id} was already processed")
        self.event_id = event_id


class DatabaseUnavailable(DomainError):
    """The database could not be reached in time: nothing of this request was stored."""


class CommitOutcomeUnknown(DomainError):
    """The connection was lost while COMMIT was in flight: the change may or may not exist.

    Raised by the unit of work without an order id; the create-order use cases raise it
    again naming the order, so the caller can read ``GET /orders/{id}`` to learn the outcome.
    """

    def __init__(self, detail: str, order_id: object = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.order_id = order_id


class IdempotencyKeyReused(DomainError):
    """An ``Idempotency-Key`` came again with a different order than the one it created."""

    def __init__(self, key: str, order_id: object) -> None:
        super().__init__(
            f"the Idempotency-Key was first used for order {order_id} with another body; "
            "send a new key for a new order"
        )
        self.key = key
        self.order_id = order_id
