"""The operations of ``/api`` and the OpenAPI 3.1 document generated from them.

Each view of the JSON API declares one :class:`Operation`: its summary, the models of its
request body, query and success response (``ui.api.request_models``,
``ui.api.response_models``), the error codes it can answer and whether it needs a staff
token. The view decorator (``ui.api.protocol.operation``) parses the input with those models
and serialises the result with them; :func:`document` turns the same declarations, walked
along the app's URL map, into ``/api/openapi.json``. A route under ``/api`` without a
declaration stops the document (and its test), so code and document cannot drift apart.

Why not a Flask OpenAPI library (flask-openapi3, spectree)? Both are maintained and built
on pydantic, and both own more than this API can give them: flask-openapi3 wants its own
``OpenAPI`` app class and blueprint registration, spectree answers validation errors in its
own body and serves documentation pages from a CDN (kiosks may be offline). This API keeps
its error format (``{"error": {"code", "message", ...}}`` with Babel messages and stable
codes shared with the staff console), its bearer tokens, its JSON guard
(``ui.api.json_body``: depth, constants) and its routing; what it needs from such a
library, a schema per model, pydantic gives directly (``models_json_schema``). The rest is
this module.

Error statuses come from the one table of codes (``ui.errors``): an operation lists codes,
the document groups them by status and pins each status's ``code`` to that list, so a test
that validates responses against the document also catches an undocumented error code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any, Literal

from flask import Flask
from pydantic import BaseModel, Field, TypeAdapter
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from application.ticket_operations import TicketOperation
from ui.api.request_models import MAX_ID, IsoDay, QueryModel, RequestModel
from ui.api.response_models import ErrorBody
from ui.errors import status_of
from ui.voice import _NUMBER, GUIDE_SCREENS

JSON = "application/json"
SCHEMAS = "#/components/schemas/{model}"
LANGUAGE_CODES = ("ja", "en", "zh-Hans", "ko")


@dataclass(frozen=True)
class Binary:
    """A response body that is not JSON (``media_type``, e.g. ``audio/wav``)."""

    media_type: str


@dataclass(frozen=True)
class PathParameter:
    """A URL path variable: its type (checked before the view runs) and the error code of
    a value that cannot name anything (404)."""

    type: Any
    description: str
    not_found: str = "not_found"

    @cached_property
    def adapter(self) -> TypeAdapter[Any]:
        """Validates a value of the variable (built once)."""
        return TypeAdapter(self.type)


def _identifier(description: str, not_found: str = "not_found") -> PathParameter:
    return PathParameter(Annotated[str, Field(min_length=1, max_length=64)], description, not_found)


def _row_id(description: str) -> PathParameter:
    return PathParameter(Annotated[int, Field(ge=1, le=MAX_ID)], description)


# Path variables by name, the same wherever they appear.
PATH_PARAMETERS: dict[str, PathParameter] = {
    "visit_id": _identifier("the visit's id (from POST /api/visits)", "visit_not_found"),
    "token": _identifier("the ticket's status-page token"),
    "code": _identifier("a counter's code"),
    "public_id": _identifier("a payment's public id"),
    "ticket_id": _row_id("a ticket's id"),
    "case_id": _row_id("a case's id"),
    "alert_id": _row_id("a kiosk's call for staff"),
    "operation": PathParameter(TicketOperation, "what to do to the ticket"),
    "day": PathParameter(IsoDay, "a business day, YYYY-MM-DD", "invalid_field"),
}

# Request headers an operation may read, by name (optional; a value that breaks its rule is
# 422 invalid_field naming the header).
IdempotencyKey = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description=(
            "makes a retry safe: the same key with the same request answers the first result "
            "(header Idempotent-Replayed: true) and records nothing twice; with another "
            "request it is 422 idempotency_key_reused"
        ),
    ),
]
HEADER_PARAMETERS: dict[str, PathParameter] = {
    "Idempotency-Key": PathParameter(IdempotencyKey, "", "invalid_field"),
}


@dataclass(frozen=True)
class Operation:
    """One method on one path of the API, as the views run it and the document shows it.

    ``response``: the success body's model, ``None`` for no body, or :class:`Binary`.
    ``errors``: every error code the operation can answer (statuses from ``ui.errors``).
    ``staff``: the role a staff bearer token must have (``None``: public).
    ``kiosk_device``: only for the kiosk's own screen, the ``X-Kiosk-Device`` key
    (``ui.device``; issue 10: card and PIN operations answer to nobody else).
    """

    summary: str
    tag: str
    success: int
    response: type[BaseModel] | Binary | None
    body: type[RequestModel] | None = None
    body_required: bool = True
    query: type[QueryModel] | None = None
    errors: tuple[str, ...] = ()
    staff: str | None = None
    kiosk_device: bool = False
    description: str = ""
    path: Mapping[str, PathParameter] = field(default_factory=dict)
    headers: tuple[str, ...] = ()

    def errors_by_status(self) -> dict[int, list[str]]:
        """The error codes grouped by HTTP status (each list sorted)."""
        grouped: dict[int, set[str]] = {}
        for code in self.errors:
            grouped.setdefault(status_of(code), set()).add(code)
        return {status: sorted(codes) for status, codes in sorted(grouped.items())}

    def models(self) -> Iterable[tuple[type[BaseModel], JsonSchemaMode]]:
        """The models the document describes for this operation."""
        if self.body is not None:
            yield self.body, "validation"
        if self.query is not None:
            yield self.query, "validation"
        if isinstance(self.response, type):
            yield self.response, "serialization"


# The read-aloud audio of the voice blueprint (``ui.voice``). Its views parse their own
# query: they are the board's and the kiosk's audio URLs, a bad one is 400 ``bad_request``,
# and their messages come in the asked language without touching the session. The rules
# below are the views' own (``_NUMBER``, ``GUIDE_SCREENS``), published.
TicketNumber = Annotated[str, Field(pattern=f"^{_NUMBER.pattern}$", description="e.g. A-012")]
CounterCode = Annotated[str, Field(min_length=1, max_length=64, description="counter code")]


class CallQuery(QueryModel):
    """A board call: the ticket number and the counter, nothing else."""

    number: TicketNumber
    counter: CounterCode


_WAV = Binary("audio/wav")
# Every synthesis spends the client address's speech budget (``ui.rate_limits``: 429).
_VOICE_ERRORS = ("bad_request", "not_found", "voice_unavailable", "too_many_requests")
VOICE_OPERATIONS: dict[str, Operation] = {
    "voice.call": Operation(
        "A board call spoken offline (espeak-ng): ticket number and counter only",
        "voice",
        200,
        _WAV,
        query=CallQuery,
        errors=_VOICE_ERRORS,
        description="Speech of the call in `lang` (503 voice_unavailable without a voice).",
    ),
    "voice.guide": Operation(
        "A kiosk screen's instruction spoken offline (never personal data)",
        "voice",
        200,
        _WAV,
        errors=_VOICE_ERRORS,
        path={
            "screen": PathParameter(
                Literal[GUIDE_SCREENS],
                "the kiosk screen whose instruction is spoken",
            )
        },
        description="Speech of the instruction in `lang` (503 voice_unavailable without a voice).",
    ),
}


# --- the document -------------------------------------------------------------------------


def _path_template(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def _error_response(codes: list[str], description: str = "") -> dict[str, Any]:
    only_these = {
        "type": "object",
        "properties": {
            "error": {"type": "object", "properties": {"code": {"enum": codes}}},
        },
    }
    return {
        "description": description or ", ".join(codes),
        "content": {
            JSON: {"schema": {"allOf": [{"$ref": "#/components/schemas/ErrorBody"}, only_these]}}
        },
    }


def _parameter(name: str, where: str, schema: dict[str, Any], required: bool, text: str) -> Any:
    out: dict[str, Any] = {"name": name, "in": where, "required": required, "schema": schema}
    if text:
        out["description"] = text
    return out


def _operation_json(
    name: str,
    op: Operation,
    path_names: list[str],
    refs: Mapping[Any, Any],
    defs: Mapping[str, Any],
) -> dict[str, Any]:
    parameters: list[Any] = []
    for variable in path_names:
        spec = op.path.get(variable) or PATH_PARAMETERS[variable]
        schema = spec.adapter.json_schema(ref_template=SCHEMAS)
        parameters.append(_parameter(variable, "path", schema, True, spec.description))
    if op.query is not None:
        query = defs[refs[(op.query, "validation")]["$ref"].rsplit("/", 1)[1]]
        for key, schema in query["properties"].items():
            schema = {k: v for k, v in schema.items() if k != "title"}
            text = schema.pop("description", "")
            required = key in query.get("required", ())
            parameters.append(_parameter(key, "query", schema, required, text))
    for name in op.headers:
        spec = HEADER_PARAMETERS[name]
        schema = spec.adapter.json_schema(ref_template=SCHEMAS)
        text = schema.pop("description", "")
        parameters.append(_parameter(name, "header", schema, False, text))
    parameters.append({"$ref": "#/components/parameters/lang"})
    out: dict[str, Any] = {
        "operationId": name,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": parameters,
    }
    if op.description:
        out["description"] = op.description
    if op.body is not None:
        out["requestBody"] = {
            "required": op.body_required,
            "content": {JSON: {"schema": refs[(op.body, "validation")]}},
        }
    success: dict[str, Any] = {"description": op.summary}
    if isinstance(op.response, Binary):
        success["content"] = {op.response.media_type: {}}
    elif op.response is not None:
        success["content"] = {JSON: {"schema": refs[(op.response, "serialization")]}}
    responses: dict[str, Any] = {str(op.success): success}
    for status, codes in op.errors_by_status().items():
        responses[str(status)] = _error_response(codes)
    # What HTTP itself refuses before any operation runs (a request werkzeug cannot read).
    responses["4XX"] = _error_response(
        ["bad_request"], "bad_request: the request was not understood"
    )
    out["responses"] = responses
    if op.staff is not None:
        out["security"] = [{"staffToken": []}]
    if op.kiosk_device:
        out["security"] = [{"kioskDevice": []}]
    return out


def operations_of(app: Flask) -> list[tuple[str, str, str, Operation]]:
    """(path template, method, endpoint, operation) of every ``/api`` route of ``app``, in
    path order. Raises LookupError for a route without a declared operation."""
    declared = VOICE_OPERATIONS
    found = []
    for rule in app.url_map.iter_rules():
        if not (rule.rule == "/api" or rule.rule.startswith("/api/")):
            continue
        view = app.view_functions[rule.endpoint]
        op = getattr(view, "operation", None) or declared.get(rule.endpoint)
        if op is None:
            raise LookupError(f"{rule.rule} ({rule.endpoint}) declares no Operation")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((_path_template(rule.rule), method.lower(), rule.endpoint, op))
    return sorted(found, key=lambda item: (item[0], item[1]))


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``'s ``/api`` (a fresh dict each call)."""
    operations = operations_of(app)
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {
        (ErrorBody, "serialization"): None
    }
    for *_, op in operations:
        wanted.update(dict.fromkeys(op.models()))
    refs, top = models_json_schema(list(wanted), ref_template=SCHEMAS)
    defs: dict[str, Any] = top.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for template, method, endpoint, op in operations:
        names = re.findall(r"\{([a-z_]+)\}", template)
        name = endpoint.split(".", 1)[-1]
        paths.setdefault(template, {})[method] = _operation_json(name, op, names, refs, defs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "No-writing counter (書かない窓口) API",
            "version": "1.0.0",
            "description": (
                "Kiosk visits, staff counter work and the display board. Errors are "
                '`{"error": {"code", "message", ...}}`: `code` is stable (each operation '
                "lists the codes it can answer per status), `message` is in the language of "
                "`?lang=` or Accept-Language (ja, en, zh-Hans, ko). Request bodies are JSON "
                "objects of at most 64 KiB, nested at most 10 levels; unknown keys are "
                "refused. Text may not contain control, bidi-control or surrogate characters."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "staffToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "from POST /api/staff/login; valid for 8 hours, ended at once by "
                        "POST /api/staff/logout, a password change, deactivation or a role "
                        "change (every token and console session of the account)"
                    ),
                },
                "kioskDevice": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Kiosk-Device",
                    "description": (
                        "This kiosk's device key (`kiosk device provision` prints it): visits "
                        "and card operations answer only to the kiosk's own screen. Without "
                        "it the answer is 403 `kiosk_device_required` and nothing is done."
                    ),
                },
            },
            "parameters": {
                "lang": {
                    "name": "lang",
                    "in": "query",
                    "required": False,
                    "description": "language of messages (also zh, zh-CN, zh_Hans)",
                    "schema": {"type": "string", "enum": list(LANGUAGE_CODES)},
                }
            },
        },
    }
