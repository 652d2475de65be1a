"""Issue 10: CSP and frame headers on every page (the phone page sent none): every GET
route of the app, the phone page of a real ticket, error pages and unknown paths."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Flask

from cardreader.model import CardInfo, Integrity, Sex
from kiosk import cases
from kiosk.db import transaction
from kiosk.tickets import issue_ticket
from ui.services import services_of


def _check(response: Any, where: str) -> None:
    headers = response.headers
    policy = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in policy, (where, policy)
    assert "default-src 'self'" in policy or "default-src 'none'" in policy, (where, policy)
    # Scripts only from this service (default-src): no inline script, no eval.
    assert "script-src" not in policy and "unsafe-eval" not in policy, (where, policy)
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") in ("same-origin", "no-referrer"), where


def test_every_page_and_answer_has_csp_and_frame_headers(make_app: Callable[..., Flask]) -> None:
    """Every argument-free GET route (kiosk, staff, board, API, health, simulator, voice),
    a ticket's phone page, a 404 and a 405 carry CSP with frame-ancestors 'none',
    X-Frame-Options DENY, nosniff and a referrer policy."""
    app = make_app(voice_command="")
    client = app.test_client()
    checked = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.arguments or rule.endpoint == "static":
            continue
        response = client.get(rule.rule)
        _check(response, rule.rule)
        checked += 1
    assert checked >= 10
    services = services_of(app)
    with transaction(services.sessions) as s:
        card = CardInfo(
            "山田", "太郎", "東京都千代田区", date(1980, 1, 2), Sex.MALE, Integrity.VERIFIED
        )
        case = cases.open_case(s, card, ["juminhyo"], catalog=services.catalog, actor="kiosk:t")
        cases.confirm_case(s, case, catalog=services.catalog, actor="kiosk:t")
        cases.mark_awaiting_payment(s, case, actor="kiosk:t")
        cases.mark_paid(s, case, actor="payment:t")
        token = issue_ticket(s, case, actor="kiosk:t").token
    phone = client.get(f"/t/{token}")
    assert phone.status_code == 200
    _check(phone, "/t/<token>")
    assert phone.headers["Referrer-Policy"] == "no-referrer"  # the URL is the ticket's key
    _check(client.get("/t/not-a-ticket"), "/t/<unknown>")
    _check(client.get("/no/such/page"), "404")
    _check(client.post("/board/"), "405")
    with client.get("/static/board.css") as static:
        _check(static, "static")
