"""The OpenAPI document served at ``/openapi.json``, kept true by checking the app against it.

openapi-core validates the app's real responses (and the request bodies the API accepts or
rejects) against the document the app serves.
"""

from __future__ import annotations

import functools
import json
import re
from decimal import Decimal
from fractions import Fraction
from uuid import UUID

import falcon.inspect
import jsonschema.validators
import jsonschema_rs
import pytest
from jsonschema.exceptions import ValidationError
from openapi_core import Config as OpenApiConfig
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.request.exceptions import InvalidRequestBody
from openapi_core.validation.request.validators import V31RequestValidator
from openapi_core.validation.response.exceptions import InvalidData
from openapi_core.validation.response.validators import V31ResponseValidator
from openapi_core.validation.schemas.factories import SchemaValidatorsFactory
from openapi_schema_validator import OAS30ReadValidator, OAS31Validator
from openapi_spec_validator import validate

from service.adapters.prometheus import new_registry
from service.api.json_body import loads_exact
from service.api.openapi import build_openapi
from service.domain.errors import CommitOutcomeUnknown, DatabaseUnavailable
from service.domain.model import MAX_UNIT_PRICE

from .fakes import FailingUnitOfWork
from .payloads import CUSTOMER_ID, PRODUCT_ID, SCHEMA_INVALID_BODIES, item, order


def exact_multiple_of(validator, divisor, instance, schema):
    """``multipleOf`` as JSON Schema means it: of the number as written, exactly.

    openapi-core reads a body into floats and jsonschema divides them, so 19.99 is "not a
    multiple of 0.01" (19.99 / 0.01 = 1998.9999999999998). A float's shortest repr is the
    decimal the sender wrote; schemathesis (jsonschema-rs) reads numbers the same way.
    """
    if not validator.is_type(instance, "number"):
        return
    if Fraction(str(instance)) % Fraction(str(divisor)) != 0:
        yield ValidationError(f"{instance!r} is not a multiple of {divisor}")


EXACT_VALIDATORS = SchemaValidatorsFactory(
    jsonschema.validators.extend(OAS31Validator, {"multipleOf": exact_multiple_of}),
    # openapi-core checks OpenAPI 3.1 formats with its 3.0 checker; so do we.
    format_checker=OAS30ReadValidator.FORMAT_CHECKER,
)


class ExactRequestValidator(V31RequestValidator):
    schema_validators_factory = EXACT_VALIDATORS


class ExactResponseValidator(V31ResponseValidator):
    schema_validators_factory = EXACT_VALIDATORS


# Strict on purpose: a response may not carry undocumented fields, nor omit documented ones.
STRICT = OpenApiConfig(
    additional_properties_default_policy="forbid",
    response_properties_default_policy="required",
    request_validator_cls=ExactRequestValidator,
    response_validator_cls=ExactResponseValidator,
)
LENIENT = OpenApiConfig(
    request_validator_cls=ExactRequestValidator, response_validator_cls=ExactResponseValidator
)
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# The document describes the API, not itself.
SELF = ("/openapi.json", "get")
JSON_BODY = {"Content-Type": "application/json"}


def served_document(client) -> dict:
    response = client.simulate_get("/openapi.json")
    assert response.status_code == 200
    return response.json


@functools.cache
def _parsed_spec(document_json: str, strict: bool) -> OpenAPI:
    # Building the validators costs ~0.1 s; the served document is the same in every test.
    return OpenAPI.from_dict(json.loads(document_json), config=STRICT if strict else LENIENT)


def strict_spec(client) -> OpenAPI:
    """Return the validators for the document this client's app serves."""
    return _parsed_spec(json.dumps(served_document(client), sort_keys=True), True)


