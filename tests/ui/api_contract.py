"""Every ``/api`` response a test produces is checked against ``/api/openapi.json``.

``make_app`` (``tests/ui/conftest.py``) gives every app :class:`ContractCheckedClient` as
its test client class, so each API test doubles as a contract test: a response whose
status, media type or body the document does not describe (an undocumented error code
included: each error status pins its codes) fails the test that made it, with the
request and the validator's reason. Validation is openapi-core's, against the document the
app itself serves, built once per set of routes.

Requests are not validated: the API tests send malformed input on purpose. A request to a
path or method the document does not have must be answered with the API's error body and
404 / 405.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.exceptions import OpenAPIError
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from werkzeug.test import TestResponse

from ui.api.document import document
from ui.api.response_models import ErrorBody

_SPECS: dict[frozenset[str], OpenAPI] = {}
# Responses already found valid (validation is a pure function of these): the fuzz tests
# send thousands of requests that get the same few answers.
_VALID: set[tuple[frozenset[str], str, str, int, str, bytes]] = set()


class _SentRequest(WerkzeugOpenAPIRequest):
    # The app has read the body already; only the response is validated.
    @property
    def body(self) -> bytes:
        return b""


class ContractViolation(AssertionError):
    """A response of ``/api`` that its OpenAPI document does not describe."""


def _routes(app: Flask) -> frozenset[str]:
    return frozenset(r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/api"))


def openapi_of(app: Flask) -> OpenAPI:
    """openapi-core's view of the app's document (cached by the app's /api routes)."""
    key = _routes(app)
    if key not in _SPECS:
        _SPECS[key] = OpenAPI.from_dict(document(app))
    return _SPECS[key]


def check_response(app: Flask, response: TestResponse) -> None:
    """Raise ContractViolation unless the document describes ``response`` (an ``/api``
    response of ``app``'s test client)."""
    request = response.request
    spec = openapi_of(app)
    seen = (
        _routes(app),
        request.method,
        request.full_path,
        response.status_code,
        response.mimetype or "",
        response.get_data() if response.is_json else b"",
    )
    if seen in _VALID:
        return
    where = f"{request.method} {request.full_path.rstrip('?')} -> {response.status_code}"
    try:
        spec.validate_response(_SentRequest(request), WerkzeugOpenAPIResponse(response))
    except (PathNotFound, OperationNotFound) as e:
        # Not an operation of the API: only the API's own "no such route" answers are fine.
        if response.status_code not in (404, 405) or not response.is_json:
            raise ContractViolation(f"{where}: {e}") from None
        error = ErrorBody.model_validate(response.get_json()).error
        if error.code not in ("not_found", "method_not_allowed"):
            raise ContractViolation(f"{where}: {error.code} for no route") from None
    except OpenAPIError as e:
        body = response.get_data(as_text=True)[:400] if response.is_json else "<binary>"
        raise ContractViolation(f"{where}: {_reason(e)}\n{body}") from e
    _VALID.add(seen)


def _reason(error: Exception) -> str:
    schema_errors = getattr(error.__cause__, "schema_errors", None)
    if schema_errors:
        return "; ".join(
            f"{'/'.join(str(p) for p in err.absolute_path) or '(body)'}: {err.message}"
            for err in schema_errors
        )
    return f"{type(error).__name__}: {error}"


class ContractCheckedClient(FlaskClient):
    """Flask's test client, checking each ``/api`` response against the document."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        response = super().open(*args, **kwargs)
        path = response.request.path
        if path == "/api" or path.startswith("/api/"):
            check_response(self.application, response)
        return response
