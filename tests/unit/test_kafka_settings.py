"""The producer configuration (``service.adapters.kafka.producer_settings``): pure, no broker."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.adapters.kafka import DELIVERY_REPORT_MARGIN_MS, producer_settings
from service.config import Config, load_config

# librdkafka looks for timed-out messages about once a second, so the report of one comes
# up to this late after its message timeout (the reason for the margin, see producer_settings).
TIMEOUT_SCAN_MS = 1000


def accepted_range(field: str) -> tuple[int, int]:
    """Return the smallest and largest value the configuration accepts for ``field``."""
    metadata = Config.model_fields[field].metadata
    # pydantic keeps Field(ge=..., le=...) as one constraint object each.
    low = next(m.ge for m in metadata if hasattr(m, "ge"))
    high = next(m.le for m in metadata if hasattr(m, "le"))
    return low, high


MIN_TIMEOUT, MAX_TIMEOUT = accepted_range("kafka_publish_timeout_ms")
MIN_LINGER, MAX_LINGER = accepted_range("kafka_linger_ms")
# The bounds, both sides of twice the margin (where half the publish timeout takes over),
# the default, and some between.
ACCEPTED_TIMEOUTS = sorted(
    {MIN_TIMEOUT, MIN_TIMEOUT + 1, 2199, 2200, 2201, 3000, 5000, 30_000, MAX_TIMEOUT}
)


@pytest.mark.parametrize("timeout_ms", ACCEPTED_TIMEOUTS)
def test_message_timeout_never_exceeds_the_publish_timeout(timeout_ms):
    settings = producer_settings("localhost:9092", timeout_ms, 0)

    assert 0 < settings["message.timeout.ms"] <= timeout_ms
    assert 0 < settings["request.timeout.ms"] <= timeout_ms


@pytest.mark.parametrize("timeout_ms", ACCEPTED_TIMEOUTS)
def test_a_timed_out_message_is_reported_before_the_request_stops_waiting(timeout_ms):
    message_timeout_ms = producer_settings("localhost:9092", timeout_ms, 0)["message.timeout.ms"]

    # Late by up to one scan, the report still comes before the request gives up; and the
    # producer keeps trying as long as the margin allows, not shorter.
    assert message_timeout_ms + TIMEOUT_SCAN_MS <= timeout_ms
    assert message_timeout_ms >= timeout_ms - DELIVERY_REPORT_MARGIN_MS


def test_the_default_publish_timeout_keeps_the_whole_margin():
    default = Config().kafka_publish_timeout_ms

    settings = producer_settings("localhost:9092", default, 0)

    assert DELIVERY_REPORT_MARGIN_MS > TIMEOUT_SCAN_MS
    assert (default, settings["message.timeout.ms"]) == (5000, 3900)
    assert settings["request.timeout.ms"] == settings["message.timeout.ms"]


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


def _config(timeout_ms: int, linger_ms: int) -> Config:
    return load_config(
        {"MARS_KAFKA_PUBLISH_TIMEOUT_MS": str(timeout_ms), "MARS_KAFKA_LINGER_MS": str(linger_ms)}
    )


# The corners of what the configuration accepts: the shortest message timeout against the
# longest linger is the combination that could break librdkafka's rule.
@pytest.mark.parametrize(
    ("timeout_ms", "linger_ms"),
    [
        (MIN_TIMEOUT, MAX_LINGER),
        (MIN_TIMEOUT, MIN_LINGER),
        (MAX_TIMEOUT, MAX_LINGER),
        (5000, 0),
    ],
)
def test_every_accepted_configuration_gives_a_linger_below_the_message_timeout(
    timeout_ms, linger_ms
):
    config = _config(timeout_ms, linger_ms)

    settings = producer_settings(
        config.kafka_bootstrap_servers, config.kafka_publish_timeout_ms, config.kafka_linger_ms
    )

    assert (settings["linger.ms"], config.kafka_publish_timeout_ms) == (linger_ms, timeout_ms)
    assert settings["message.timeout.ms"] > settings["linger.ms"]


@pytest.mark.parametrize(
    ("timeout_ms", "linger_ms", "field"),
    [
        (5000, 1000, "kafka_linger_ms"),
        (2000, 999, "kafka_linger_ms"),
        (2000, 1000, "kafka_linger_ms"),
        (5000, MAX_LINGER + 1, "kafka_linger_ms"),
        (1000, 800, "kafka_publish_timeout_ms"),
        (MIN_TIMEOUT - 1, 0, "kafka_publish_timeout_ms"),
    ],
)
def test_a_linger_or_publish_timeout_out_of_range_is_refused_at_start(timeout_ms, linger_ms, field):
    with pytest.raises(ValidationError) as refused:
        _config(timeout_ms, linger_ms)

    assert field in {str(error["loc"][0]) for error in refused.value.errors()}
