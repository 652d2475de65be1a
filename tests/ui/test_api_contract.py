"""The OpenAPI document of /api, generated from the operations and their models: a valid
OpenAPI 3.1 document, every object described, every error status pinned to its codes, and
the response check that every API test runs through (``tests/ui/api_contract.py``) refusing
what the document does not describe."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import OpenAPIV31SpecValidator

from kiosk.text import SAFE_TEXT_PATTERN
from tests.ui.api_contract import ContractViolation, check_response
from tests.ui.staffkit import add_staff
from ui.api.document import document
from ui.errors import CARD_STATUSES, MESSAGES, status_of


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def doc(app: Flask) -> dict[str, Any]:
    """The document as the app serves it."""
    response = app.test_client().get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def _schemas(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every JSON object in the document that is a schema (has a type, $ref or a combiner)."""
    if isinstance(node, dict):
        if {"type", "$ref", "allOf", "anyOf", "oneOf", "enum"} & set(node) and not isinstance(
            node.get("type"), dict
        ):
            yield where, node
        for key, value in node.items():
            yield from _schemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _schemas(value, f"{where}/{i}")


def test_the_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    """openapi-spec-validator finds no error in the served document."""
    errors = [str(e.message) for e in OpenAPIV31SpecValidator(doc).iter_errors()]
    assert doc["openapi"] == "3.1.0" and errors == []


def test_no_object_schema_is_left_undescribed(doc: dict[str, Any]) -> None:
    """No schema is a bare {"type": "object"}: every object says its properties or the
    schema of its values."""
    bare = []
    for where, schema in _schemas(doc):
        types = schema.get("type")
        if types == "object" or (isinstance(types, list) and "object" in types):
            values = schema.get("additionalProperties")
            described = bool(schema.get("properties")) or isinstance(values, dict) and values
            if not described:
                bare.append(where)
    assert bare == []
    assert '{"type": "object"}' not in json.dumps(doc)


def test_every_operation_documents_its_body_answers_and_errors(doc: dict[str, Any]) -> None:
    """Each operation has an id, a summary, a success response with its media type and,
    per error status, the exact codes it can answer, all of them codes of ui.errors with
    that status."""
    ids = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            ids.append(op["operationId"])
            assert op["summary"], (path, method)
            statuses = [s for s in op["responses"] if s.isdigit()]
            success = [s for s in statuses if s.startswith("2")]
            assert len(success) == 1, (path, method)
            if success != ["204"]:
                assert op["responses"][success[0]]["content"], (path, method)
            for status in statuses:
                if status.startswith("2"):
                    continue
                schema = op["responses"][status]["content"]["application/json"]["schema"]
                assert schema["allOf"][0] == {"$ref": "#/components/schemas/ErrorBody"}
                codes = schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
                assert codes and all(code in MESSAGES or code in CARD_STATUSES for code in codes)
                assert {status_of(code) for code in codes} == {int(status)}, (path, method)
            if op.get("security") == [{"staffToken": []}]:
                assert "401" in op["responses"], (path, method)
            if op.get("security") == [{"kioskDevice": []}]:
                refused = op["responses"]["403"]["content"]["application/json"]["schema"]
                codes = refused["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
                assert "kiosk_device_required" in codes, (path, method)
    assert len(ids) == len(set(ids)) >= 25


def test_request_bodies_are_closed_and_text_publishes_the_one_rule(doc: dict[str, Any]) -> None:
    """Every request body refuses unknown keys, and every free-text field of a request
    publishes the domain's text rule as its pattern."""
    schemas = doc["components"]["schemas"]
    bodies = {
        op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        for item in doc["paths"].values()
        for op in item.values()
        if "requestBody" in op
    }
    assert {"VisitStart", "FieldsUpdate", "PinEntry", "StaffLogin", "RefundRequest"} <= bodies
    for name in bodies:
        assert schemas[name]["additionalProperties"] is False, name
    refund = schemas["RefundRequest"]["properties"]
    assert refund["reason"]["pattern"] == SAFE_TEXT_PATTERN
    assert refund["amount_yen"]["anyOf"][0] == {
        "maximum": 10_000_000,
        "minimum": 1,
        "type": "integer",
    }
    assert schemas["StaffLogin"]["properties"]["username"]["pattern"] == SAFE_TEXT_PATTERN
    assert schemas["VisitStart"]["properties"]["procedures"]["items"]["pattern"] == (
        SAFE_TEXT_PATTERN
    )


def test_staff_operations_need_the_bearer_token(doc: dict[str, Any]) -> None:
    """Every /api/staff operation but the log-in is secured by the staff bearer scheme."""
    assert doc["components"]["securitySchemes"]["staffToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "from POST /api/staff/login; valid for 8 hours, ended at once by "
            "POST /api/staff/logout, a password change, deactivation or a role "
            "change (every token and console session of the account)"
        ),
    }
    for path, item in doc["paths"].items():
        for op in item.values():
            secured = op.get("security") == [{"staffToken": []}]
            assert secured == (path.startswith("/api/staff/") and path != "/api/staff/login")


def test_the_document_is_the_same_for_each_call(app: Flask, doc: dict[str, Any]) -> None:
    """Generating the document again gives the same document (no state between calls)."""
    assert json.loads(json.dumps(document(app))) == doc


def _raw(app: Flask) -> FlaskClient:
    return FlaskClient(app, app.response_class)  # a client that does not check


def test_the_check_refuses_an_undocumented_key(app: Flask) -> None:
    """A response body with a key its model does not have fails the check."""
    response = _raw(app).get("/api/board")
    check_response(app, response)
    body = response.get_json()
    body["calls"] = [{"number": "A-001"}]
    response.set_data(json.dumps(body))
    with pytest.raises(ContractViolation, match="calls"):
        check_response(app, response)


def test_the_check_refuses_an_undocumented_error_code(app: Flask) -> None:
    """An error code the operation does not list for that status fails the check."""
    response = _raw(app).get("/api/visits/nope")
    check_response(app, response)
    response.set_data(json.dumps({"error": {"code": "conflict", "message": "x"}}))
    with pytest.raises(ContractViolation, match="conflict"):
        check_response(app, response)


def test_the_check_refuses_an_undocumented_status(app: Flask) -> None:
    """A status the operation does not document (here 409 on GET /api/catalog) fails."""
    response = _raw(app).get("/api/catalog")
    response.status_code = 409
    response.set_data(json.dumps({"error": {"code": "conflict", "message": "x"}}))
    with pytest.raises(ContractViolation):
        check_response(app, response)


def test_the_check_accepts_only_the_apis_own_answer_for_no_route(app: Flask) -> None:
    """A path outside the document must answer the API's 404; anything else fails."""
    response = _raw(app).get("/api/no-such-thing")
    check_response(app, response)
    response.set_data(b"<html>not found</html>")
    response.mimetype = "text/html"
    with pytest.raises(ContractViolation):
        check_response(app, response)


def test_staff_answers_are_checked_too(app: Flask) -> None:
    """A staff call through the checked test client passes the document's check."""
    add_staff(app, "clerk")
    client = app.test_client()
    login = client.post(
        "/api/staff/login", json={"username": "clerk", "password": "correct-horse-42"}
    )
    auth = {"Authorization": f"Bearer {login.get_json()['token']}"}
    assert client.get("/api/staff/me", headers=auth).get_json() == {
        "username": "clerk",
        "role": "staff",
    }
