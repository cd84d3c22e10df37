"""Hostile requests: every one is a JSON 4xx that names the problem, never a 500.

Each body goes to ``POST /orders`` and ``POST /chaos/phantom-event``; none may write,
publish, or log an error (an uncaught exception is logged with its traceback).
"""

from __future__ import annotations

import json
import logging

import pytest
from falcon.testing import StartResponseMock, create_environ

from .payloads import CUSTOMER_ID, PRODUCT_ID

JSON = "application/json"
PATHS = ["/orders", "/chaos/phantom-event"]


def with_number(field: str, literal: str) -> str:
    """Return a valid body whose ``field`` (quantity or unitPrice) is the raw ``literal``."""
    values = {"quantity": "2", "unitPrice": "149.95", field: literal}
    return (
        f'{{"customerId": "{CUSTOMER_ID}", "items": [{{"productId": "{PRODUCT_ID}", '
        f'"quantity": {values["quantity"]}, "unitPrice": {values["unitPrice"]}}}]}}'
    )


def with_text(field: str, text: str) -> str:
    """Return a valid body whose ``field`` (customerId or productId) is the raw JSON ``text``."""
    ids = {"customerId": f'"{CUSTOMER_ID}"', "productId": f'"{PRODUCT_ID}"', field: text}
    return (
        f'{{"customerId": {ids["customerId"]}, "items": [{{"productId": {ids["productId"]}, '
        '"quantity": 2, "unitPrice": 1}]}'
    )


VALID = with_number("quantity", "2")
ITEM_WITHOUT_AMOUNTS = json.dumps({"productId": PRODUCT_ID})

# Number literals no Decimal context holds, or that no field accepts.
HOSTILE_NUMBERS = [
    "1e999999999999",
    "1E-999999999999",
    "1e9999999999999999999",
    "-1e-9999999999999999999",
    "1E+99999999999999999999999999",
    "1e-324",
    "5e-324",
    "-0",
    "-0.0",
    "0",
    "1" * 5000,
    "-" + "9" * 5000,
    "9" * 5000 + ".5",
    "0." + "0" * 5000 + "1",
    "1e400",
    "-1e400",
    "1.7976931348623157e309",
    "1.005",
    "1.000000000000000000000000000001",
    "NaN",
    "Infinity",
    "-Infinity",
    "0x10",
    "01",
    "+1",
    ".5",
    "1.",
    "1e",
    "--1",
    "1_000",
    "true",
    "null",
    '"2"',
    "[2]",
    "{}",
]

