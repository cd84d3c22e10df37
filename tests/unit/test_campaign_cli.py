"""The campaign's command line and the choices made before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaign.__main__ import _options, main
from campaign.schedule import faults_for_engine
from campaign.services import service_env
from campaign.targets import TargetsError, check_addresses


def test_the_defaults_run_every_fault_the_engine_allows_into_results():
    options = _options(["--mode", "outbox", "--kafka-engine", "kafka"])
    assert options.faults == faults_for_engine("kafka")
    assert options.out == Path("results/campaign/outbox")
    assert (options.seconds, options.clients, options.instances) == (30.0, 4, 2)
    assert options.workload.rate is None


def test_faults_are_a_comma_list_or_none():
    assert _options(
        ["--mode", "dual-write", "--faults", "pg-pause, proxy-cut,pg-pause"]
    ).faults == (
        "pg-pause",
        "proxy-cut",
    )
    assert _options(["--mode", "dual-write", "--faults", "none"]).faults == ()


@pytest.mark.parametrize(
    "arguments",
    [
        ["--mode", "both"],
        ["--mode", "outbox", "--instances", "3"],
        ["--mode", "outbox", "--seconds", "0"],
        ["--mode", "outbox", "--phantom-share", "0.8", "--cancel-share", "0.5"],
        ["--mode", "outbox", "--kafka-engine", "redpanda"],
    ],
)
def test_bad_arguments_exit_2_before_anything_starts(arguments, capsys):
    with pytest.raises(SystemExit) as exited:
        main(arguments)
    assert exited.value.code == 2
    assert capsys.readouterr().err


def test_a_fault_the_engine_does_not_allow_exits_2_naming_the_engine(tmp_path, capsys):
    arguments = ["--mode", "outbox", "--faults", "leader-kill", "--kafka-engine", "tansu"]
    status = main([*arguments, "--out", str(tmp_path)])
    assert status == 2
    assert "leader-kill needs the Kafka engine kafka-cluster" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [], "nothing was started or written"


def test_an_address_for_a_server_the_faults_need_to_own_is_refused():
    with pytest.raises(TargetsError, match="--database-url"):
        check_addresses(["pg-pause"], "postgresql://elsewhere/db", None)
    with pytest.raises(TargetsError, match="--bootstrap-servers"):
        check_addresses(["proxy-cut"], None, "broker:9092")
    check_addresses(["service-kill"], "postgresql://elsewhere/db", "broker:9092")


def test_instances_run_the_chaos_profile_and_the_outbox_only_in_outbox_mode():
    common = {"database_url": "db", "bootstrap_servers": "kafka", "consumer_group": "g"}
    assert service_env("dual-write", **common)["MARS_PROFILES_ACTIVE"] == "chaos"
    outbox = service_env("outbox", **common)
    assert outbox["MARS_PROFILES_ACTIVE"] == "chaos,outbox"
    assert outbox["MARS_KAFKA_CONSUMER_GROUP"] == "g"


def test_service_settings_reach_the_instances_but_never_override_the_campaigns_own():
    options = _options(
        ["--mode", "dual-write", "--service-setting", "MARS_KAFKA_PUBLISH_TIMEOUT_MS=2000"]
    )
    assert options.service_settings == {"MARS_KAFKA_PUBLISH_TIMEOUT_MS": "2000"}
    env = service_env(
        "dual-write",
        database_url="db",
        bootstrap_servers="kafka",
        consumer_group="g",
        settings={"MARS_KAFKA_PUBLISH_TIMEOUT_MS": "2000", "MARS_LOG_LEVEL": "INFO"},
    )
    assert env["MARS_KAFKA_PUBLISH_TIMEOUT_MS"] == "2000"
    assert env["MARS_LOG_LEVEL"] == "INFO"


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("PUBLISH_TIMEOUT=2000", "a service setting is MARS_NAME=value"),
        ("MARS_KAFKA_PUBLISH_TIMEOUT_MS", "a service setting is MARS_NAME=value"),
        ("MARS_DATABASE_URL=postgresql://elsewhere/db", "MARS_DATABASE_URL is the campaign's own"),
    ],
)
def test_a_bad_service_setting_exits_2_saying_why(pair, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--mode", "outbox", "--service-setting", pair])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
