"""The ChaosCampaign keywords judge a campaign's result and its nemesis's record."""

from __future__ import annotations

import json
import sys

import pytest

from campaign.history import FAULT_START, FAULT_STOP, INFO, INVOKE, OK, write_history
from tests.unit.campaign_builders import History
from tests.unit.robot_libraries import load_library

ChaosCampaign = load_library("ChaosCampaign")


class Metadata:
    """Stands in for BuiltIn: the keywords only set the suite's metadata through it."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def set_suite_metadata(self, name: str, value: str, top: bool = False) -> None:
        self.values[name] = value


@pytest.fixture
def metadata(monkeypatch) -> Metadata:
    recorder = Metadata()
    monkeypatch.setattr(sys.modules["ChaosCampaign"], "BuiltIn", lambda: recorder)
    return recorder


def result(mode: str, valid: bool = True, **counts: int) -> dict:
    return {
        "mode": mode,
        "valid": valid,
        "verdict": f"verdict of {mode}",
        "operations": 100,
        "acknowledged": 40,
        "counts": counts,
        "per1000": {},
        "delaysMs": {"p50": 1, "p99": 2, "max": 3},
    }


def test_dual_write_with_lost_and_phantom_events_passes_and_sets_the_verdict(metadata):
    ChaosCampaign().campaign_should_show_dual_write_anomalies(
        result("dual-write", lost=2, phantom=5)
    )
    assert metadata.values["Verdict (campaign, dual-write)"] == "verdict of dual-write"


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        (result("dual-write", phantom=5), "no lost event"),
        (result("dual-write", lost=2), "no phantom event"),
        (result("dual-write", False, lost=2, phantom=5), "the history and the final read disagree"),
        (result("outbox", lost=2, phantom=5), "expected a dual-write campaign"),
    ],
)
def test_dual_write_without_both_anomalies_or_inconsistent_fails(metadata, outcome, message):
    with pytest.raises(AssertionError, match=message):
        ChaosCampaign().campaign_should_show_dual_write_anomalies(outcome)


def test_a_valid_outbox_passes(metadata):
    ChaosCampaign().campaign_should_be_a_valid_outbox(result("outbox", delivered=40))
    assert metadata.values["Verdict"] == "verdict of outbox"


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        (result("outbox", phantom=1), "1 phantom"),
        (result("outbox", lost=3), "3 lost"),
        (result("outbox", False, duplicate=1), "invalid"),
        ({**result("outbox"), "acknowledged": 0}, "no order was acknowledged"),
    ],
)
def test_an_outbox_with_any_anomaly_fails(metadata, outcome, message):
    with pytest.raises(AssertionError, match=message):
        ChaosCampaign().campaign_should_be_a_valid_outbox(outcome)


def _campaign_folder(tmp_path, healed: bool):
    history = History()
    history.op("nemesis", INVOKE, FAULT_START, fault="pg-pause")
    history.op("nemesis", OK, FAULT_START, fault="pg-pause")
    history.op("nemesis", INVOKE, FAULT_STOP, fault="pg-pause")
    history.op("nemesis", OK if healed else INFO, FAULT_STOP, fault="pg-pause")
    write_history(tmp_path / "history.jsonl", history.ops)
    schedule = [{"fault": "pg-pause", "target": "postgres", "start": 1.0, "end": 4.0}]
    (tmp_path / "campaign.json").write_text(json.dumps({"schedule": schedule}))
    return {"directory": str(tmp_path)}


def test_every_fault_healed_counts_the_faults(tmp_path):
    assert ChaosCampaign().every_fault_should_have_healed(_campaign_folder(tmp_path, True)) == 1


def test_a_fault_that_did_not_heal_fails(tmp_path):
    with pytest.raises(AssertionError, match=r"healed \[\]"):
        ChaosCampaign().every_fault_should_have_healed(_campaign_folder(tmp_path, False))
