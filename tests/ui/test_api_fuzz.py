"""Malformed input never makes a 500 and never reaches a case: every POST route, then each
kind of malformed value with the code, path and language of its answer; the refund amount
and the statistics day read by one rule in the API and the console; the OpenAPI document
covers every /api route."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from kiosk.clock import business_day
from kiosk.models import CaseProcedure
from payments.states import get_payment
from tests.ui.cards import place_card_after_start
from tests.ui.staffkit import PASSWORD, add_staff, csrf, login, paid_ticket
from ui.services import services_of

BAD_BODIES: list[tuple[str, bytes | str]] = [
    ("not json", b"{not json"),
    ("array", b"[1, 2, 3]"),
    ("string", b'"hello"'),
    ("null", b"null"),
    ("huge number", b'{"pin": 1e999, "open": 99999999999999999999999999, "amount_yen": -1}'),
]
WRONG_VALUES = [None, 1, -1, 10**30, 1.5, True, "", "x" * 5000, [], {}, ["a"], {"a": {"b": 1}}]
KEYS = ["procedures", "fields", "pin", "open", "counter", "queue", "reason", "amount_yen",
        "username", "password"]  # fmt: skip


@pytest.fixture
def app(make_app):
    """An app with a supervisor, an admin and one paid ticket."""
    app = make_app(sim_terminal_auto="approve")
    add_staff(app, "boss", "supervisor")
    add_staff(app, "root", "admin")
    app.config["FUZZ_TICKET"] = paid_ticket(app)
    return app


def _fill(rule: str, values: dict[str, str]) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: values.get(m.group(1), "x"), rule)


def _routes(app, prefix: str, method: str = "POST") -> list[str]:
    return sorted(
        r.rule
        for r in app.url_map.iter_rules()
        if r.rule.startswith(prefix) and method in (r.methods or set())
    )


def test_every_api_post_route_answers_malformed_input_with_4xx_json(app):
    """Bad JSON, wrong types, huge values and huge bodies on every POST give 4xx JSON."""
    client = app.test_client()
    token = client.post("/api/staff/login", json={"username": "boss", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
    vid = client.post("/api/visits", json={"procedures": ["juminhyo"]}).get_json()["visit_id"]
    info = app.config["FUZZ_TICKET"]
    variants = [
        {"visit_id": vid, "code": "1", "ticket_id": str(info["ticket_id"]),
         "public_id": info["payment_id"], "operation": "transfer"},
        {"visit_id": "nope", "code": "9" * 300, "ticket_id": "9" * 40, "public_id": "%00",
         "operation": "explode"},
    ]  # fmt: skip
    routes = _routes(app, "/api")
    assert len(routes) >= 10
    checked = 0
    for rule in routes:
        if rule == "/api/staff/login":
            continue  # fuzzed below without locking the account out
        for values in variants:
            url = _fill(rule, values)
            bodies: list[tuple[str, bytes | str | dict]] = list(BAD_BODIES)
            bodies += [(f"{k}={v!r:.20}", {k: v}) for k in KEYS for v in WRONG_VALUES]
            bodies.append(("too large", b'{"reason": "' + b"x" * 70_000 + b'"}'))
            for label, body in bodies:
                if isinstance(body, dict):
                    response = client.post(url, json=body, headers=headers)
                else:
                    response = client.post(
                        url, data=body, headers={**headers, "Content-Type": "application/json"}
                    )
                assert response.status_code < 500, (url, label, response.get_data()[:300])
                if response.status_code >= 400:
                    assert response.is_json, (url, label)
                    assert response.get_json()["error"]["code"]
                checked += 1
    assert checked > 500


def test_login_endpoint_rejects_malformed_input_with_4xx(app):
    """The API log-in answers wrong types and junk with 4xx JSON, never 500."""
    client = app.test_client()
    for body in ([1], {"username": 5, "password": None}, {"username": "x" * 999, "password": "p"}):
        response = client.post("/api/staff/login", json=body)
        assert 400 <= response.status_code < 500 and response.get_json()["error"]["code"]
    assert client.post("/api/staff/login", data=b"{{").status_code == 400


def test_every_console_post_route_survives_junk_forms(app):
    """Each staff console POST with junk form values answers without a server error."""
    client = app.test_client()
    login(client, "root")
    info = app.config["FUZZ_TICKET"]
    junk = {"counter": "x" * 300, "queue": "\x00", "open": "maybe", "reason": "r" * 5000,
            "amount_yen": "99999999999999999999", "role": "god", "active": "2",
            "username": "bad name!", "password": "short",
            "next": "https://evil.example/"}  # fmt: skip
    routes = _routes(app, "/staff")
    assert len(routes) >= 8
    for rule in routes:
        if rule in ("/staff/login", "/staff/logout"):
            continue
        for values in (
            {"ticket_id": str(info["ticket_id"]), "operation": "transfer", "code": "1",
             "public_id": info["payment_id"], "staff_id": "1"},
            {"ticket_id": "9" * 30, "operation": "nope", "code": "zz", "public_id": "zz",
             "staff_id": "9" * 30},
        ):  # fmt: skip
            url = _fill(rule, values)
            response = client.post(url, data={**junk, "csrf_token": csrf(client)})
            assert response.status_code < 500, (url, response.status_code)
            location = response.headers.get("Location", "")
            assert "evil.example" not in location


def test_openapi_document_covers_every_api_route(app):
    """Each /api route and method of the app is in /api/openapi.json and vice versa."""
    doc = app.test_client().get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, item in doc["paths"].items() for method in item}
    actual = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            actual.add((path, method))
    assert actual == documented
    for item in doc["paths"].values():
        for op in item.values():
            assert op["summary"] and "4XX" in op["responses"]


# --- malformed values: one rule per model, a 422 with the value's path, never a 500 ----------

KO = {
    "invalid_field": "요청의 항목이 빠졌거나 값이 올바르지 않습니다.",
    "validation_failed": "일부 내용이 올바르지 않습니다.",
    "invalid_json": "요청 본문은 JSON 객체여야 합니다.",
}
DEEP = 30_000  # far past json's recursion limit, within the 64 KiB a body may have
# (label, endpoint, raw JSON body, status, code, the error's field path (* ends a prefix))
MALFORMED: list[tuple[str, str, str, int, str, str | None]] = [
    ("nested 1000 deep in a field value", "visits",
     '{"procedures": ["juminhyo"], "fields": {"juminhyo": {"purpose": '
     + "[" * 1000 + "]" * 1000 + "}}}",
     422, "invalid_field", "fields.juminhyo.purpose.0.0.0.0.0.0.0"),
    ("nested 30000 deep", "visits", '{"procedures": ' + "[" * DEEP + "]" * DEEP + "}",
     422, "invalid_field", "procedures.0.0.0.0.0.0.0.0.0"),
    ("a list nested in a field value", "visits",
     '{"procedures": ["juminhyo"], "fields": {"juminhyo": {"fiscal_years": [[2024]]}}}',
     422, "invalid_field", "fields.juminhyo.fiscal_years"),
    ("lone surrogate as a procedure", "visits", '{"procedures": ["\\ud800"]}',
     422, "invalid_field", "procedures.0"),
    ("lone surrogate as a field name", "visits",
     '{"procedures": ["juminhyo"], "fields": {"juminhyo": {"\\ud800": "x"}}}',
     422, "invalid_field", "fields.juminhyo.*"),
    ("bidi override as a field name", "visits",
     '{"procedures": ["juminhyo"], "fields": {"juminhyo": {"a\\u202eb": "x"}}}',
     422, "invalid_field", "fields.juminhyo.a\\u202eb"),
    ("a string where a list is expected", "visits", '{"procedures": "juminhyo"}',
     422, "invalid_field", "procedures"),
    ("a procedure chosen twice", "visits", '{"procedures": ["juminhyo", "juminhyo"]}',
     422, "invalid_field", "procedures"),
    ("an unknown key", "visits", '{"procedures": ["juminhyo"], "procedure": "inkan"}',
     422, "invalid_field", "procedure"),
    ("NaN is not JSON", "visits", '{"procedures": ["juminhyo"], "fields": {"juminhyo": '
     '{"copies": NaN}}}', 400, "invalid_json", None),
    ("lone surrogate in free text", "visits",
     '{"procedures": ["juminhyo"], "fields": {"juminhyo": {"purpose": "a\\udfffb"}}}',
     422, "validation_failed", None),
    ("bidi override in free text", "visits",
     '{"procedures": ["juminhyo"], "fields": {"juminhyo": {"purpose": "\\u202e003"}}}',
     422, "validation_failed", None),
    ("isolate in free text", "visits",
     '{"procedures": ["juminhyo"], "fields": {"juminhyo": {"purpose": "x\\u2067y\\u2069"}}}',
     422, "validation_failed", None),
    ("control character in free text", "visits",
     '{"procedures": ["juminhyo"], "fields": {"juminhyo": {"purpose": "a\\u0000b"}}}',
     422, "validation_failed", None),
    ("line break in free text", "visits",
     '{"procedures": ["juminhyo"], "fields": {"juminhyo": {"purpose": "a\\nb"}}}',
     422, "validation_failed", None),
    ("a list where free text is expected", "visits",
     '{"procedures": ["juminhyo"], "fields": {"juminhyo": {"purpose": ["a"]}}}',
     422, "validation_failed", None),
    ("a list where the PIN is expected", "pin", '{"pin": ["1234"]}', 422, "invalid_field", "pin"),
    ("a number where the PIN is expected", "pin", '{"pin": 1234}', 422, "invalid_field", "pin"),
    ("lone surrogate as the PIN", "pin", '{"pin": "12\\ud83d"}', 422, "invalid_field", "pin"),
    ("bidi override in a user name", "login", '{"username": "a\\u202eb", "password": "x"}',
     422, "invalid_field", "username"),
    ("control character in a user name", "login", '{"username": "a\\u0007", "password": "x"}',
     422, "invalid_field", "username"),
    ("lone surrogate as a password", "login", '{"username": "boss", "password": "\\udfff"}',
     422, "invalid_field", "password"),
    ("a string where an amount is expected", "refund", '{"reason": "r", "amount_yen": "300"}',
     422, "invalid_field", "amount_yen"),
    ("true for an amount", "refund", '{"reason": "r", "amount_yen": true}',
     422, "invalid_field", "amount_yen"),
    ("a fraction for an amount", "refund", '{"reason": "r", "amount_yen": 1.5}',
     422, "invalid_field", "amount_yen"),
    ("a huge amount", "refund", '{"reason": "r", "amount_yen": ' + "9" * 40 + "}",
     422, "invalid_field", "amount_yen"),
    ("an infinite amount", "refund", '{"reason": "r", "amount_yen": 1e999}',
     422, "invalid_field", "amount_yen"),
    ("a misspelt amount", "refund", '{"reason": "r", "amount": 100}',
     422, "invalid_field", "amount"),
    ("bidi override in a refund reason", "refund", '{"reason": "ok\\u2066"}',
     422, "invalid_field", "reason"),
    ("a blank refund reason", "refund", '{"reason": "   "}', 422, "invalid_field", "reason"),
    ("1 for true", "open", '{"open": 1}', 422, "invalid_field", "open"),
    ("a string for true", "open", '{"open": "true"}', 422, "invalid_field", "open"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("endpoint", "raw", "status", "code", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in MALFORMED],
)
def test_malformed_values_are_422_with_the_path_in_the_requests_language(
    app, endpoint, raw, status, code, field
):
    """Deep nesting, lone surrogates, control and bidi characters, lists for strings,
    strings, fractions and huge numbers for ints, true for an int: a 4xx with the value's
    path and a message in the request's language, before anything is stored."""
    client = app.test_client()
    info = app.config["FUZZ_TICKET"]
    token = client.post("/api/staff/login", json={"username": "boss", "password": PASSWORD})
    auth = {"Authorization": f"Bearer {token.get_json()['token']}"}
    vid = client.post("/api/visits", json={"procedures": ["juminhyo"]}).get_json()["visit_id"]
    url = {
        "visits": "/api/visits",
        "pin": f"/api/visits/{vid}/card/read",
        "login": "/api/staff/login",
        "refund": f"/api/staff/payments/{info['payment_id']}/refund",
        "open": "/api/staff/counters/1/open",
    }[endpoint]
    before = _stored(app)
    response = client.post(
        f"{url}?lang=ko",
        data=raw.encode(),
        headers={**auth, "Content-Type": "application/json"},
    )
    error = response.get_json()["error"]
    assert (response.status_code, error["code"]) == (status, code), error
    assert error["message"] == KO[code]
    if field is not None and field.endswith("*"):
        assert error["field"].startswith(field[:-1])
    else:
        assert error.get("field") == field
    if code == "validation_failed":
        assert list(error["fields"]["juminhyo"]) == [_field_of(raw)]
    assert _stored(app) == before  # no case, refund or audit row came of it


