"""``GET /actuator/health``: UP, DOWN naming the failing component, and bounded in time."""

from __future__ import annotations

import time


def refusing_probe(timeout: float) -> dict[str, object]:
    raise ConnectionRefusedError("connection refused at localhost:9092")


def silent_failing_probe(timeout: float) -> dict[str, object]:
    raise ConnectionResetError()


def timed_out_probe(timeout: float) -> dict[str, object]:
    raise TimeoutError("connect to localhost:5432 timed out")


def test_health_is_up_when_every_probe_answers(make_client, health_checks):
    client = make_client(health=health_checks({"db": lambda t: {"version": "16.4"}}))

    response = client.simulate_get("/actuator/health")

    assert response.status_code == 200
    assert response.json == {
        "status": "UP",
        "components": {"db": {"status": "UP", "details": {"version": "16.4"}}},
    }


def test_probes_get_a_timeout_shorter_than_the_deadline(make_client, health_checks):
    client = make_client(health=health_checks())

    components = client.simulate_get("/actuator/health").json["components"]

    for component in ("db", "kafka"):
        assert 0 < components[component]["details"]["checkedWithin"] < 1.5


def test_health_is_down_naming_the_failing_component(make_client, health_checks):
    check = health_checks({"db": lambda t: {"version": "16.4"}, "kafka": refusing_probe})
    client = make_client(health=check)

    response = client.simulate_get("/actuator/health")

    assert response.status_code == 503
    assert response.json["status"] == "DOWN"
    assert response.json["components"]["db"]["status"] == "UP"
    assert response.json["components"]["kafka"] == {
        "status": "DOWN",
        "details": {"error": "connection refused at localhost:9092"},
    }


def test_error_without_a_message_is_still_described(make_client, health_checks):
    client = make_client(health=health_checks({"db": silent_failing_probe}))

    details = client.simulate_get("/actuator/health").json["components"]["db"]["details"]

    assert details == {"error": "ConnectionResetError()"}


def test_probe_that_fails_with_its_own_timeout_error_is_reported_with_it(
    make_client, health_checks
):
    client = make_client(health=health_checks({"db": timed_out_probe}))

    details = client.simulate_get("/actuator/health").json["components"]["db"]["details"]

    assert details == {"error": "connect to localhost:5432 timed out"}


def test_health_answers_in_time_when_a_probe_hangs(make_client, health_checks, hanging_probe):
    client = make_client(
        health=health_checks({"db": hanging_probe, "kafka": lambda t: {"brokers": 1}})
    )

    started = time.monotonic()
    response = client.simulate_get("/actuator/health")
    elapsed = time.monotonic() - started

    assert elapsed < 2.5
    assert response.status_code == 503
    assert response.json["components"]["db"]["status"] == "DOWN"
    assert "no answer within" in response.json["components"]["db"]["details"]["error"]
    assert response.json["components"]["kafka"]["status"] == "UP"


def test_health_answers_within_its_deadline_when_every_probe_hangs(
    make_client, health_checks, hanging_probe
):
    # A short deadline keeps this quick; the margin is for scheduling, not for a second wait.
    client = make_client(
        health=health_checks({"db": hanging_probe, "kafka": hanging_probe}, deadline=0.5)
    )

    started = time.monotonic()
    response = client.simulate_get("/actuator/health")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert elapsed < 0.8