# (id, body, the word the description must contain)
HOSTILE_BODIES = [
    pytest.param("[]", "body", id="array"),
    pytest.param("null", "body", id="null"),
    pytest.param("true", "body", id="true"),
    pytest.param('"order"', "body", id="string"),
    pytest.param("42", "body", id="number"),
    pytest.param("{}", "required", id="empty-object"),
    pytest.param("[" * 60_000, "JSON", id="deep-arrays"),
    pytest.param('{"a":' * 12_000, "JSON", id="deep-objects"),
    pytest.param(VALID[:-1] + ', "x": ' + "[" * 500 + "]" * 500 + "}", "x", id="deep-extra-field"),
    pytest.param(
        with_text("customerId", "[" * 500 + "]" * 500), "customerId", id="deep-in-a-field"
    ),
    pytest.param(
        VALID.replace("{", f'{{"customerId": "{CUSTOMER_ID}", ', 1), "twice", id="duplicate-key"
    ),
    pytest.param(VALID.replace('"quantity": 2', '"quantity": 2, "quantity": 2'), "twice", id="dup"),
    pytest.param(VALID[:-1] + ', "x": {"a": 1, "a": 2}}', "twice", id="duplicate-key-deep"),
    pytest.param(with_text("customerId", '"\\ud800"'), "customerId", id="lone-surrogate-value"),
    pytest.param(VALID[:-1] + ', "\\udfff": 1}', "surrogate", id="lone-surrogate-key"),
    pytest.param(VALID[:-1] + ', "\\u202e\\u0000\\n": 1}', "known field", id="control-chars-key"),
    pytest.param(with_text("customerId", '"\\u0000"'), "customerId", id="escaped-nul"),
    pytest.param(VALID.replace(" ", "\x00", 1), "JSON", id="raw-nul"),
    pytest.param(with_text("customerId", '"\x01"'), "JSON", id="raw-control-char"),
    pytest.param("\ufeff" + VALID, "JSON", id="bom"),
    pytest.param(VALID.encode("utf-16"), "UTF-8", id="utf-16"),
    pytest.param(b"\xff\xfe\x00", "UTF-8", id="not-utf8"),
    pytest.param(b'{"customerId": "\xc0\xaf"}', "UTF-8", id="overlong-utf8"),
    pytest.param(b'{"customerId": "\xed\xa0\x80"}', "UTF-8", id="utf8-surrogate"),
    pytest.param(VALID.encode()[:-3], "JSON", id="truncated"),
    pytest.param(with_text("customerId", '"' + "a" * 60_000 + '"'), "customerId", id="long-str"),
    pytest.param(VALID[:-1] + ', "' + "k" * 60_000 + '": 1}', "known field", id="long-key"),
    pytest.param(with_text("customerId", '"' + CUSTOMER_ID.upper() + 'Z"'), "UUID", id="uuid-z"),
    pytest.param(with_text("productId", '"' + "0" * 32 + '"'), "productId", id="uuid-bare"),
    pytest.param(with_text("productId", "{}"), "productId", id="uuid-object"),
    pytest.param(with_text("productId", "12345678"), "productId", id="uuid-number"),
    pytest.param(with_text("productId", '"' + "x" * 16 + '"'), "productId", id="uuid-16-chars"),
    pytest.param(
        f'{{"customerId": "{CUSTOMER_ID}", "items": [{",".join(["1"] * 25_000)}]}}',
        "at most 100",
        id="huge-array",
    ),
    pytest.param(
        f'{{"customerId": "{CUSTOMER_ID}", "items": [{",".join([ITEM_WITHOUT_AMOUNTS] * 100)}]}}',
        "and 190 more problems",
        id="huge-array-of-items",
    ),
    pytest.param(f'{{"customerId": "{CUSTOMER_ID}", "items": {{}}}}', "items", id="items-object"),
    pytest.param(VALID.replace("[", "[[", 1).replace("]", "]]", 1), "items[0]", id="items-nested"),
]

HOSTILE_CONTENT_TYPES = [
    pytest.param("application/json; charset=utf-16", id="charset-utf16"),
    pytest.param("application/json; charset=latin-1", id="charset-latin1"),
    pytest.param("application/json-patch+json", id="json-patch"),
    pytest.param("text/json", id="text-json"),
    pytest.param("application/*", id="wildcard"),
    pytest.param("multipart/form-data; boundary=x", id="multipart"),
    pytest.param("", id="empty"),
]

HOSTILE_IDEMPOTENCY_KEYS = [
    pytest.param("", id="empty"),
    pytest.param("k" * 256, id="too-long"),
    pytest.param("caf\xe9", id="latin1"),
    pytest.param("a\x00b", id="nul"),
    pytest.param("a\tb", id="tab"),
    pytest.param("a\x7f", id="del"),
]


@pytest.fixture(params=PATHS)
def path(request):
    return request.param


@pytest.fixture
def app_client(path, make_client):
    """A client with both routes; the chaos route exists only with its profile."""
    return make_client({"MARS_PROFILES_ACTIVE": "chaos"})


@pytest.fixture
def no_error_logged(caplog):
    """Fail the test if anything is logged at ERROR (a 500 logs its traceback there)."""
    with caplog.at_level(logging.WARNING):
        yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage() for r in errors]


def assert_rejected(response, status=None, naming=None):
    assert 400 <= response.status_code < 500, response.text
    if status is not None:
        assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON
    body = json.loads(response.content.decode("ascii"))
    assert {"title", "description"} <= set(body)
    if naming is not None:
        assert naming in body["description"]


