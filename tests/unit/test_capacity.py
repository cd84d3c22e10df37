"""Capacity and limits: the pool covers every thread, health keeps threads of its own."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from service.config import load_config
from service.server import PriorityLaneDispatcher


@pytest.mark.parametrize(
    ("environ", "needed"),
    [
        ({"MARS_HTTP_THREADS": "8", "MARS_DB_POOL_SIZE": "8"}, 9),
        (
            {"MARS_HTTP_THREADS": "8", "MARS_DB_POOL_SIZE": "9", "MARS_PROFILES_ACTIVE": "outbox"},
            10,
        ),
        ({"MARS_HTTP_THREADS": "30"}, 31),
    ],
    ids=["dual-write", "outbox", "default-pool"],
)
def test_a_pool_smaller_than_the_threads_that_use_it_stops_the_start(environ, needed):
    with pytest.raises(ValidationError) as refused:
        load_config(environ)

    (error,) = refused.value.errors()
    assert error["loc"] == ("db_pool_size",)
    assert f"set it to at least {needed}" in error["msg"]
    assert "HTTP threads + 1 order.cancelled consumer" in error["msg"]


def test_the_default_pool_serves_the_default_threads_in_both_modes():
    assert load_config({}).db_pool_size == 10
    assert load_config({"MARS_PROFILES_ACTIVE": "outbox"}).db_pool_size == 10


def test_the_connection_limit_and_channel_timeout_are_settings():
    config = load_config({"MARS_HTTP_CONNECTION_LIMIT": "7", "MARS_HTTP_CHANNEL_TIMEOUT_S": "3"})
    assert (config.http_connection_limit, config.http_channel_timeout_s) == (7, 3)


class BlockingTask:
    """A waitress task (a channel with a pending request) that holds its thread until told."""

    def __init__(self, path: str, release: threading.Event) -> None:
        self.requests = [SimpleNamespace(path=path)]
        self.started = threading.Event()
        self._release = release

    def service(self) -> None:
        self.started.set()
        self._release.wait(10)

    def cancel(self) -> None:
        self._release.set()

    def defer(self) -> None:
        pass


def test_health_is_served_while_every_request_thread_is_busy():
    dispatcher = PriorityLaneDispatcher(threads=2)
    release = threading.Event()
    try:
        busy = [BlockingTask("/orders", release) for _ in range(3)]
        for task in busy:
            dispatcher.add_task(task)
        assert all(task.started.wait(5) for task in busy[:2])
        health = BlockingTask("/actuator/health", threading.Event())
        health.cancel()  # it returns at once when run

        dispatcher.add_task(health)

        assert health.started.wait(5), "health waited behind the busy request threads"
        assert not busy[2].started.is_set()
        assert dispatcher.busy()
    finally:
        release.set()
        dispatcher.shutdown(timeout=5)
