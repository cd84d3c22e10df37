"""The ``MARS_*`` configuration, always read from an explicit mapping here."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.config import load_config
from service.conninfo import mask_password


def test_defaults_match_the_docker_compose_addresses():
    config = load_config({})

    assert config.database_url == "postgresql://mars:mars@localhost:5432/orders_db"
    assert config.kafka_bootstrap_servers == "localhost:9092"
    assert config.http_host == "127.0.0.1"
    assert config.http_port == 8082
    assert config.profiles_active == frozenset()
    assert not config.chaos_enabled


def test_mars_variables_override_the_defaults():
    config = load_config(
        {
            "MARS_DATABASE_URL": "postgresql://qa:secret@db.staging:5433/orders",
            "MARS_KAFKA_BOOTSTRAP_SERVERS": "kafka-1:9092,kafka-2:9092",
            "MARS_HTTP_HOST": "0.0.0.0",
            "MARS_HTTP_PORT": "9000",
            "MARS_KAFKA_LINGER_MS": "5",
        }
    )

    assert config.database_url == "postgresql://qa:secret@db.staging:5433/orders"
    assert config.kafka_bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert (config.http_host, config.http_port) == ("0.0.0.0", 9000)
    assert config.kafka_linger_ms == 5


def test_variables_without_the_mars_prefix_are_ignored():
    config = load_config({"DATABASE_URL": "postgresql://other/db", "HTTP_PORT": "1"})

    assert config.database_url == "postgresql://mars:mars@localhost:5432/orders_db"
    assert config.http_port == 8082


def test_an_explicit_mapping_ignores_the_process_environment(monkeypatch):
    monkeypatch.setenv("MARS_HTTP_PORT", "9999")
    monkeypatch.setenv("MARS_PROFILES_ACTIVE", "chaos")

    config = load_config({})

    assert config.http_port == 8082
    assert not config.chaos_enabled


def test_profiles_are_read_from_a_comma_list():
    config = load_config({"MARS_PROFILES_ACTIVE": "chaos, outbox"})

    assert config.profiles_active == frozenset({"chaos", "outbox"})
    assert config.chaos_enabled


@pytest.mark.parametrize("value", ["CHAOS", " chaos ,", ",chaos,,"])
def test_profiles_tolerate_case_spaces_and_empty_entries(value):
    assert load_config({"MARS_PROFILES_ACTIVE": value}).profiles_active == {"chaos"}


def test_empty_profile_list_activates_nothing():
    assert load_config({"MARS_PROFILES_ACTIVE": ""}).profiles_active == frozenset()


def test_unknown_profile_is_rejected_naming_it():
    with pytest.raises(ValidationError, match=r"unknown profile.*chaoss.*known: chaos, outbox"):
        load_config({"MARS_PROFILES_ACTIVE": "chaoss"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MARS_HTTP_PORT", "70000"),
        ("MARS_HTTP_PORT", "eighty"),
        ("MARS_MAX_BODY_BYTES", "100"),
        ("MARS_KAFKA_PUBLISH_TIMEOUT_MS", "0"),
        ("MARS_DB_POOL_SIZE", "0"),
    ],
)
def test_out_of_range_settings_are_rejected(name, value):
    with pytest.raises(ValidationError):
        load_config({name: value})


def test_config_is_frozen():
    config = load_config({})

    with pytest.raises(ValidationError):
        config.http_port = 1


def test_password_is_masked():
    config = load_config({})

    assert config.masked_database_url == "postgresql://mars:***@localhost:5432/orders_db"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://qa:p%40ss@db:5432/orders", "postgresql://qa:***@db:5432/orders"),
        ("postgresql://qa:p@ss@db/orders", "postgresql://qa:***@db/orders"),
        ("postgresql://qa@db/orders", "postgresql://qa@db/orders"),
        ("postgresql://db/orders", "postgresql://db/orders"),
        ("postgresql://:secret@db/orders", "postgresql://:***@db/orders"),
    ],
)
def test_mask_password_hides_only_the_password(url, masked):
    assert mask_password(url) == masked


def test_outbox_settings_have_defaults_and_the_profile_switches_the_mode():
    default = load_config({})
    outbox = load_config({"MARS_PROFILES_ACTIVE": "outbox"})

    assert not default.outbox_enabled
    assert outbox.outbox_enabled
    assert not outbox.chaos_enabled
    assert load_config({"MARS_PROFILES_ACTIVE": "chaos,outbox"}).outbox_enabled
    assert (
        default.outbox_poll_interval_ms,
        default.outbox_batch_size,
        default.outbox_backoff_max_ms,
    ) == (200, 100, 5000)


def test_outbox_settings_are_read_from_mars_variables():
    config = load_config(
        {
            "MARS_OUTBOX_POLL_INTERVAL_MS": "50",
            "MARS_OUTBOX_BATCH_SIZE": "500",
            "MARS_OUTBOX_BACKOFF_MAX_MS": "1000",
        }
    )

    assert (
        config.outbox_poll_interval_ms,
        config.outbox_batch_size,
        config.outbox_backoff_max_ms,
    ) == (50, 500, 1000)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MARS_OUTBOX_POLL_INTERVAL_MS", "0"),
        ("MARS_OUTBOX_POLL_INTERVAL_MS", "soon"),
        ("MARS_OUTBOX_BATCH_SIZE", "0"),
        ("MARS_OUTBOX_BATCH_SIZE", "100000"),
        ("MARS_OUTBOX_BACKOFF_MAX_MS", "10"),
    ],
)
def test_out_of_range_outbox_settings_are_rejected(name, value):
    with pytest.raises(ValidationError):
        load_config({name: value})


def test_backoff_shorter_than_the_poll_interval_is_rejected_naming_both():
    with pytest.raises(ValidationError) as caught:
        load_config({"MARS_OUTBOX_POLL_INTERVAL_MS": "2000", "MARS_OUTBOX_BACKOFF_MAX_MS": "1000"})

    [error] = caught.value.errors()
    assert error["loc"] == ("outbox_backoff_max_ms",)
    assert "MARS_OUTBOX_POLL_INTERVAL_MS" in error["msg"]