@pytest.mark.usefixtures("no_error_logged")
@pytest.mark.parametrize("field", ["quantity", "unitPrice"])
@pytest.mark.parametrize("literal", HOSTILE_NUMBERS, ids=lambda n: n[:24])
def test_numbers_no_field_takes_are_a_400(app_client, path, database, publisher, field, literal):
    response = app_client.simulate_post(
        path, body=with_number(field, literal), headers={"Content-Type": JSON}
    )

    assert_rejected(response, 400)
    assert database.untouched
    assert publisher.untouched


@pytest.mark.usefixtures("no_error_logged")
@pytest.mark.parametrize("field", ["customerId", "productId"])
@pytest.mark.parametrize("literal", HOSTILE_NUMBERS[:8], ids=lambda n: n[:24])
def test_numbers_in_the_id_fields_are_a_400(app_client, path, database, publisher, field, literal):
    response = app_client.simulate_post(
        path, body=with_text(field, literal), headers={"Content-Type": JSON}
    )

    assert_rejected(response, 400)
    # A number no Decimal holds is named while parsing, before any field is looked at.
    description = response.json["description"]
    assert field in description or "is out of range" in description
    assert database.untouched


@pytest.mark.usefixtures("no_error_logged")
@pytest.mark.parametrize(("body", "naming"), HOSTILE_BODIES)
def test_hostile_bodies_are_a_4xx_that_names_the_problem(
    app_client, path, database, publisher, body, naming
):
    response = app_client.simulate_post(path, body=body, headers={"Content-Type": JSON})

    assert_rejected(response, naming=naming)
    assert database.untouched
    assert publisher.untouched


@pytest.mark.usefixtures("no_error_logged")
@pytest.mark.parametrize("content_type", HOSTILE_CONTENT_TYPES)
def test_a_body_that_is_not_utf8_json_is_415(app_client, path, database, publisher, content_type):
    response = app_client.simulate_post(path, body=VALID, headers={"Content-Type": content_type})

    assert_rejected(response, 415, naming="application/json")
    assert database.untouched
    assert publisher.untouched


@pytest.mark.usefixtures("no_error_logged")
@pytest.mark.parametrize("key", HOSTILE_IDEMPOTENCY_KEYS)
def test_a_malformed_idempotency_key_is_a_400_naming_the_header(client, database, publisher, key):
    response = client.simulate_post(
        "/orders", body=VALID, headers={"Content-Type": JSON, "Idempotency-Key": key}
    )

    assert_rejected(response, 400, naming="Idempotency-Key")
    assert database.untouched
    assert publisher.untouched


@pytest.mark.usefixtures("no_error_logged")
def test_an_error_is_json_even_for_a_client_that_prefers_xml(app_client, path):
    response = app_client.simulate_post(
        path, body="{", headers={"Content-Type": JSON, "Accept": "application/xml"}
    )

    assert_rejected(response, 400, naming="JSON")


def call_without_content_length(app, body: bytes, *, terminated: bool):
    """Call the WSGI app as a server does with a chunked body: no CONTENT_LENGTH."""
    environ = create_environ(
        path="/orders", method="POST", body=body, headers={"Content-Type": JSON}
    )
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = terminated
    start_response = StartResponseMock()
    content = b"".join(app(environ, start_response))
    return start_response.status, json.loads(content)


@pytest.mark.usefixtures("no_error_logged")
def test_a_chunked_body_over_the_limit_is_413(client, database, publisher):
    body = VALID.encode() + b" " * (64 * 1024)

    status, answer = call_without_content_length(client.app, body, terminated=True)

    assert status.startswith("413")
    assert "65536" in answer["description"]
    assert database.untouched
    assert publisher.untouched


def test_a_chunked_body_within_the_limit_is_read(client, database):
    status, answer = call_without_content_length(client.app, VALID.encode(), terminated=True)

    assert status.startswith("201"), answer
    assert len(database.committed) == 1


@pytest.mark.usefixtures("no_error_logged")
def test_a_body_without_length_from_a_server_that_does_not_end_it_is_not_read(client, database):
    # PEP 3333: without CONTENT_LENGTH and wsgi.input_terminated, reading could block.
    status, answer = call_without_content_length(client.app, VALID.encode(), terminated=False)

    assert status.startswith("400")
    assert answer["title"] == "Missing body"
    assert database.untouched
