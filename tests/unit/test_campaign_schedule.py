"""The nemesis's schedule: drawn from the seed alone, one fault at a time, healed in time."""

from __future__ import annotations

import itertools

import pytest

from campaign.schedule import (
    FAULTS,
    LEADER_KILL,
    SERVICE_KILL,
    ScheduleError,
    check_faults,
    faults_for_engine,
    plan_schedule,
)

TANSU_FAULTS = faults_for_engine("tansu")


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another():
    first = plan_schedule(7, 300, TANSU_FAULTS, 2)
    assert first == plan_schedule(7, 300, TANSU_FAULTS, 2)
    assert first != plan_schedule(8, 300, TANSU_FAULTS, 2)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("seconds", [20, 30, 300])
def test_windows_never_overlap_and_the_last_heals_before_a_quiet_tail(seed, seconds):
    windows = plan_schedule(seed, seconds, TANSU_FAULTS, 2)
    assert windows, "a run of 20 s or more has room for a fault"
    for window in windows:
        assert 0 < window.start < window.end
    for earlier, later in itertools.pairwise(windows):
        assert earlier.end < later.start
    assert windows[-1].end <= seconds - max(1.0, seconds * 0.1)


def test_every_kind_comes_once_before_any_comes_again():
    windows = plan_schedule(3, 600, TANSU_FAULTS, 2)
    kinds = len(TANSU_FAULTS)
    for start in range(0, len(windows) - kinds + 1, kinds):
        assert {w.fault for w in windows[start : start + kinds]} == set(TANSU_FAULTS)


def test_a_service_kill_names_one_of_the_instances_and_other_faults_none():
    windows = plan_schedule(5, 600, TANSU_FAULTS, 2)
    kills = [w for w in windows if w.fault == SERVICE_KILL]
    assert {w.instance for w in kills} == {0, 1}
    assert all(w.instance is None for w in windows if w.fault != SERVICE_KILL)
    assert {w.instance for w in plan_schedule(5, 600, [SERVICE_KILL], 1)} == {0}


def test_no_faults_or_a_run_too_short_gives_an_empty_schedule():
    assert plan_schedule(1, 300, [], 1) == []
    assert plan_schedule(1, 2, TANSU_FAULTS, 1) == []


def test_engines_allow_their_faults_and_refusals_name_what_would_do():
    assert LEADER_KILL not in TANSU_FAULTS
    assert faults_for_engine("kafka-cluster") == FAULTS
    with pytest.raises(ScheduleError, match="leader-kill needs the Kafka engine kafka-cluster"):
        check_faults([LEADER_KILL], "kafka")
    with pytest.raises(ScheduleError, match="unknown fault 'pg-explode'"):
        check_faults(["pg-explode"], "tansu")
    check_faults(FAULTS, "kafka-cluster")


def test_a_window_says_its_target_in_json():
    window = plan_schedule(2, 300, [SERVICE_KILL], 2)[0]
    assert window.to_json() == {
        "fault": SERVICE_KILL,
        "target": "service",
        "start": window.start,
        "end": window.end,
        "instance": window.instance,
    }
