"""The OpenAPI 3.1 document of ``/api`` (served at ``/api/openapi.json``), written by hand.

A test checks that every ``/api`` route of the app appears here with its methods, so the
document cannot silently fall behind the code.
"""

from __future__ import annotations

from typing import Any

from ui.voice import GUIDE_SCREENS

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(schema: dict[str, Any] | None = None, status: str = "200", text: str = "OK") -> Any:
    body: dict[str, Any] = {"description": text}
    if schema is not None:
        body["content"] = {JSON: {"schema": schema}}
    return {status: body, "4XX": {"$ref": "#/components/responses/Error"}}


def _wav(text: str) -> Any:
    audio = {"audio/wav": {"schema": {"type": "string", "format": "binary"}}}
    return {
        "200": {"description": text, "content": audio},
        "4XX": {"$ref": "#/components/responses/Error"},
        "503": {"$ref": "#/components/responses/Error"},
    }


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": schema}}}


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    return out


def _op(
    summary: str,
    tag: str,
    responses: Any,
    *,
    body: dict[str, Any] | None = None,
    params: list[str] | None = None,
    auth: bool = False,
    query: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": responses}
    parameters = [{"$ref": f"#/components/parameters/{p}"} for p in params or []]
    parameters += query or []
    parameters.append({"$ref": "#/components/parameters/lang"})
    op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = body
    if auth:
        op["security"] = [{"staffToken": []}]
    return op


S = {"type": "string"}
INT = {"type": "integer"}
B = {"type": "boolean"}
NS = {"type": ["string", "null"]}
NI = {"type": ["integer", "null"]}
NAMES = {"type": "object", "additionalProperties": S, "description": "ja, en, zh-Hans, ko"}
FIELDS = {
    "type": "object",
    "description": "procedure code -> {field name: value}",
    "additionalProperties": {"type": "object"},
}
OPERATIONS = [
    "call",
    "recall",
    "serve",
    "complete",
    "no-show",
    "return",
    "hold",
    "resume",
    "transfer",
]


def document() -> dict[str, Any]:
    """The OpenAPI document (a fresh dict each call)."""
    visit = _ref("Visit")
    ticket_op = _obj({"ticket": {"oneOf": [_ref("Ticket"), {"type": "null"}]}})
    help_alert = _obj(
        {
            "id": INT,
            "kiosk_id": S,
            "screen": S,
            "raised_at": S,
            "acknowledged_at": NS,
            "acknowledged_by": NS,
            "waited_s": INT,
        }
    )
    paths: dict[str, Any] = {
        "/api/catalog": {
            "get": _op("Procedures, fees, fields, queues, counters", "kiosk", _ok(_ref("Catalog")))
        },
        "/api/visits": {
            "post": _op(
                "Start a visit with the chosen procedures",
                "kiosk",
                _ok(visit, "201", "Visit started"),
                body=_body(
                    _obj(
                        {
                            "procedures": {"type": "array", "items": S, "minItems": 1},
                            "fields": FIELDS,
                        },
                        ["procedures"],
                    )
                ),
            )
        },
        "/api/visits/{visit_id}": {
            "get": _op("The visit's progress", "kiosk", _ok(visit), params=["visit_id"]),
            "delete": _op(
                "End the visit (cancel an unpaid case and a pending payment)",
                "kiosk",
                _ok(None, "204", "Ended"),
                params=["visit_id"],
            ),
        },
        "/api/visits/{visit_id}/fields": {
            "post": _op(
                "Set procedure fields (validated; fee recomputed once the case exists)",
                "kiosk",
                _ok(visit),
                params=["visit_id"],
                body=_body(_obj({"fields": FIELDS}, ["fields"])),
            )
        },
        "/api/visits/{visit_id}/card": {
            "get": _op(
                "Reader and card state, PIN tries left",
                "kiosk",
                _ok(
                    _obj(
                        {
                            "reader_present": B,
                            "card_present": B,
                            "pin_tries_left": NI,
                            "card_from_earlier": B,
                        }
                    )
                ),
                params=["visit_id"],
            )
        },
        "/api/visits/{visit_id}/card/read": {
            "post": _op(
                "Read the card with the PIN and open the prefilled case (the PIN is used in "
                "this request only; with one try left no PIN is sent: error pin_would_lock). "
                "422 bad_pin_format (not 4 digits; the card is not asked) or wrong_pin "
                "(with tries_left); 409 for the card's state (pin_locked, no_card, ...)",
                "kiosk",
                _ok(_ref("Prefilled"), "201", "Case opened"),
                params=["visit_id"],
                body=_body(_obj({"pin": {"type": "string", "pattern": "^[0-9]{4}$"}}, ["pin"])),
            )
        },
        "/api/visits/{visit_id}/confirm": {
            "post": _op(
                "Confirm the checked form (fee-free: ticket issued)",
                "kiosk",
                _ok(visit),
                params=["visit_id"],
            )
        },
        "/api/visits/{visit_id}/payment": {
            "post": _op(
                "Start the payment on the terminal / QR checkout",
                "kiosk",
                _ok(_ref("Payment"), "201", "Payment started"),
                params=["visit_id"],
            ),
            "get": _op(
                "Payment status (ticket_token once paid)",
                "kiosk",
                _ok(_ref("Payment")),
                params=["visit_id"],
            ),
        },
        "/api/visits/{visit_id}/ticket": {
            "get": _op(
                "The visit's ticket", "kiosk", _ok(_ref("TicketStatus")), params=["visit_id"]
            )
        },
        "/api/visits/{visit_id}/receipt": {
            "get": _op(
                "Receipt of the visit's payment in the visit's language (?lang= overrides); "
                "404 no_receipt when nothing was paid (fee-free case or not paid yet)",
                "kiosk",
                _ok(_ref("Receipt")),
                params=["visit_id"],
            )
        },
        "/api/tickets/{token}": {
            "get": _op(
                "Ticket status by its status-page token (no personal data)",
                "board",
                _ok(_ref("TicketStatus")),
                params=["token"],
            )
        },
        "/api/board": {
            "get": _op(
                "Display board state: latest calls, waiting counts", "board", _ok(_ref("Board"))
            )
        },
        "/api/voice/call.wav": {
            "get": _op(
                "A board call spoken offline (espeak-ng): ticket number and counter only",
                "voice",
                _wav("Speech of the call in `lang` (503 voice_unavailable without a voice)"),
                query=[
                    {
                        "name": "number",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[A-Z]{1,3}-?[0-9]{1,4}$"},
                        "description": "display number, e.g. A-012",
                    },
                    {
                        "name": "counter",
                        "in": "query",
                        "required": True,
                        "schema": S,
                        "description": "counter code",
                    },
                ],
            )
        },
        "/api/voice/guide/{screen}.wav": {
            "get": _op(
                "A kiosk screen's instruction spoken offline (never personal data)",
                "voice",
                _wav("Speech of the instruction in `lang` (503 voice_unavailable without a voice)"),
                query=[
                    {
                        "name": "screen",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": list(GUIDE_SCREENS)},
                    }
                ],
            )
        },
        "/api/staff/login": {
            "post": _op(
                "Bearer token for a staff account (5 failures lock it for 15 minutes)",
                "staff",
                _ok(_obj({"token": S, "token_type": S, "expires_in": INT, "role": S})),
                body=_body(_obj({"username": S, "password": S}, ["username", "password"])),
            )
        },
        "/api/staff/me": {
            "get": _op(
                "The token's account", "staff", _ok(_obj({"username": S, "role": S})), auth=True
            )
        },
        "/api/staff/queues": {
            "get": _op(
                "Queue counts and open tickets", "staff", _ok(_ref("QueueOverview")), auth=True
            )
        },
        "/api/staff/counters/{code}/open": {
            "post": _op(
                "Open or close a counter",
                "staff",
                _ok(_obj({"counter": S, "open": B})),
                params=["code"],
                body=_body(_obj({"open": B}, ["open"])),
                auth=True,
            )
        },
        "/api/staff/counters/{code}/call-next": {
            "post": _op(
                "Call the next ticket to the counter",
                "staff",
                _ok(ticket_op),
                params=["code"],
                auth=True,
            )
        },
        "/api/staff/tickets/{ticket_id}/{operation}": {
            "post": _op(
                "A ticket operation; call needs counter, transfer needs queue and/or counter",
                "staff",
                _ok(ticket_op),
                params=["ticket_id", "operation"],
                body=_body(_obj({"counter": S, "queue": S}), required=False),
                auth=True,
            )
        },
        "/api/staff/cases/{case_id}": {
            "get": _op(
                "The case in clear with its payments (every call is audited)",
                "staff",
                _ok(_ref("CaseDetail")),
                params=["case_id"],
                auth=True,
            )
        },
        "/api/staff/payments/{public_id}/receipt": {
            "get": _op(
                "Receipt of a taken payment",
                "staff",
                _ok({"type": "object"}),
                params=["public_id"],
                auth=True,
            )
        },
        "/api/staff/payments/{public_id}/refund": {
            "post": _op(
                "Refund all or part of a payment (supervisor or admin)",
                "staff",
                _ok(_obj({"refund_id": INT, "amount_yen": INT, "payment": _ref("Payment")})),
                params=["public_id"],
                body=_body(
                    _obj(
                        {
                            "reason": {"type": "string", "minLength": 1, "maxLength": 200},
                            "amount_yen": {"type": "integer", "minimum": 1},
                        },
                        ["reason"],
                    )
                ),
                auth=True,
            )
        },
        "/api/staff/stats": {
            "get": _op(
                "Daily statistics (supervisor or admin)",
                "staff",
                _ok(
                    _obj(
                        {
                            "day": S,
                            "per_hour": {"type": "array", "items": INT},
                            "queues": {"type": "array", "items": {"type": "object"}},
                        }
                    )
                ),
                query=[
                    {"name": "day", "in": "query", "schema": {"type": "string", "format": "date"}}
                ],
                auth=True,
            )
        },
        # The kiosks' calls for staff (ui.api_help).
        "/api/staff/alerts": {
            "get": _op(
                "Calls for staff nobody has acknowledged yet, oldest first",
                "staff",
                _ok(_obj({"alerts": {"type": "array", "items": help_alert}})),
                auth=True,
            )
        },
        "/api/staff/alerts/{alert_id}/acknowledge": {
            "post": _op(
                "Going to the kiosk: the alert leaves every console, the kiosk is told (audited)",
                "staff",
                _ok(_obj({"alert": help_alert, "acknowledged_now": B})),
                params=["alert_id"],
                auth=True,
            )
        },
        "/api/staff/alerts/statistics": {
            "get": _op(
                "Calls for staff of a day and how long residents waited (supervisor or admin)",
                "staff",
                _ok(
                    _obj(
                        {
                            "day": S,
                            "calls": INT,
                            "acknowledged": INT,
                            "still_open": INT,
                            "mean_wait_s": {"type": ["number", "null"]},
                            "p90_wait_s": {"type": ["number", "null"]},
                            "longest_wait_s": NI,
                        }
                    )
                ),
                query=[
                    {"name": "day", "in": "query", "schema": {"type": "string", "format": "date"}}
                ],
                auth=True,
            )
        },
        "/api/openapi.json": {"get": _op("This document", "meta", _ok({"type": "object"}))},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "No-writing counter (書かない窓口) API",
            "version": "1.0.0",
            "description": (
                "Kiosk visits, staff counter work and the display board. Errors are "
                '`{"error": {"code", "message"}}`; `code` is stable, `message` is in '
                "the language of `?lang=` or Accept-Language (ja, en, zh-Hans, ko)."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "staffToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "from POST /api/staff/login",
                }
            },
            "parameters": {
                "visit_id": {"name": "visit_id", "in": "path", "required": True, "schema": S},
                "token": {"name": "token", "in": "path", "required": True, "schema": S},
                "code": {"name": "code", "in": "path", "required": True, "schema": S},
                "public_id": {"name": "public_id", "in": "path", "required": True, "schema": S},
                "ticket_id": {"name": "ticket_id", "in": "path", "required": True, "schema": INT},
                "case_id": {"name": "case_id", "in": "path", "required": True, "schema": INT},
                "alert_id": {"name": "alert_id", "in": "path", "required": True, "schema": INT},
                "operation": {
                    "name": "operation",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": OPERATIONS},
                },
                "lang": {
                    "name": "lang",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["ja", "en", "zh-Hans", "ko"]},
                },
            },
            "responses": {
                "Error": {
                    "description": "A client error with a stable code",
                    "content": {JSON: {"schema": _ref("Error")}},
                }
            },
            "schemas": {
                "Error": _obj(
                    {
                        "error": _obj(
                            {
                                "code": S,
                                "message": S,
                                "field": S,
                                "fields": {"type": "object"},
                                "tries_left": NI,
                            },
                            ["code", "message"],
                        )
                    },
                    ["error"],
                ),
                "Catalog": _obj(
                    {
                        "procedures": {"type": "array", "items": {"type": "object"}},
                        "queues": {"type": "array", "items": {"type": "object"}},
                        "counters": {"type": "array", "items": {"type": "object"}},
                        "ward": {
                            "type": ["object", "null"],
                            "description": "names, address_prefix and towns (name, kana, "
                            "chome, numbering) for ward_address fields, whose value is "
                            "{town, chome, ban, go, building}",
                        },
                    }
                ),
                "Visit": _obj(
                    {
                        "visit_id": S,
                        "language": S,
                        "procedures": {"type": "array", "items": S},
                        "fields": FIELDS,
                        "case_id": NI,
                        "payment_id": NS,
                        "ticket_token": NS,
                        "fee_yen": INT,
                    }
                ),
                "Prefilled": _obj(
                    {
                        "case_id": INT,
                        "status": S,
                        "name": NS,
                        "address": NS,
                        "birth_date": NS,
                        "sex": NS,
                        "fee_yen": INT,
                        "procedures": {"type": "array", "items": {"type": "object"}},
                    }
                ),
                "Payment": _obj(
                    {
                        "payment_id": S,
                        "status": S,
                        "amount_yen": INT,
                        "refunded_yen": INT,
                        "display_url": NS,
                        "failure_code": NS,
                        "ticket_token": NS,
                    }
                ),
                "Receipt": _obj(
                    {
                        "title": S,
                        "title_ja": {"type": "string", "enum": ["利用明細", "領収書"]},
                        "language": {"type": "string", "enum": ["ja", "en", "zh-Hans", "ko"]},
                        "ward_name": S,
                        "number": S,
                        "case_id": INT,
                        "paid_at": {"type": "string", "format": "date-time"},
                        "lines": {
                            "type": "array",
                            "items": _obj(
                                {
                                    "code": S,
                                    "name": S,
                                    "units": INT,
                                    "unit_fee_yen": INT,
                                    "fee_yen": INT,
                                }
                            ),
                        },
                        "total_yen": INT,
                        "refunded_yen": INT,
                        "method": S,
                        "provider": S,
                        "provider_reference": S,
                    },
                    ["title", "ward_name", "lines", "total_yen", "method", "provider_reference"],
                ),
                "Ticket": _obj(
                    {"id": INT, "number": S, "status": S, "case_id": INT, "counter_id": NI}
                ),
                "TicketStatus": _obj(
                    {
                        "number": S,
                        "status": S,
                        "people_ahead": INT,
                        "estimated_wait_s": INT,
                        "quoted_wait_s": INT,
                        "counter": {"type": ["object", "null"]},
                        "token": S,
                    }
                ),
                "Board": _obj(
                    {
                        "calls": {
                            "type": "array",
                            "items": _obj(
                                {
                                    "number": S,
                                    "counter": S,
                                    "counter_names": NAMES,
                                    "called_at": S,
                                    "call_count": INT,
                                }
                            ),
                        },
                        "waiting": {
                            "type": "array",
                            "items": _obj(
                                {"queue": S, "prefix": S, "names": NAMES, "waiting": INT}
                            ),
                        },
                    }
                ),
                "QueueOverview": _obj(
                    {
                        "queues": {"type": "array", "items": {"type": "object"}},
                        "tickets": {"type": "array", "items": {"type": "object"}},
                    }
                ),
                "CaseDetail": _obj(
                    {
                        "id": INT,
                        "status": S,
                        "name": NS,
                        "address": NS,
                        "birth_date": NS,
                        "fee_yen": INT,
                        "ticket": NS,
                        "procedures": {"type": "array", "items": {"type": "object"}},
                        "payments": {"type": "array", "items": _ref("Payment")},
                    }
                ),
            },
        },
    }