def _field_of(raw: str) -> str:
    return "fiscal_years" if "fiscal_years" in raw else "purpose"


def _stored(app) -> tuple[int, int]:
    from sqlalchemy import func, select

    from kiosk.models import AuditEvent, Case

    with services_of(app).sessions() as s:
        return (
            s.scalar(select(func.count(Case.id))) or 0,
            s.scalar(select(func.max(AuditEvent.id))) or 0,
        )


@pytest.mark.parametrize("day", ["2026-02-30", "20260101", "2026-01-01x", "１９９９-01-01"])
def test_a_stats_day_is_read_by_one_rule_in_the_api_and_the_console(app, day):
    """?day= that is not a real YYYY-MM-DD is 422 invalid_field in the API; the console's
    statistics page, reading it with the same model, shows today instead."""
    client = app.test_client()
    token = client.post("/api/staff/login", json={"username": "boss", "password": PASSWORD})
    auth = {"Authorization": f"Bearer {token.get_json()['token']}"}
    response = client.get(f"/api/staff/stats?day={day}", headers=auth)
    assert response.status_code == 422
    assert response.get_json()["error"] == {
        "code": "invalid_field",
        "message": "リクエストの項目が足りないか、値が正しくありません。",
        "field": "day",
    }
    ok = client.get("/api/staff/stats?day=2026-01-31", headers=auth).get_json()
    assert ok["day"] == "2026-01-31" and len(ok["per_hour"]) == 24
    login(client, "boss")
    page = client.get(f"/staff/stats?day={day}").get_data(as_text=True)
    assert f'value="{business_day().isoformat()}"' in page
    page = client.get("/staff/stats?day=2026-01-31").get_data(as_text=True)
    assert 'value="2026-01-31"' in page


