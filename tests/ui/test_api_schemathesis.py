"""Generated requests (schemathesis, from /api/openapi.json) to every operation of the API,
valid and invalid, get answers the document describes: never a 5xx, a documented status,
media type and body."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.ui.staffkit import PASSWORD, add_staff, paid_ticket

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 10


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_get_documented_answers(
    make_app: Callable[..., Flask], mode: GenerationMode
) -> None:
    """Each operation, with a supervisor's token where it needs one, answers schemathesis's
    generated requests (valid ones, then ones that break the document) as documented."""
    app = make_app(sim_terminal_auto="approve")
    add_staff(app, "boss", "supervisor")
    paid_ticket(app)  # something to refund, call and view
    client = app.test_client()
    token = client.post("/api/staff/login", json={"username": "boss", "password": PASSWORD})
    auth = {"Authorization": f"Bearer {token.get_json()['token']}"}
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    calls = 0
    for operation in operations:
        headers = auth if operation.definition.raw.get("security") else None

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def answer(case: schemathesis.Case, headers: dict[str, str] | None) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(headers=headers, checks=CHECKS)

        answer(headers=headers)
    assert calls >= len(operations) * 5
