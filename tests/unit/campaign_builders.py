"""Hand-built campaign histories and folders, for the checker's, page's and browser's tests."""

from __future__ import annotations

import json
from pathlib import Path

from campaign.checker import LOST, PHANTOM_EVENT, check
from campaign.final_read import DUAL_WRITE, Event, FinalRead, Row
from campaign.history import (
    CANCEL,
    CREATE,
    FAIL,
    FAULT_START,
    FAULT_STOP,
    INFO,
    INVOKE,
    OK,
    PHANTOM,
    Operation,
    write_history,
)

START = 1000.0
WALL = "2026-12-01T16:00:00+00:00"
CREATED_AT_MS = 1_796_140_800_000
HOSTILE_ERROR = "<script>alert(1)</script>"
HOSTILE_INFO = "<img src=x onerror=alert(2)>"
DELIVERED_ID = "11111111-1111-1111-1111-111111111111"
LOST_ID = "22222222-2222-2222-2222-222222222222"
PHANTOM_ID = "33333333-3333-3333-3333-333333333333"
SCHEDULE = [
    {"fault": "pg-pause", "start": 0.5, "end": 1.25, "target": "postgres"},
    {"fault": "proxy-cut", "start": 2.0, "end": 3.5, "target": "kafka"},
]
CLIENT_OPERATIONS = 5


class History:
    """Builds a history the way the runner writes one: per process an invoke, then its end.

    An operation's time is ``start`` plus ``at`` seconds, or 10 ms a line when ``at`` is
    left out.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.start = start
        self.ops: list[Operation] = []

    def op(
        self, process: str, type_: str, f: str, *, at: float | None = None, **fields: object
    ) -> Operation:
        index = len(self.ops)
        moment = self.start + (at if at is not None else index * 0.01)
        operation = Operation(process, type_, f, index, moment, WALL, **fields)
        self.ops.append(operation)
        return operation

    def call(self, process: str, f: str, at: float, took: float, outcome: str, **fields: object):
        key = fields.pop("idempotency_key", None)
        self.op(process, INVOKE, f, at=at, idempotency_key=key)
        self.op(process, outcome, f, at=at + took, **fields)

    def create(self, outcome: str, order_id: str | None, key: str, process: str = "client-1"):
        self.op(process, INVOKE, CREATE, idempotency_key=key)
        status = {OK: 201, FAIL: 400, INFO: None}[outcome]
        return self.op(process, outcome, CREATE, order_id=order_id, status=status)

    def phantom(self, order_id: str, process: str = "client-2") -> Operation:
        self.op(process, INVOKE, PHANTOM)
        return self.op(process, OK, PHANTOM, order_id=order_id, status=500)

    def cancel(self, order_id: str, event_id: str, process: str = "client-1") -> Operation:
        self.op(process, INVOKE, CANCEL, order_id=order_id)
        return self.op(process, OK, CANCEL, order_id=order_id, status=200, event_id=event_id)


def campaign_json(**overrides: object) -> dict[str, object]:
    return {
        "mode": DUAL_WRITE,
        "seed": 7,
        "seconds": 4.0,
        "clients": 4,
        "instances": 2,
        "kafkaEngine": "tansu",
        "faults": ["pg-pause", "proxy-cut"],
        "startedAt": WALL,
        "startMonotonic": START,
        "databaseUrl": "postgresql://mars:***@127.0.0.1:5432/orders_db",
        "bootstrapServers": "127.0.0.1:9193",
        "schedule": SCHEDULE,
        **overrides,
    }


def write_small_campaign(directory: Path) -> Path:
    """Write a campaign with every outcome, two fault bands, a lost and a phantom order."""
    history = History(START)
    history.op("nemesis", INVOKE, FAULT_START, at=0.5, fault="pg-pause")
    history.op("nemesis", INFO, FAULT_START, at=0.51, fault="pg-pause")
    ok = {"status": 201}
    history.call("client-1", CREATE, 0.1, 0.02, OK, order_id=DELIVERED_ID, **ok)
    history.call("client-2", CREATE, 0.6, 0.004, FAIL, status=400, error="quantity must be > 0")
    history.call("client-3", CREATE, 0.7, 0.5, INFO, idempotency_key="k-3", error=HOSTILE_INFO)
    history.op("nemesis", INVOKE, FAULT_STOP, at=1.25, fault="pg-pause")
    history.op("nemesis", OK, FAULT_STOP, at=1.26, fault="pg-pause")
    history.call("client-1", CREATE, 2.1, 0.3, OK, order_id=LOST_ID, **ok)
    history.call(
        "client-4", PHANTOM, 2.6, 0.05, OK, order_id=PHANTOM_ID, status=500, error=HOSTILE_ERROR
    )
    created_at = "2026-12-01T16:00:00.100000+00:00"
    final = FinalRead(
        DUAL_WRITE,
        rows=[Row(DELIVERED_ID, "CREATED", created_at), Row(LOST_ID, "CREATED", created_at)],
        events=[
            Event(0, 4, DELIVERED_ID, DELIVERED_ID, "evt-delivered", CREATED_AT_MS + 120),
            Event(1, 9, PHANTOM_ID, PHANTOM_ID, "evt-phantom", CREATED_AT_MS + 2700),
        ],
    )
    result = check(history.ops, final)
    assert sorted(anomaly.kind for anomaly in result.anomalies) == [LOST, PHANTOM_EVENT]
    directory.mkdir(parents=True, exist_ok=True)
    write_history(directory / "history.jsonl", history.ops)
    (directory / "result.json").write_text(json.dumps(result.to_json()), encoding="utf-8")
    (directory / "campaign.json").write_text(json.dumps(campaign_json()), encoding="utf-8")
    return directory


def write_large_campaign(directory: Path, orders: int) -> None:
    """Write ``orders`` creates (all ok but every 100th failed) and a result naming none."""
    ops = []
    for number in range(orders):
        process, at = f"client-{number % 4}", START + number * 0.001
        order_id = f"order-{number}"
        outcome = FAIL if number % 100 == 0 else OK
        ops.append(Operation(process, INVOKE, CREATE, 2 * number, at, WALL))
        ops.append(Operation(process, outcome, CREATE, 2 * number + 1, at + 0.003, WALL, order_id))
    result = {
        "mode": DUAL_WRITE,
        "valid": True,
        "verdict": "NO DUAL WRITE ANOMALY OBSERVED",
        "operations": len(ops),
        "acknowledged": orders,
        "counts": {"delivered": orders},
        "per1000": {LOST: 0.0, PHANTOM_EVENT: 0.0},
        "delaysMs": {"count": 0, "p50": None, "p99": None, "max": None},
        "anomalies": [],
    }
    directory.mkdir(parents=True, exist_ok=True)
    write_history(directory / "history.jsonl", ops)
    (directory / "result.json").write_text(json.dumps(result), encoding="utf-8")
    (directory / "campaign.json").write_text(
        json.dumps(campaign_json(seconds=orders * 0.001)), encoding="utf-8"
    )
