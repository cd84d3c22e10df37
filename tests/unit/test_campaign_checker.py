"""The campaign's checker on hand-written histories, each with one anomaly planted, and its CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from campaign.__main__ import main
from campaign.checker import CheckResult, check
from campaign.final_read import (
    DUAL_WRITE,
    OUTBOX,
    Event,
    FinalRead,
    FinalReadError,
    ProcessedCancellation,
    Row,
    load_final_read,
    save_final_read,
)
from campaign.history import (
    CREATE,
    FAIL,
    FAULT_START,
    FAULT_STOP,
    INFO,
    INVOKE,
    OK,
    PHANTOM,
    HistoryError,
    HistoryWriter,
    Operation,
    pair_operations,
    read_history,
    write_history,
)
from evidence.quantiles import nearest_rank
from tests.unit.campaign_builders import History

CREATED_AT = "2026-12-01T10:00:00+00:00"
CREATED_AT_MS = 1_796_119_200_000


def row(order_id: str, key: str | None = None, status: str = "CREATED") -> Row:
    return Row(order_id, status, CREATED_AT, key or f"key-{order_id}")


def event(order_id: str, offset: int, partition: int = 0, event_id: str | None = None) -> Event:
    eid = event_id or f"evt-{order_id}"
    return Event(partition, offset, order_id, order_id, eid, CREATED_AT_MS + 5 + offset)


def delivered_order(history: History, final_rows: list, events: list, order_id: str) -> None:
    history.create(OK, order_id, f"key-{order_id}")
    final_rows.append(row(order_id))
    events.append(event(order_id, len(events)))


def run(history: History, mode: str = OUTBOX, rows=(), events=(), cancels=()) -> CheckResult:
    final = FinalRead(mode, list(rows), list(events), {0: 0}, list(cancels))
    return check(history.ops, final)


def kinds(result: CheckResult) -> list[str]:
    return [anomaly.kind for anomaly in result.anomalies]


def test_clean_outbox_history_is_valid():
    history, rows, events = History(), [], []
    delivered_order(history, rows, events, "o1")
    delivered_order(history, rows, events, "o2")
    history.cancel("o2", "cancel-o2")
    rows[1] = row("o2", status="CANCELLED")
    history.op("nemesis", INVOKE, FAULT_START, fault="broker-paused")
    history.op("nemesis", INFO, FAULT_START, fault="broker-paused")
    history.op("nemesis", INVOKE, FAULT_STOP, fault="broker-paused")
    history.op("nemesis", OK, FAULT_STOP, fault="broker-paused")
    result = run(
        history, rows=rows, events=events, cancels=[ProcessedCancellation("cancel-o2", "o2", 1)]
    )
    assert result.valid
    assert result.anomalies == []
    assert result.counts["delivered"] == 2
    assert result.counts["cancel-applied"] == 1
    assert result.verdict.startswith("OUTBOX VALID")


def test_acknowledged_order_without_event_is_lost_and_breaks_outbox():
    history = History()
    history.create(OK, "o1", "key-o1", process="client-7")
    result = run(history, rows=[row("o1")])
    assert kinds(result) == ["lost"]
    assert not result.valid
    lost = result.to_json()["anomalies"][0]
    assert lost["orderId"] == "o1"
    assert lost["row"]["status"] == "CREATED"
    assert [(op["index"], op["process"], op["type"], op["status"]) for op in lost["ops"]] == [
        (0, "client-7", INVOKE, None),
        (1, "client-7", OK, 201),
    ]
    assert result.verdict == "OUTBOX INVALID: 1 lost"


def test_phantom_event_is_attributed_to_the_phantom_op():
    history = History()
    history.phantom("p1")
    result = run(history, DUAL_WRITE, events=[event("p1", 4, partition=2)])
    (phantom,) = result.anomalies
    assert phantom.kind == "phantom"
    assert phantom.detail == {"causedBy": PHANTOM}
    assert phantom.events == [{"partition": 2, "offset": 4, "eventId": "evt-p1"}]
    assert [op["f"] for op in phantom.ops] == [PHANTOM, PHANTOM]
    assert result.valid


def test_phantom_event_without_any_op_is_unattributed():
    result = run(History(), OUTBOX, events=[event("stranger", 0)])
    assert kinds(result) == ["phantom"]
    assert result.anomalies[0].detail == {"causedBy": "unattributed"}
    assert result.anomalies[0].ops == []
    assert not result.valid


def test_redelivery_with_the_same_event_id_is_a_tolerated_duplicate():
    history = History()
    history.create(OK, "o1", "key-o1")
    events = [event("o1", 0), event("o1", 1)]
    result = run(history, rows=[row("o1")], events=events)
    assert kinds(result) == ["duplicate"]
    assert result.anomalies[0].detail == {"eventIdsDiffer": False}
    assert result.valid


def test_duplicate_with_different_event_ids_breaks_outbox():
    history = History()
    history.create(OK, "o1", "key-o1")
    events = [event("o1", 0), event("o1", 1, event_id="evt-second")]
    result = run(history, rows=[row("o1")], events=events)
    assert result.anomalies[0].detail == {"eventIdsDiffer": True}
    assert result.counts["duplicate-different-event-ids"] == 1
    assert not result.valid


def test_info_create_is_recovered_through_its_idempotency_key():
    history = History()
    history.create(INFO, None, "key-late")
    result = run(history, rows=[row("o9", key="key-late")], events=[event("o9", 0)])
    assert result.orders == {"o9": ["recovered", "delivered"]}
    assert result.valid


def test_info_create_without_row_or_event_is_absent_not_failed():
    history = History()
    history.create(INFO, None, "key-gone")
    result = run(history)
    assert result.counts["absent"] == 1
    assert result.anomalies == []
    assert result.valid


@pytest.mark.parametrize("mode", [DUAL_WRITE, OUTBOX])
def test_acknowledged_order_without_row_is_a_lost_write_in_every_mode(mode):
    history = History()
    history.create(OK, "o1", "key-o1")
    result = run(history, mode)
    assert kinds(result) == ["lost-write"]
    assert not result.valid
    assert "1 lost-write" in result.verdict


def test_failed_create_with_committed_row_is_failed_but_committed():
    history = History()
    history.create(FAIL, "o1", "key-o1")
    result = run(history, DUAL_WRITE, rows=[row("o1")])
    assert kinds(result) == ["failed-but-committed"]
    assert not result.valid


def test_acknowledged_cancel_whose_order_is_not_cancelled_is_not_applied():
    history, rows, events = History(), [], []
    delivered_order(history, rows, events, "o1")
    history.cancel("o1", "cancel-o1")
    result = run(history, rows=rows, events=events)
    assert kinds(result) == ["cancel-not-applied"]
    assert result.anomalies[0].detail == {"count": 0, "status": "CREATED"}
    assert not result.valid


def test_cancellation_processed_twice_is_applied_twice():
    history, rows, events = History(), [], []
    delivered_order(history, rows, events, "o1")
    history.cancel("o1", "cancel-o1")
    rows[0] = row("o1", status="CANCELLED")
    twice = [ProcessedCancellation("cancel-o1", "o1", 2)]
    result = run(history, DUAL_WRITE, rows=rows, events=events, cancels=twice)
    assert kinds(result) == ["cancel-applied-twice"]
    assert not result.valid


def test_events_of_one_order_on_two_partitions_are_split():
    history = History()
    history.create(OK, "o1", "key-o1")
    events = [event("o1", 0, partition=0), event("o1", 0, partition=1)]
    result = run(history, rows=[row("o1")], events=events)
    assert kinds(result) == ["duplicate", "order-split-across-partitions"]
    assert result.anomalies[1].detail == {"reason": "partitions"}
    assert not result.valid


def test_events_of_one_order_out_of_offset_order_are_reported():
    history = History()
    history.create(OK, "o1", "key-o1")
    events = [event("o1", 5), event("o1", 3)]
    result = run(history, rows=[row("o1")], events=events)
    assert result.anomalies[1].detail == {"reason": "offsets"}


def test_row_that_no_create_explains_is_unexpected():
    history = History()
    history.phantom("p1")
    result = run(history, DUAL_WRITE, rows=[row("p1")])
    assert kinds(result) == ["unexpected-row"]
    assert not result.valid


def test_dual_write_verdict_gives_lost_and_phantom_per_1000_orders():
    history, rows, events = History(), [], []
    for order_id in ("o1", "o2", "o3"):
        delivered_order(history, rows, events, order_id)
    history.create(OK, "o4", "key-o4")
    rows.append(row("o4"))
    history.phantom("p1")
    events.append(event("p1", 10))
    result = run(history, DUAL_WRITE, rows=rows, events=events)
    assert result.valid
    assert result.per_1000 == {"lost": 250.0, "phantom": 250.0, "duplicate": 0.0}
    assert result.verdict == (
        "DUAL WRITE ANOMALIES: 250.0 lost, 250.0 phantom per 1,000 orders (1 lost, 1 phantom)"
    )


def test_dual_write_without_anomaly_says_so():
    history, rows, events = History(), [], []
    delivered_order(history, rows, events, "o1")
    result = run(history, DUAL_WRITE, rows=rows, events=events)
    assert result.verdict == "NO DUAL WRITE ANOMALY OBSERVED"


def test_commit_to_event_delays_use_nearest_rank():
    history, rows, events = History(), [], []
    for order_id in ("o1", "o2", "o3", "o4"):
        delivered_order(history, rows, events, order_id)
    result = run(history, rows=rows, events=events)
    assert result.delays_ms == {"count": 4, "p50": 6.0, "p95": 8.0, "p99": 8.0, "max": 8.0}
    assert nearest_rank([1.0, 2.0, 3.0], 50) == 2.0


def test_completion_without_invoke_is_rejected():
    history = History()
    history.op("client-1", OK, CREATE, order_id="o1")
    with pytest.raises(HistoryError, match="without an invoke"):
        pair_operations(history.ops)


def test_invoke_never_completed_is_indeterminate():
    history = History()
    history.op("client-1", INVOKE, CREATE, idempotency_key="key-o1")
    (pair,) = pair_operations(history.ops)
    assert pair.outcome == INFO


def test_history_round_trips_through_the_writer(tmp_path):
    path = tmp_path / "history.jsonl"
    with HistoryWriter(path, clock=lambda: 1.5, wall_clock=lambda: CREATED_AT) as writer:
        writer.record("client-3", INVOKE, CREATE, idempotency_key="k1")
        written = writer.record("client-3", OK, CREATE, order_id="o1", status=201)
    with HistoryWriter(path) as writer:
        appended = writer.record("nemesis", INVOKE, FAULT_START, fault="postgres-paused")
    first_line = path.read_text(encoding="utf-8").splitlines()[1]
    assert json.loads(first_line) == {
        "process": "client-3",
        "type": OK,
        "f": CREATE,
        "index": 1,
        "time": 1.5,
        "wall": CREATED_AT,
        "orderId": "o1",
        "status": 201,
    }
    assert read_history(path)[1:] == [written, appended]
    assert appended.index == 2


def test_final_read_round_trips(tmp_path):
    path = tmp_path / "final-read.json"
    final = FinalRead(
        OUTBOX,
        [row("o1")],
        [event("o1", 7, partition=1)],
        {0: 12, 1: 7},
        [ProcessedCancellation("c1", "o1", 1)],
    )
    save_final_read(path, final)
    assert load_final_read(path) == final
    assert json.loads(path.read_text(encoding="utf-8"))["startOffsets"] == {"0": 12, "1": 7}


def test_final_read_with_unknown_mode_is_rejected(tmp_path):
    path = tmp_path / "final-read.json"
    path.write_text(json.dumps({"mode": "both", "rows": [], "events": []}), encoding="utf-8")
    with pytest.raises(FinalReadError, match="mode"):
        load_final_read(path)


def write_run(directory: Path, history: History, final: FinalRead) -> None:
    write_history(directory / "history.jsonl", history.ops)
    save_final_read(directory / "final-read.json", final)


def test_cli_writes_result_and_exits_0_when_valid(tmp_path, capsys):
    history, rows, events = History(), [], []
    delivered_order(history, rows, events, "o1")
    write_run(tmp_path, history, FinalRead(OUTBOX, rows, events))
    assert main(["check", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert result["valid"] is True
    assert result["counts"]["delivered"] == 1
    assert "OUTBOX VALID" in capsys.readouterr().out


def test_cli_exits_1_when_invalid(tmp_path):
    history = History()
    history.create(OK, "o1", "key-o1")
    write_run(tmp_path, history, FinalRead(OUTBOX, [row("o1")], []))
    assert main(["check", str(tmp_path)]) == 1
    result = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert result["anomalies"][0]["kind"] == "lost"


def test_cli_exits_2_on_a_missing_file(tmp_path, capsys):
    assert main(["check", str(tmp_path)]) == 2
    assert "history.jsonl" in capsys.readouterr().err
    assert not (tmp_path / "result.json").exists()


def test_cli_exits_2_on_a_bad_history_line(tmp_path, capsys):
    write_run(tmp_path, History(), FinalRead(OUTBOX))
    (tmp_path / "history.jsonl").write_text('{"process": "client-1"\n', encoding="utf-8")
    assert main(["check", str(tmp_path)]) == 2
    assert "history.jsonl:1" in capsys.readouterr().err


def test_checker_handles_200000_operations_quickly():
    ops, rows, events = [], [], []
    for number in range(100_000):
        order_id, process = f"o{number}", f"client-{number % 50}"
        ops.append(Operation(process, INVOKE, CREATE, 2 * number, 0.0, CREATED_AT, None, order_id))
        ops.append(
            Operation(process, OK, CREATE, 2 * number + 1, 0.0, CREATED_AT, order_id, None, 201)
        )
        rows.append(Row(order_id, "CREATED", CREATED_AT, order_id))
        events.append(Event(number % 6, number, order_id, order_id, order_id, CREATED_AT_MS))
    started = time.perf_counter()
    result = check(ops, FinalRead(OUTBOX, rows, events))
    elapsed = time.perf_counter() - started
    assert result.counts["delivered"] == 100_000
    assert elapsed < 20.0
