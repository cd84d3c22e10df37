"""How a client classifies an answer: ok, fail (nothing happened) or info (unknown)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from campaign.clients import error_outcome, http_outcome
from campaign.history import FAIL, INFO, OK
from embedded_stack.net import free_port


def _response(status: int, body: bytes = b"", reason: str = "Reason") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = reason
    response._content = body
    return response


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, OK), (201, OK), (400, FAIL), (409, FAIL), (422, FAIL), (500, INFO), (503, INFO)],
)
def test_2xx_is_ok_4xx_fail_5xx_info(status, expected):
    assert http_outcome(_response(status, b"{}")).type == expected


def test_the_answer_keeps_the_body_and_names_the_error_by_its_title():
    outcome = http_outcome(_response(503, b'{"title": "Database unavailable", "orderId": "x"}'))
    assert (outcome.status, outcome.error, outcome.body) == (
        503,
        "Database unavailable",
        {"title": "Database unavailable", "orderId": "x"},
    )
    assert http_outcome(_response(502, b"<html>", reason="Bad Gateway")).error == "Bad Gateway"


@contextmanager
def _server(behaviour: str) -> Iterator[str]:
    """A loopback server that accepts and then never answers, or drops the connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    accepted: list[socket.socket] = []

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(connection)
            if behaviour == "drop":
                connection.recv(65536)
                connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def _outcome_of(url: str, timeout: float = 0.5):
    with pytest.raises(requests.RequestException) as raised:
        requests.post(url, json={}, timeout=timeout)
    return error_outcome(raised.value)


def test_a_refused_connection_sent_nothing_so_it_failed():
    outcome = _outcome_of(f"http://127.0.0.1:{free_port()}")
    assert outcome.type == FAIL
    assert "ConnectionError" in outcome.error


def test_no_answer_in_time_is_unknown():
    with _server("silent") as url:
        outcome = _outcome_of(url)
    assert outcome.type == INFO
    assert "ReadTimeout" in outcome.error


def test_a_connection_dropped_after_the_request_is_unknown():
    with _server("drop") as url:
        outcome = _outcome_of(url)
    assert outcome.type == INFO
    assert "ConnectionError" in outcome.error