def as_template(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def served_operations(client) -> set[tuple[str, str]]:
    return {
        (as_template(route.path), method.method.lower())
        for route in falcon.inspect.inspect_routes(client.app)
        for method in route.methods
        if not method.internal
    } - {SELF}


def documented_operations(document: dict) -> set[tuple[str, str]]:
    return {
        (as_template(path), method)
        for path, operations in document["paths"].items()
        for method in operations
        if method in HTTP_METHODS
    }


def api_field(path) -> str:
    """Spell a JSON path as the API's error descriptions do (``items[0].quantity``)."""
    spelled = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return spelled.lstrip(".") or "body"


def rejected_fields(error: InvalidRequestBody) -> set[str]:
    """Return the fields the document's schema found fault with."""
    fields = set()
    for schema_error in error.__cause__.schema_errors:
        path = list(schema_error.absolute_path)
        if schema_error.validator in ("required", "additionalProperties"):
            names = re.findall(r"'([^']+)'", schema_error.message)
            fields.update(api_field([*path, name]) for name in names)
        else:
            fields.add(api_field(path))
    return fields


def api_request(method: str, path: str, body=None) -> MockRequest:
    data = None if body is None else json.dumps(body).encode()
    return MockRequest("http://localhost", method, path, data=data)


def exchange(client, spec: OpenAPI, method: str, path: str, body=None, headers=None):
    """Send a request to the app and validate its response against the document."""
    data = None if body is None else body if isinstance(body, str) else json.dumps(body)
    if data is not None and headers is None:
        headers = {"Content-Type": "application/json"}
    result = client.simulate_request(method, path, body=data, headers=headers)
    request = MockRequest(
        "http://localhost", method, path, data=None if data is None else data.encode()
    )
    response = MockResponse(
        result.content,
        status_code=result.status_code,
        headers=dict(result.headers),
        content_type=result.headers.get("content-type", ""),
    )
    spec.validate_response(request, response)
    return result


@pytest.mark.parametrize(
    "profiles", ["", "chaos", "outbox", "outbox,chaos"], ids=["default", "chaos", "outbox", "both"]
)
def test_served_document_is_a_valid_openapi_3_1_document(make_client, profiles):
    client = make_client({"MARS_PROFILES_ACTIVE": profiles})

    document = served_document(client)

    assert document["openapi"].startswith("3.1.")
    validate(document)


def test_served_document_is_the_generated_one(client, chaos_client):
    assert served_document(client) == json.loads(json.dumps(build_openapi(chaos=False)))
    assert served_document(chaos_client) == json.loads(json.dumps(build_openapi(chaos=True)))


def test_outbox_mode_serves_the_outbox_document(outbox_chaos_client):
    document = served_document(outbox_chaos_client)

    assert document == json.loads(json.dumps(build_openapi(chaos=True, outbox=True)))
    assert "Transactional Outbox" in document["paths"]["/orders"]["post"]["summary"]
    assert documented_operations(document) == served_operations(outbox_chaos_client)


def test_document_lists_exactly_the_served_routes(client):
    assert documented_operations(served_document(client)) == served_operations(client)


def test_document_lists_the_chaos_route_only_with_the_profile(client, chaos_client):
    chaos_route = ("/chaos/phantom-event", "post")

    assert chaos_route not in documented_operations(served_document(client))
    assert chaos_route in documented_operations(served_document(chaos_client))
    assert documented_operations(served_document(chaos_client)) == served_operations(chaos_client)


def test_created_order_response_matches_the_document(client):
    result = exchange(client, strict_spec(client), "POST", "/orders", order())

    assert result.status_code == 201


def test_read_order_response_matches_the_document(client):
    spec = strict_spec(client)
    location = client.simulate_post("/orders", json=order(item(), item(unitPrice=3))).headers[
        "location"
    ]

    result = exchange(client, spec, "GET", location)

    assert result.status_code == 200


@pytest.mark.parametrize("order_id", ["6ba7b810-9dad-11d1-80b4-00c04fd430c9", "not-a-uuid"])
def test_order_not_found_response_matches_the_document(client, order_id):
    result = exchange(client, strict_spec(client), "GET", f"/orders/{order_id}")

    assert result.status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param({"customerId": "x"}, 400, id="invalid-order"),
        pytest.param("{", 400, id="malformed-json"),
        pytest.param(order(padding="x" * 70_000), 413, id="too-large"),
    ],
)
def test_rejected_order_response_matches_the_document(client, body, status):
    result = exchange(client, strict_spec(client), "POST", "/orders", body)

    assert result.status_code == status


