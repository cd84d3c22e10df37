"""The campaign page drawn from a hand-built campaign directory, checked by the real checker."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from campaign.history import (
    CREATE,
    FAIL,
    INFO,
    INVOKE,
    OK,
    Operation,
    Pair,
)
from campaign.page import CampaignPageError, write_campaign_page
from campaign.page_charts import MAX_POINTS, sample
from campaign.page_tables import MAX_ANOMALY_ROWS
from tests.unit.campaign_builders import (
    CLIENT_OPERATIONS,
    HOSTILE_ERROR,
    HOSTILE_INFO,
    LOST_ID,
    PHANTOM_ID,
    START,
    WALL,
    campaign_json,
    write_large_campaign,
    write_small_campaign,
)


@pytest.fixture
def small_page(tmp_path: Path) -> str:
    page = write_campaign_page(write_small_campaign(tmp_path / "run"))
    assert page == tmp_path / "run" / "campaign.html"
    return page.read_text(encoding="utf-8")


def test_page_shows_the_verdict_and_the_run(small_page):
    assert "DUAL WRITE ANOMALIES" in small_page
    assert ">VALID</b>" in small_page
    assert "tansu" in small_page
    assert "Chaos campaign: dual-write, seed 7" in small_page


def test_page_names_every_anomaly_with_its_sql(small_page):
    assert small_page.count("<tr class='invalidating'>") == 0
    for order_id in (LOST_ID, PHANTOM_ID):
        assert f"WHERE id = &#x27;{order_id}&#x27;" in small_page
    assert "no event" in small_page
    assert "no row" in small_page
    assert "eventId evt-phantom" in small_page


def test_page_lists_the_schedule_with_its_seed(small_page):
    assert "Fault schedule (seed 7)" in small_page
    assert "<td>pg-pause</td><td>postgres</td><td>0.50</td><td>1.25</td><td>0.75</td>" in small_page
    assert "<td>proxy-cut</td><td>kafka</td><td>2.00</td><td>3.50</td><td>1.50</td>" in small_page


def test_page_inlines_plotly_js_once(small_page):
    assert small_page.count("plotly.js v") == 1
    assert "cdn.plot.ly/plotly" not in small_page
    assert small_page.count('class="plotly-graph-div"') == 2


def test_page_escapes_what_the_history_says(small_page):
    assert HOSTILE_ERROR not in small_page
    assert HOSTILE_INFO not in small_page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in small_page


def test_small_history_is_drawn_whole(small_page):
    assert f"Every one of the {CLIENT_OPERATIONS} client operations is drawn." in small_page


def test_large_history_is_downsampled_and_says_so(tmp_path):
    write_large_campaign(tmp_path, 30_000)
    began = time.perf_counter()
    page = write_campaign_page(tmp_path).read_text(encoding="utf-8")
    assert time.perf_counter() - began < 10
    assert f"The timeline draws {MAX_POINTS:,} of 30,000 client operations" in page
    assert "The throughput chart counts all 30,000." in page


def pair(index: int, outcome: str, order_id: str) -> Pair:
    invoke = Operation("client-1", INVOKE, CREATE, 2 * index, float(index), WALL)
    completion = Operation("client-1", outcome, CREATE, 2 * index + 1, index + 0.5, WALL, order_id)
    return Pair(invoke, completion)


def test_sample_keeps_failures_and_anomalies_and_thins_ok_operations_evenly():
    pairs = [pair(i, FAIL if i % 10 == 0 else OK, f"o{i}") for i in range(1000)]
    chosen = sample(pairs, keep_orders={"o5"}, limit=200)
    orders = [p.order_id for p in chosen.pairs]
    assert len(orders) == 200
    assert chosen.downsampled
    assert {f"o{i}" for i in range(0, 1000, 10)} <= set(orders)
    assert "o5" in orders
    assert orders == sorted(orders, key=lambda order: int(order[1:]))
    assert sample(pairs, keep_orders={"o5"}, limit=200) == chosen


def test_sample_keeps_every_must_keep_operation_past_the_limit():
    pairs = [pair(i, INFO, f"o{i}") for i in range(50)]
    assert len(sample(pairs, keep_orders=set(), limit=10).pairs) == 50


def test_long_anomaly_list_is_cut_with_a_note(tmp_path):
    write_small_campaign(tmp_path)
    result = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    result["anomalies"] = result["anomalies"] * 300
    (tmp_path / "result.json").write_text(json.dumps(result), encoding="utf-8")
    page = write_campaign_page(tmp_path).read_text(encoding="utf-8")
    assert page.count("FROM orders WHERE id") == MAX_ANOMALY_ROWS
    assert f"{600 - MAX_ANOMALY_ROWS} more are in result.json" in page


@pytest.mark.parametrize("missing", ["history.jsonl", "result.json", "campaign.json"])
def test_missing_file_is_named(tmp_path, missing):
    write_small_campaign(tmp_path)
    (tmp_path / missing).unlink()
    with pytest.raises(CampaignPageError, match=f"{missing}: missing"):
        write_campaign_page(tmp_path)


def test_bad_history_line_is_named(tmp_path):
    write_small_campaign(tmp_path)
    with (tmp_path / "history.jsonl").open("a", encoding="utf-8") as stream:
        stream.write("not json\n")
    with pytest.raises(CampaignPageError, match=r"history\.jsonl:\d+"):
        write_campaign_page(tmp_path)


def test_unpaired_completion_is_named(tmp_path):
    write_small_campaign(tmp_path)
    with (tmp_path / "history.jsonl").open("a", encoding="utf-8") as stream:
        line = Operation("client-9", OK, CREATE, 99, START + 5, WALL).to_json()
        stream.write(json.dumps(line) + "\n")
    with pytest.raises(CampaignPageError, match=r"history\.jsonl: index 99: client-9 completes"):
        write_campaign_page(tmp_path)


def test_campaign_without_a_field_is_named(tmp_path):
    write_small_campaign(tmp_path)
    data = campaign_json()
    del data["seed"]
    (tmp_path / "campaign.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CampaignPageError, match=r"campaign\.json: missing field\(s\) seed"):
        write_campaign_page(tmp_path)


def test_campaign_with_a_bad_start_is_named(tmp_path):
    write_small_campaign(tmp_path)
    data = campaign_json(startMonotonic="soon")
    (tmp_path / "campaign.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CampaignPageError, match=r"campaign\.json: startMonotonic is not a number"):
        write_campaign_page(tmp_path)


def test_bad_schedule_entry_is_named(tmp_path):
    write_small_campaign(tmp_path)
    data = campaign_json(schedule=[{"fault": "pg-pause", "start": "soon", "end": 2}])
    (tmp_path / "campaign.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CampaignPageError, match="schedule entry 1"):
        write_campaign_page(tmp_path)
