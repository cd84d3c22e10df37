"""The producer configuration (``service.adapters.kafka.producer_settings``): pure, no broker."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.adapters.kafka import producer_settings
from service.config import load_config


@pytest.mark.parametrize("timeout_ms", [2000, 2001, 2200, 3000, 5000, 30_000, 120_000])
def test_message_timeout_never_exceeds_the_publish_timeout(timeout_ms):
    settings = producer_settings("localhost:9092", timeout_ms, 0)

    assert 0 < settings["message.timeout.ms"] <= timeout_ms
    assert 0 < settings["request.timeout.ms"] <= timeout_ms


def test_message_timeout_leaves_time_before_the_request_stops_waiting():
    assert producer_settings("localhost:9092", 5000, 0)["message.timeout.ms"] < 5000


@pytest.mark.parametrize("linger_ms", [0, 5, 1000])
def test_linger_is_as_configured(linger_ms):
    assert producer_settings("localhost:9092", 5000, linger_ms)["linger.ms"] == linger_ms


def test_idempotence_is_off_and_every_replica_acknowledges():
    settings = producer_settings("localhost:9092", 5000, 0)

    assert settings["enable.idempotence"] is False
    assert settings["acks"] == "all"


def test_bootstrap_servers_are_passed_through():
    servers = "kafka-1:9092,kafka-2:9092"

    assert producer_settings(servers, 5000, 0)["bootstrap.servers"] == servers


def test_keys_are_partitioned_as_the_java_client_does():
    assert producer_settings("localhost:9092", 5000, 0)["partitioner"] == "murmur2_random"


@pytest.mark.parametrize(
    ("timeout_ms", "linger_ms"),
    [
        (5000, 0),
        (5000, 1000),
        (2000, 999),
        (1000, 800),
        (2000, 1000),
    ],
)
def test_every_accepted_configuration_gives_a_linger_below_the_message_timeout(
    timeout_ms, linger_ms
):
    try:
        config = load_config(
            {
                "MARS_KAFKA_PUBLISH_TIMEOUT_MS": str(timeout_ms),
                "MARS_KAFKA_LINGER_MS": str(linger_ms),
            }
        )
    except ValidationError:
        return  # refusing the combination at start is a correct answer too
    settings = producer_settings(
        config.kafka_bootstrap_servers, config.kafka_publish_timeout_ms, config.kafka_linger_ms
    )

    assert settings["message.timeout.ms"] > settings["linger.ms"]