def test_unsupported_media_type_response_matches_the_document(client):
    result = exchange(
        client, strict_spec(client), "POST", "/orders", "{}", {"Content-Type": "text/plain"}
    )

    assert result.status_code == 415


def test_healthy_response_matches_the_document(client):
    result = exchange(client, strict_spec(client), "GET", "/actuator/health")

    assert result.status_code == 200


def test_unhealthy_response_matches_the_document(make_client, health_checks):
    def refusing(timeout):
        raise ConnectionRefusedError("connection refused")

    client = make_client(health=health_checks({"db": refusing, "kafka": lambda t: {"n": 1}}))

    result = exchange(client, strict_spec(client), "GET", "/actuator/health")

    assert result.status_code == 503


def test_phantom_event_report_matches_the_document(chaos_client):
    result = exchange(
        chaos_client, strict_spec(chaos_client), "POST", "/chaos/phantom-event", order()
    )

    assert result.status_code == 200
    assert result.json["phantomEventProduced"] is True


def test_phantom_event_report_without_delivery_matches_the_document(chaos_client, publisher):
    publisher.fail_with("broker unreachable")

    result = exchange(
        chaos_client, strict_spec(chaos_client), "POST", "/chaos/phantom-event", order()
    )

    assert result.status_code == 200
    assert result.json["kafkaOffset"] is None


def test_rejected_phantom_order_response_matches_the_document(chaos_client):
    result = exchange(chaos_client, strict_spec(chaos_client), "POST", "/chaos/phantom-event", {})

    assert result.status_code == 400


def test_response_check_catches_a_response_that_breaks_the_document(client):
    spec = strict_spec(client)
    location = client.simulate_post("/orders", json=order()).headers["location"]
    body = client.simulate_get(location).json
    del body["total"]
    body["discount"] = 0

    with pytest.raises(InvalidData):
        spec.validate_response(
            api_request("GET", location),
            MockResponse(json.dumps(body).encode(), status_code=200),
        )


@pytest.mark.parametrize(
    "price",
    [
        0.01,
        1.1,
        19.99,
        149.95,
        float(MAX_UNIT_PRICE),
    ],
)
def test_document_accepts_the_prices_the_api_accepts(client, price):
    body = order(item(unitPrice=price))
    assert client.simulate_post("/orders", json=body).status_code == 201

    strict_spec(client).validate_request(api_request("POST", "/orders", body))


def test_document_example_request_is_valid_under_its_own_schema(client):
    document = served_document(client)
    example = document["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"][
        "example"
    ]

    _parsed_spec(json.dumps(document, sort_keys=True), False).validate_request(
        api_request("POST", "/orders", example)
    )


@pytest.mark.parametrize(("body", "field"), SCHEMA_INVALID_BODIES)
def test_document_rejects_the_bodies_the_api_rejects(client, body, field):
    assert client.simulate_post("/orders", json=body).status_code == 400

    with pytest.raises(InvalidRequestBody) as caught:
        strict_spec(client).validate_request(api_request("POST", "/orders", body))
    assert field in rejected_fields(caught.value)


def test_outbox_phantom_report_matches_the_document(outbox_chaos_client):
    spec = strict_spec(outbox_chaos_client)

    result = exchange(outbox_chaos_client, spec, "POST", "/chaos/phantom-event", order())

    assert result.status_code == 200
    assert result.json["outboxRowsFound"] == 0


def test_metrics_response_matches_the_document(make_client):
    client = make_client(metrics=new_registry())

    result = exchange(client, strict_spec(client), "GET", "/metrics")

    assert result.status_code == 200


