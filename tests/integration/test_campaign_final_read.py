"""The final read on the real stack, judged by the checker: a small dual-write history.

Three orders placed and one phantom event forced through the app on the real PostgreSQL and
broker, while another client writes to the same table and topic; the final read keeps only
the campaign's customer, and ``python -m campaign check`` names the phantom.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from campaign.__main__ import main
from campaign.collect import collect_final_read, record_start_offsets
from campaign.final_read import save_final_read
from campaign.history import HistoryWriter
from tests.integration.helpers import order_body, wait_for


def test_the_final_read_keeps_the_campaign_s_orders_and_the_checker_names_the_phantom(
    tmp_path: Path, client, config, created_events
) -> None:
    customer = str(uuid.uuid4())
    offsets = record_start_offsets(config.kafka_bootstrap_servers)
    with HistoryWriter(tmp_path / "history.jsonl") as history:
        placed = [_create(client, history, customer) for _ in range(3)]
        phantom = _phantom(client, history, customer)
        other = client.simulate_post("/orders", json=order_body()).json["orderId"]
    wait_for(
        lambda: {*placed, phantom, other} <= _order_ids(created_events, offsets),
        20,
        "the events of the campaign's orders and of the other client's",
    )

    final = collect_final_read(
        mode="dual-write",
        database_url=config.database_url,
        bootstrap_servers=config.kafka_bootstrap_servers,
        customer_ids=[customer],
        start_offsets=offsets,
    )
    save_final_read(tmp_path / "final-read.json", final)
    status = main(["check", str(tmp_path)])
    result = json.loads((tmp_path / "result.json").read_text())

    assert sorted(row.order_id for row in final.rows) == sorted(placed)
    assert sorted(event.order_id for event in final.events) == sorted([*placed, phantom])
    assert status == 0 and result["valid"] is True
    assert result["counts"]["delivered"] == 3
    assert result["counts"]["phantom"] == 1
    assert result["verdict"].startswith("DUAL WRITE ANOMALIES")
    [anomaly] = [a for a in result["anomalies"] if a["kind"] == "phantom"]
    assert anomaly["orderId"] == phantom


def _create(client, history: HistoryWriter, customer: str) -> str:
    key = str(uuid.uuid4())
    history.record("client-0", "invoke", "create", idempotency_key=key)
    response = client.simulate_post(
        "/orders", json={**order_body(), "customerId": customer}, headers={"Idempotency-Key": key}
    )
    order_id = response.json["orderId"]
    history.record("client-0", "ok", "create", order_id=order_id, status=201, idempotency_key=key)
    return order_id


def _phantom(client, history: HistoryWriter, customer: str) -> str:
    history.record("client-1", "invoke", "phantom")
    response = client.simulate_post(
        "/chaos/phantom-event", json={**order_body(), "customerId": customer}
    )
    order_id = response.json["orderId"]
    history.record("client-1", "ok", "phantom", order_id=order_id, status=response.status_code)
    return order_id


def _order_ids(created_events, offsets: dict[int, int]) -> set[str]:
    return {record.order_id for record in created_events.read_since(offsets)}