@pytest.mark.parametrize(
    ("amount", "accepted"),
    [("0", False), ("10000001", False), ("12a", False), ("1.5", False), ("100", True)],
)
def test_a_refund_amount_is_read_by_one_rule_in_the_api_and_the_console(app, amount, accepted):
    """The console's refund form and the API refuse and accept the same amounts (1 to
    10,000,000 whole yen), through the same model."""
    info = app.config["FUZZ_TICKET"]
    client = app.test_client()
    token = client.post("/api/staff/login", json={"username": "boss", "password": PASSWORD})
    auth = {"Authorization": f"Bearer {token.get_json()['token']}"}
    url = f"/api/staff/payments/{info['payment_id']}/refund"
    as_json: object = int(amount) if amount.isdigit() else amount
    if amount == "1.5":
        as_json = 1.5
    api = client.post(url, json={"reason": "r", "amount_yen": as_json}, headers=auth)
    assert (api.status_code == 200) is accepted, api.get_json()
    console = app.test_client()
    login(console, "boss")
    form = {"reason": "r", "amount_yen": amount, "csrf_token": csrf(console)}
    console.post(f"/staff/payments/{info['payment_id']}/refund", data=form)
    with services_of(app).sessions() as s:
        refunded = get_payment(s, info["payment_id"]).refunded_yen
    assert refunded == (200 if accepted else 0)  # 100 by the API, 100 by the console


