"""The lost-event proof: each order's fate, judged by reading the topic after the fault.

A publish that failed is not yet a lost event. Against a paused broker the publish times
out and the event still arrives later; only the topic, read after the fault healed and
after the producer gave up on the message, says whether it arrived.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from evidence.checks import Check, judged
from evidence.positions import Position, position_text

DELIVERED = "delivered"
LOST = "lost"
INDETERMINATE = "indeterminate"

# The phases whose faults lose a dual write's event: the broker unreachable, stopped, or
# refusing acks=all for too few in-sync replicas. After a timed-out publish to a paused
# broker, and in a leader failover, dual write may deliver, lose or duplicate: what
# happened is reported, not judged. The outbox delivers every order of every phase.
OUTAGE = "outage"
STOPPED = "stopped"
UNDER_REPLICATED = "under-replicated"
PAUSED = "paused"
FAILOVER = "failover"
LOSING_PHASES = frozenset({OUTAGE, STOPPED, UNDER_REPLICATED})
REPORTED_PHASES = frozenset({PAUSED, FAILOVER})

CONFIRMED = "LOST EVENT CONFIRMED"
NO_LOSS = "NO LOST EVENT"
UNEXPECTED = "UNEXPECTED"


@dataclass
class PlacedOrder:
    """One ``POST /orders`` of the run and what was observed about it."""

    order_id: str
    phase: str
    status_code: int
    seconds: float
    service_logged_loss: bool | None = None
    rows: int | None = None
    fate: str | None = None
    position: Position | None = None
    fate_note: str = ""
    copies: int = 0
    event_ids: tuple[str, ...] = ()

    @property
    def duplicated(self) -> bool:
        """Tell whether the topic holds more than one event for the order."""
        return self.copies > 1

    @property
    def where(self) -> str:
        """Return where the topic holds the order's event (``partition/offset``), or ``""``."""
        return position_text(self.position, missing="")


@dataclass
class LostEventRun:
    """Everything one lost-event run measured."""

    started_at: datetime
    mode: str
    fault: str
    orders: list[PlacedOrder] = field(default_factory=list)
    health_during_fault: str | None = None
    health_after_fault: str | None = None
    delivery_bound_seconds: float | None = None

    def in_phase(self, phase: str) -> list[PlacedOrder]:
        """Return the orders placed in one phase (baseline, outage, after, paused)."""
        return [o for o in self.orders if o.phase == phase]

    def tally(self, phase: str | None = None) -> dict[str, int]:
        """Count the fates, of every order or of one phase."""
        orders = self.orders if phase is None else self.in_phase(phase)
        counts = {DELIVERED: 0, LOST: 0, INDETERMINATE: 0}
        for order in orders:
            counts[order.fate or INDETERMINATE] += 1
        return counts

    def checks(self, *, expect_loss: bool) -> list[Check]:
        """Return the checks behind the verdict: an order during the outage, and each order.

        Each order is expected to answer 201, be in the database, and have the fate its
        phase calls for. An order whose rows were not counted, or whose fate the topic could
        not tell (indeterminate), is NOT CHECKED rather than passed.
        """
        outage = len(self.in_phase(OUTAGE))
        return [
            Check("Orders placed during the outage", "at least 1", str(outage), outage > 0),
            *(self._order_check(order, expect_loss) for order in self.orders),
        ]

    def verdict(self, *, expect_loss: bool) -> tuple[str, list[str]]:
        """Judge the run.

        With ``expect_loss`` (dual write), every order placed while the broker was
        unreachable must be committed and lost, and the orders before and after it
        delivered. Without it (outbox), every committed order must be delivered.
        """
        reasons = []
        for order in self.orders:
            if order.status_code != 201:
                reasons.append(
                    f"order {order.order_id} ({order.phase}) got HTTP {order.status_code}"
                )
            if not order.rows:
                reasons.append(f"order {order.order_id} ({order.phase}) is not in the database")
            if order.fate in (None, INDETERMINATE):
                reasons.append(
                    f"order {order.order_id} ({order.phase}) is indeterminate: {order.fate_note}"
                )
        outage = self.in_phase(OUTAGE)
        if not outage:
            reasons.append("no order was placed during the outage")
        for order in self.orders:
            wanted = _wanted_fate(order, expect_loss)
            if wanted is not None and order.fate in (DELIVERED, LOST) and order.fate != wanted:
                reasons.append(
                    f"order {order.order_id} ({order.phase}) was {order.fate}, expected {wanted}"
                )
            if not expect_loss and len(order.event_ids) > 1:
                reasons.append(
                    f"order {order.order_id} ({order.phase}) has {len(order.event_ids)} "
                    "different eventIds: a redelivery must repeat the same event"
                )
        if reasons:
            return UNEXPECTED, reasons
        return (CONFIRMED if expect_loss else NO_LOSS), []

    def _order_check(self, order: PlacedOrder, expect_loss: bool) -> Check:
        wanted = _wanted_fate(order, expect_loss)
        rows = "rows not counted" if order.rows is None else f"{order.rows} row(s)"
        fate = order.fate or "not read from the topic"
        wrong_fate = wanted is not None and order.fate in (DELIVERED, LOST) and order.fate != wanted
        return Check(
            f"order {order.order_id} ({order.phase})",
            f"HTTP 201, in the database, {wanted or 'delivered or lost (reported)'}",
            f"HTTP {order.status_code}, {rows}, {fate}",
            judged(
                order.status_code != 201 or order.rows == 0 or wrong_fate,
                order.rows is None or order.fate in (None, INDETERMINATE),
            ),
            order.fate_note,
        )


def _wanted_fate(order: PlacedOrder, expect_loss: bool) -> str | None:
    if not expect_loss:
        return DELIVERED
    if order.phase in REPORTED_PHASES:
        return None
    return LOST if order.phase in LOSING_PHASES else DELIVERED


def copies_note(order: PlacedOrder) -> str:
    """Say how often the topic holds the order's event when more than once, else ``""``."""
    if not order.duplicated:
        return ""
    ids = "the same eventId" if len(order.event_ids) <= 1 else f"{len(order.event_ids)} eventIds"
    return f"on the topic {order.copies} times, with {ids}"
