"""Malformed input never makes a 500; the OpenAPI document covers every /api route."""

from __future__ import annotations

import re

import pytest

from tests.ui.staffkit import PASSWORD, add_staff, csrf, login, paid_ticket

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