def test_bidi_override_in_free_text_is_refused_by_the_api_and_the_kiosk_form(app):
    """A right-to-left override in a procedure's free-text field (the "purpose" printed on
    the A4 form) is refused through the API (before and after the card read) and through
    the kiosk's form, and never reaches the case."""
    evil = "\u202e003 ,円"
    client = app.test_client()
    opened = client.post(
        "/api/visits?lang=en",
        json={"procedures": ["juminhyo"], "fields": {"juminhyo": {"purpose": evil}}},
    )
    assert opened.status_code == 422
    assert opened.get_json()["error"]["fields"]["juminhyo"] == {
        "purpose": "Purpose contains characters that cannot be used."
    }
    vid = client.post("/api/visits", json={"procedures": ["juminhyo"]}).get_json()["visit_id"]
    place_card_after_start(app)
    case_id = client.post(f"/api/visits/{vid}/card/read", json={"pin": "1234"}).get_json()[
        "case_id"
    ]
    later = client.post(
        f"/api/visits/{vid}/fields", json={"fields": {"juminhyo": {"purpose": evil}}}
    )
    assert later.status_code == 422 and later.get_json()["error"]["code"] == "validation_failed"

    kiosk = app.test_client()
    kiosk.get("/kiosk/?lang=ja")
    kiosk.post("/kiosk/start")
    kiosk.post("/kiosk/procedures", data={"procedure": ["juminhyo"]})
    form = kiosk.post("/kiosk/fields", data={"juminhyo.purpose": evil})
    assert form.status_code == 422
    assert "使用目的に使えない文字が含まれています。" in form.get_data(as_text=True)
    assert kiosk.post("/kiosk/fields", data={}).headers["Location"].endswith("/kiosk/card")
    place_card_after_start(app)
    kiosk.get("/kiosk/pin")
    assert kiosk.post("/kiosk/pin", data={"pin": "1234"}).headers["Location"].endswith("/check")
    changed = kiosk.post("/kiosk/fields", data={"juminhyo.purpose": evil})  # "Change" on check
    assert changed.status_code == 422
    with services_of(app).sessions() as s:
        stored = [
            line.resident_fields
            for line in s.scalars(select(CaseProcedure).where(CaseProcedure.case_id == case_id))
        ]
        everything = [line.resident_fields for line in s.scalars(select(CaseProcedure))]
    assert stored and all("\u202e" not in str(fields) for fields in everything)
