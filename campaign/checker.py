"""The campaign's checker: a pure function of the history and the final read.

Every order is classified from what the clients saw (the history) and what the systems hold
after the heal (the final read), in the spirit of Jepsen's ``total-queue`` checker: an
acknowledged order must be delivered, an event needs a committed row, an indeterminate (``info``)
operation is resolved by the final read and never counted as failed.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from campaign.final_read import DUAL_WRITE, Event, FinalRead, Row
from campaign.history import CANCEL, CREATE, INFO, OK, PHANTOM, Operation, Pair, pair_operations
from evidence.quantiles import nearest_rank
from service.domain.model import OrderStatus

# Outcomes of an order that are no anomaly by themselves.
DELIVERED = "delivered"
RECOVERED = "recovered"
ABSENT = "absent"
CANCEL_APPLIED = "cancel-applied"

# Anomalies, each reported with its evidence.
LOST = "lost"
LOST_WRITE = "lost-write"
PHANTOM_EVENT = "phantom"
DUPLICATE = "duplicate"
FAILED_BUT_COMMITTED = "failed-but-committed"
CANCEL_NOT_APPLIED = "cancel-not-applied"
CANCEL_APPLIED_TWICE = "cancel-applied-twice"
ORDER_SPLIT = "order-split-across-partitions"
UNEXPECTED_ROW = "unexpected-row"
# A count beside DUPLICATE: the duplicates that carry more than one eventId.
DUPLICATE_NEW_EVENT_ID = "duplicate-different-event-ids"

# Broken in every mode: the history and the final read disagree about what happened.
ALWAYS_INVALID = (
    LOST_WRITE,
    FAILED_BUT_COMMITTED,
    CANCEL_NOT_APPLIED,
    CANCEL_APPLIED_TWICE,
    ORDER_SPLIT,
    UNEXPECTED_ROW,
)
# Expected of dual write under faults, forbidden in outbox mode.
OUTBOX_INVALID = (LOST, PHANTOM_EVENT)
UNATTRIBUTED = "unattributed"


@dataclass(frozen=True)
class Anomaly:
    """One anomaly with its evidence: the ops, the row and the events of one order."""

    kind: str
    order_id: str | None
    ops: list[dict[str, Any]] = field(default_factory=list)
    row: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self, *, invalidating: bool) -> dict[str, Any]:
        """Return the anomaly's JSON object, saying whether it breaks the verdict."""
        return {
            "kind": self.kind,
            "orderId": self.order_id,
            "invalidating": invalidating,
            "ops": self.ops,
            "row": self.row,
            "events": self.events,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class CheckResult:
    """The checker's verdict, counts, commit-to-event delays and anomalies."""

    mode: str
    valid: bool
    verdict: str
    operations: int
    acknowledged: int
    counts: dict[str, int]
    per_1000: dict[str, float | None]
    delays_ms: dict[str, float | int | None]
    anomalies: list[Anomaly]
    orders: dict[str, list[str]]

    def is_invalidating(self, anomaly: Anomaly) -> bool:
        """Return whether this anomaly breaks the verdict in this result's mode."""
        return _is_invalidating(self.mode, anomaly)

    def to_json(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dict."""
        return {
            "mode": self.mode,
            "valid": self.valid,
            "verdict": self.verdict,
            "operations": self.operations,
            "acknowledged": self.acknowledged,
            "counts": self.counts,
            "per1000": self.per_1000,
            "delaysMs": self.delays_ms,
            "anomalies": [
                anomaly.to_json(invalidating=self.is_invalidating(anomaly))
                for anomaly in self.anomalies
            ],
            "orders": self.orders,
        }


def _is_invalidating(mode: str, anomaly: Anomaly) -> bool:
    if anomaly.kind in ALWAYS_INVALID:
        return True
    if mode == DUAL_WRITE:
        return False
    if anomaly.kind == DUPLICATE:
        # At-least-once redelivery repeats the same eventId; a second eventId is a second write.
        return bool(anomaly.detail["eventIdsDiffer"])
    return anomaly.kind in OUTBOX_INVALID


def _events(events: list[Event]) -> list[dict[str, Any]]:
    return [{"partition": e.partition, "offset": e.offset, "eventId": e.event_id} for e in events]


def _row(row: Row | None) -> dict[str, Any] | None:
    return row.to_json() if row is not None else None


def _ops(pairs: list[Pair]) -> list[dict[str, Any]]:
    return [op for pair in pairs for op in pair.evidence()]


class _Check:
    """The state of one check: indexes built once, then one pass per kind of evidence."""

    def __init__(self, history: list[Operation], final: FinalRead) -> None:
        self.final = final
        self.operations = len(history)
        self.rows = {row.order_id: row for row in final.rows}
        self.rows_by_key = {row.idempotency_key: row for row in final.rows if row.idempotency_key}
        self.events: dict[str, list[Event]] = defaultdict(list)
        for event in final.events:
            self.events[event.order_id].append(event)
        self.creates: dict[str, list[Pair]] = defaultdict(list)
        self.phantom_ops: dict[str, list[Pair]] = defaultdict(list)
        self.cancels: list[Pair] = []
        self.unknown_creates: list[Pair] = []
        for pair in pair_operations(history):
            self._index(pair)
        self.anomalies: list[Anomaly] = []
        self.labels: dict[str, list[str]] = defaultdict(list)
        self.counts: dict[str, int] = defaultdict(int)
        self.delays: list[float] = []
        self.acknowledged = 0

    def _index(self, pair: Pair) -> None:
        f = pair.invoke.f
        if f == CREATE:
            order_id = pair.order_id
            if order_id is None and pair.idempotency_key in self.rows_by_key:
                # An info create never learnt its orderId; the row's idempotency key names it.
                order_id = self.rows_by_key[pair.idempotency_key].order_id
            if order_id is None:
                self.unknown_creates.append(pair)
            else:
                self.creates[order_id].append(pair)
        elif f == PHANTOM and pair.order_id is not None:
            self.phantom_ops[pair.order_id].append(pair)
        elif f == CANCEL:
            self.cancels.append(pair)

    def add(self, kind: str, order_id: str | None, pairs: list[Pair], **detail: Any) -> None:
        """Record an anomaly with the order's ops, row and events as evidence."""
        row = self.rows.get(order_id) if order_id is not None else None
        events = self.events.get(order_id, []) if order_id is not None else []
        self.anomalies.append(
            Anomaly(kind, order_id, _ops(pairs), _row(row), _events(events), detail)
        )
        self.count(kind, order_id)

    def count(self, label: str, order_id: str | None) -> None:
        """Count one outcome and label the order with it."""
        self.counts[label] += 1
        if order_id is not None:
            self.labels[order_id].append(label)

    def run(self) -> None:
        """Classify every create, event, row and cancellation once."""
        for order_id, pairs in self.creates.items():
            self._classify_create(order_id, pairs)
        for pair in self.unknown_creates:
            self._classify_unknown_create(pair)
        for order_id, events in self.events.items():
            self._check_events(order_id, events)
        for order_id in self.rows.keys() - self.creates.keys():
            self.add(UNEXPECTED_ROW, order_id, self.phantom_ops.get(order_id, []))
        self._check_cancellations()

    def _classify_create(self, order_id: str, pairs: list[Pair]) -> None:
        outcomes = {pair.outcome for pair in pairs}
        row = self.rows.get(order_id)
        if OK in outcomes:
            self.acknowledged += 1
            if row is None:
                self.add(LOST_WRITE, order_id, pairs)
            else:
                self._delivered_or_lost(order_id, row, pairs)
        elif INFO in outcomes:
            if row is not None:
                self.count(RECOVERED, order_id)
                self._delivered_or_lost(order_id, row, pairs)
            elif order_id not in self.events:
                self.count(ABSENT, order_id)
        elif row is not None:
            self.add(FAILED_BUT_COMMITTED, order_id, pairs)

    def _classify_unknown_create(self, pair: Pair) -> None:
        if pair.outcome == OK:
            # A 201 without an orderId, whose key matches no row: nothing of it was kept.
            self.acknowledged += 1
            self.add(LOST_WRITE, None, [pair], idempotencyKey=pair.idempotency_key)
        elif pair.outcome == INFO:
            self.count(ABSENT, None)

    def _delivered_or_lost(self, order_id: str, row: Row, pairs: list[Pair]) -> None:
        events = self.events.get(order_id)
        if not events:
            self.add(LOST, order_id, pairs)
            return
        self.count(DELIVERED, order_id)
        first = min(event.timestamp_ms for event in events)
        self.delays.append(first - row.created_at_ms())

    def _check_events(self, order_id: str, events: list[Event]) -> None:
        if order_id not in self.rows:
            causes = self.phantom_ops.get(order_id) or self.creates.get(order_id) or []
            cause = causes[0].invoke.f if causes else UNATTRIBUTED
            self.add(PHANTOM_EVENT, order_id, causes, causedBy=cause)
        if len(events) > 1:
            event_ids = {event.event_id for event in events}
            self.add(
                DUPLICATE,
                order_id,
                self.creates.get(order_id, []),
                eventIdsDiffer=len(event_ids) > 1,
            )
        partitions = {event.partition for event in events}
        if len(partitions) > 1:
            self.add(ORDER_SPLIT, order_id, self.creates.get(order_id, []), reason="partitions")
        elif any(a.offset >= b.offset for a, b in itertools.pairwise(events)):
            self.add(ORDER_SPLIT, order_id, self.creates.get(order_id, []), reason="offsets")

    def _check_cancellations(self) -> None:
        processed = {entry.event_id: entry for entry in self.final.processed_cancellations}
        reported: set[str] = set()
        cancels_by_event = {pair.event_id: pair for pair in self.cancels if pair.event_id}
        for pair in self.cancels:
            if pair.outcome != OK:
                continue
            order_id = pair.order_id
            entry = processed.get(pair.event_id) if pair.event_id else None
            count = entry.count if entry is not None else 0
            row = self.rows.get(order_id) if order_id is not None else None
            status = row.status if row is not None else None
            if count == 0 or status != OrderStatus.CANCELLED:
                self.add(CANCEL_NOT_APPLIED, order_id, [pair], count=count, status=status)
            elif count > 1:
                self.add(CANCEL_APPLIED_TWICE, order_id, [pair], count=count)
            else:
                self.count(CANCEL_APPLIED, order_id)
            if pair.event_id:
                reported.add(pair.event_id)
        for entry in self.final.processed_cancellations:
            # Exactly once holds for every cancellation the consumer saw, acknowledged or not.
            if entry.count > 1 and entry.event_id not in reported:
                cancel = cancels_by_event.get(entry.event_id)
                pairs = [cancel] if cancel is not None else []
                self.add(CANCEL_APPLIED_TWICE, entry.order_id, pairs, count=entry.count)


def _per_1000(count: int, acknowledged: int) -> float | None:
    return round(count * 1000.0 / acknowledged, 3) if acknowledged else None


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _verdict(mode: str, valid: bool, counts: dict[str, int], per_1000: dict[str, Any]) -> str:
    broken = [f"{counts[kind]} {kind}" for kind in ALWAYS_INVALID if counts.get(kind)]
    if mode == DUAL_WRITE:
        if counts[LOST] or counts[PHANTOM_EVENT]:
            text = (
                f"DUAL WRITE ANOMALIES: {_figure(per_1000[LOST])} lost, "
                f"{_figure(per_1000[PHANTOM_EVENT])} phantom per 1,000 orders "
                f"({counts[LOST]} lost, {counts[PHANTOM_EVENT]} phantom)"
            )
        else:
            text = "NO DUAL WRITE ANOMALY OBSERVED"
        return text if valid else f"{text}; INCONSISTENT HISTORY: {', '.join(broken)}"
    if valid:
        return "OUTBOX VALID: every acknowledged order delivered, no lost, no phantom"
    outbox_broken = [f"{counts[kind]} {kind}" for kind in OUTBOX_INVALID if counts.get(kind)]
    if counts.get(DUPLICATE_NEW_EVENT_ID):
        outbox_broken.append(f"{counts[DUPLICATE_NEW_EVENT_ID]} duplicate with new eventId")
    return f"OUTBOX INVALID: {', '.join(outbox_broken + broken)}"


def check(history: list[Operation], final: FinalRead) -> CheckResult:
    """Classify every order of a campaign and judge the run in the final read's mode.

    Args:
        history: The operations in file order (invokes and completions of every process).
        final: What PostgreSQL and Kafka held for the campaign's orders after the heal.

    Returns:
        The verdict, counts per category and per 1,000 acknowledged orders, the commit-to-event
        delays over delivered orders, and every anomaly with its evidence.

    Raises:
        HistoryError: The history breaks the pairing rules (see ``pair_operations``).
    """
    state = _Check(history, final)
    state.run()
    counts: dict[str, int] = defaultdict(int, state.counts)
    counts[DUPLICATE_NEW_EVENT_ID] = sum(
        1 for a in state.anomalies if a.kind == DUPLICATE and a.detail["eventIdsDiffer"]
    )
    mode = final.mode
    valid = not any(_is_invalidating(mode, anomaly) for anomaly in state.anomalies)
    per_1000 = {
        kind: _per_1000(counts[kind], state.acknowledged)
        for kind in (LOST, PHANTOM_EVENT, DUPLICATE)
    }
    delays = sorted(state.delays)
    delays_ms = {
        "count": len(delays),
        "p50": nearest_rank(delays, 50) if delays else None,
        "p95": nearest_rank(delays, 95) if delays else None,
        "p99": nearest_rank(delays, 99) if delays else None,
        "max": delays[-1] if delays else None,
    }
    return CheckResult(
        mode=mode,
        valid=valid,
        verdict=_verdict(mode, valid, counts, per_1000),
        operations=state.operations,
        acknowledged=state.acknowledged,
        counts=dict(sorted(counts.items())),
        per_1000=per_1000,
        delays_ms=delays_ms,
        anomalies=state.anomalies,
        orders=dict(state.labels),
    )