def test_health_with_the_outbox_component_matches_the_document(make_client, health_checks):
    def outbox(timeout):
        return {"relayRunning": True, "backlog": 3, "oldestPendingAgeSeconds": 1.5}

    client = make_client(
        {"MARS_PROFILES_ACTIVE": "outbox"},
        health=health_checks({"db": lambda t: {}, "kafka": lambda t: {}, "outbox": outbox}),
    )

    result = exchange(client, strict_spec(client), "GET", "/actuator/health")

    assert result.status_code == 200
    assert result.json["components"]["outbox"]["details"]["backlog"] == 3


# --- Schema-valid exactly when accepted -------------------------------------------------
#
# jsonschema-rs is the validator schemathesis checks with; it reads numbers exactly (as
# Decimals here), as JSON Schema means them.


def body_schema_validator(document: dict) -> jsonschema_rs.Validator:
    root = {
        "$ref": "#/components/schemas/CreateOrderRequest",
        "components": document["components"],
    }
    return jsonschema_rs.validator_for(root, validate_formats=True)


def raw_order(quantity: str = "2", unit_price: str = "149.95", customer_id: str = "") -> str:
    customer_id = customer_id or json.dumps(CUSTOMER_ID)
    return (
        f'{{"customerId": {customer_id}, "items": [{{"productId": "{PRODUCT_ID}", '
        f'"quantity": {quantity}, "unitPrice": {unit_price}}}]}}'
    )


NUMBERS = [
    "1", "2", "2.0", "1e2", "1E+2", "0.1e1", "100.000", "10000", "10000.0", "10001", "1e4",
    "0", "-0", "-0.0", "-1", "2.5", "1.000000000000000000000000000001", "0.01", "0.010",
    "1e-2", "0.001", "0.009", "0.015", "19.99", "149.95", "1.1", "0.29", "999999.99",
    "999999.990", "999999.991", "1000000", "5e-324", "1e-324", "1e400", "-1e400",
    "19.990000000000002", "1" * 30, "12345678e-2", "0.1000000000000000055511151231257827",
    "1e-999999999999", "1E999999999999",
]  # fmt: skip


@pytest.mark.parametrize("literal", NUMBERS)
@pytest.mark.parametrize("field", ["quantity", "unitPrice"])
def test_a_number_is_accepted_exactly_when_the_document_admits_it(client, field, literal):
    body = raw_order(**{"quantity" if field == "quantity" else "unit_price": literal})
    validator = body_schema_validator(served_document(client))

    response = client.simulate_post("/orders", body=body, headers=JSON_BODY)

    assert (response.status_code == 201) == validator.is_valid(loads_exact(body)), response.text


UUID_SPELLINGS = [
    CUSTOMER_ID,
    CUSTOMER_ID.upper(),
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    CUSTOMER_ID.replace("-", ""),
    "{" + CUSTOMER_ID + "}",
    "urn:uuid:" + CUSTOMER_ID,
    CUSTOMER_ID + "\n",
    " " + CUSTOMER_ID,
    CUSTOMER_ID[:-1] + "g",
    CUSTOMER_ID[:-1],
    "\u0665" * 8 + CUSTOMER_ID[8:],
    CUSTOMER_ID[:8] + CUSTOMER_ID[9:13] + "-" + CUSTOMER_ID[13:],
]


@pytest.mark.parametrize("spelling", UUID_SPELLINGS, ids=repr)
def test_a_uuid_is_accepted_exactly_when_the_document_admits_it(client, spelling):
    body = raw_order(customer_id=json.dumps(spelling))
    validator = body_schema_validator(served_document(client))

    response = client.simulate_post("/orders", body=body, headers=JSON_BODY)

    assert (response.status_code == 201) == validator.is_valid(loads_exact(body)), response.text


IDEMPOTENCY_KEYS = [
    "a", "k" * 255, "k" * 256, "", " ", " a", "a ", "a b", "a\tb", "caf\xe9", "a\x7f",
    "~!@#$%^&*()_+{}|:<>?", "order/2025/17",
]  # fmt: skip


@pytest.mark.parametrize("key", IDEMPOTENCY_KEYS, ids=repr)
def test_an_idempotency_key_is_accepted_exactly_when_the_document_admits_it(client, key):
    [parameter] = served_document(client)["paths"]["/orders"]["post"]["parameters"]
    validator = jsonschema_rs.validator_for(parameter["schema"])

    response = client.simulate_post("/orders", json=order(), headers={"Idempotency-Key": key})

    assert response.status_code in (201, 400)
    # Blanks around a header value are not part of it (RFC 9110, 5.5): " a" is "a".
    assert (response.status_code == 201) == validator.is_valid(key.strip(" \t")), response.text


def test_the_limits_let_every_admitted_order_be_stored(client):
    document = served_document(client)
    schemas = document["components"]["schemas"]
    item_schema = schemas["OrderItemRequest"]["properties"]
    largest = (
        schemas["CreateOrderRequest"]["properties"]["items"]["maxItems"]
        * item_schema["quantity"]["maximum"]
        * Decimal(str(item_schema["unitPrice"]["maximum"]))
    )

    # orders.total is NUMERIC(14,2).
    assert largest <= Decimal("999999999999.99")


# --- Every answer is documented ----------------------------------------------------------


def test_a_replayed_order_matches_the_document(client):
    headers = {"Content-Type": "application/json", "Idempotency-Key": "replay-1"}
    client.simulate_post("/orders", json=order(), headers=headers)

    result = exchange(client, strict_spec(client), "POST", "/orders", order(), headers)

    assert result.status_code == 201
    assert result.headers["idempotent-replayed"] == "true"


def test_a_reused_idempotency_key_response_matches_the_document(client):
    headers = {"Content-Type": "application/json", "Idempotency-Key": "reused-1"}
    client.simulate_post("/orders", json=order(), headers=headers)

    result = exchange(
        client, strict_spec(client), "POST", "/orders", order(item(quantity=9)), headers
    )

    assert result.status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/orders", order()),
        ("GET", f"/orders/{CUSTOMER_ID}", None),
        ("POST", "/chaos/phantom-event", order()),
    ],
)
def test_an_unavailable_database_response_matches_the_document(
    make_client, database, method, path, body
):
    down = DatabaseUnavailable("every database connection stayed busy")
    client = make_client(
        {"MARS_PROFILES_ACTIVE": "chaos"}, uow_factory=lambda: FailingUnitOfWork(database, down)
    )

    result = exchange(client, strict_spec(client), method, path, body)

    assert result.status_code == 503
    assert "retry-after" in result.headers


def test_an_unknown_commit_outcome_response_matches_the_document(make_client, database):
    lost = CommitOutcomeUnknown("server closed the connection during COMMIT")
    client = make_client(uow_factory=lambda: FailingUnitOfWork(database, lost, stage="commit"))

    result = exchange(client, strict_spec(client), "POST", "/orders", order())

    assert result.status_code == 503
    assert UUID(result.json["orderId"])


def test_a_method_a_path_does_not_take_answers_the_documented_405(client):
    document = served_document(client)
    response_doc = document["components"]["responses"]["MethodNotAllowed"]
    schema = {**response_doc["content"]["application/json"]["schema"], **document}

    response = client.simulate_request("PATCH", "/orders", json=order())

    assert response.status_code == 405
    assert jsonschema_rs.validator_for(schema).is_valid(response.json)
    assert "POST" in [method.strip() for method in response.headers["allow"].split(",")]


def test_the_created_order_links_to_get_order(client):
    document = served_document(client)
    created = document["paths"]["/orders"]["post"]["responses"]["201"]
    get_order = document["paths"]["/orders/{orderId}"]["get"]

    link = created["links"]["GetOrder"]

    assert link["operationId"] == get_order["operationId"]
    assert link["parameters"] == {"orderId": "$response.body#/orderId"}
    assert [p["name"] for p in get_order["parameters"]] == ["orderId"]
