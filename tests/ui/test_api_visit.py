"""JSON API: a whole visit on the simulator, staff work by token, errors, OpenAPI coverage."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from kiosk.models import AuditEvent
from tests.support.waiting import wait_until
from tests.ui.cards import place_card_after_start
from tests.ui.staffkit import PASSWORD, PERSONA_NAME, add_staff, paid_ticket
from ui.services import services_of


@pytest.fixture
def app(make_app):
    """An app with the in-process card simulator and auto-approving payments."""
    app = make_app(sim_terminal_auto="approve")
    add_staff(app, "clerk", "staff")
    add_staff(app, "boss", "supervisor")
    return app


def _token(client, username: str) -> dict[str, str]:
    body = client.post("/api/staff/login", json={"username": username, "password": PASSWORD})
    assert body.status_code == 200, body.get_json()
    return {"Authorization": f"Bearer {body.get_json()['token']}"}


def test_whole_visit_through_the_api(app):
    """Catalog, open visit, fields, card, PIN read, confirm, pay, ticket, then staff call it."""
    client = app.test_client()
    catalog = client.get("/api/catalog").get_json()
    assert any(p["code"] == "juminhyo" for p in catalog["procedures"])
    visit = client.post("/api/visits?lang=en", json={"procedures": ["juminhyo"]})
    assert visit.status_code == 201
    vid = visit.get_json()["visit_id"]
    place_card_after_start(app)
    fields = client.post(f"/api/visits/{vid}/fields", json={"fields": {"juminhyo": {"copies": 2}}})
    assert fields.status_code == 200 and fields.get_json()["fields"]["juminhyo"]["copies"] == 2
    card = client.get(f"/api/visits/{vid}/card").get_json()
    assert card == {
        "reader_present": True,
        "card_present": True,
        "pin_tries_left": 3,
        "card_from_earlier": False,
        "jpki_pin_wanted": False,
        "jpki_pin_tries_left": None,
    }
    read = client.post(f"/api/visits/{vid}/card/read", json={"pin": "1234"})
    assert read.status_code == 201
    prefilled = read.get_json()
    assert prefilled["name"].startswith(PERSONA_NAME) and prefilled["fee_yen"] == 600
    assert client.post(f"/api/visits/{vid}/confirm").get_json()["fee_yen"] == 600
    payment = client.post(f"/api/visits/{vid}/payment")
    assert payment.status_code == 201
    status = wait_until(
        lambda: (
            (body := client.get(f"/api/visits/{vid}/payment").get_json())["ticket_token"] and body
        ),
        message="the ticket of the paid visit",
    )
    assert status["status"] == "succeeded" and status["ticket_token"]
    ticket = client.get(f"/api/visits/{vid}/ticket").get_json()
    assert re.fullmatch(r"A-\d{3}", ticket["number"]) and ticket["status"] == "waiting"
    public = client.get(f"/api/tickets/{ticket['token']}").get_json()
    assert public["number"] == ticket["number"]
    headers = _token(client, "clerk")
    called = client.post("/api/staff/counters/1/call-next", headers=headers).get_json()["ticket"]
    assert called["number"] == ticket["number"]
    board = client.get("/api/board").get_json()
    assert board["calls"][0]["number"] == ticket["number"]
    tid = called["id"]
    assert client.post(f"/api/staff/tickets/{tid}/serve", headers=headers).status_code == 200
    done = client.post(f"/api/staff/tickets/{tid}/complete", headers=headers).get_json()
    assert done["ticket"]["status"] == "done"
    assert client.delete(f"/api/visits/{vid}").status_code == 204


def test_wrong_pin_is_a_json_error_with_tries_left(app):
    """A wrong PIN answers 422 with code wrong_pin, the tries left and a localized message."""
    client = app.test_client()
    vid = client.post("/api/visits", json={"procedures": ["juminhyo"]}).get_json()["visit_id"]
    place_card_after_start(app)
    response = client.post(f"/api/visits/{vid}/card/read?lang=en", json={"pin": "9999"})
    error = response.get_json()["error"]
    assert response.status_code == 422
    assert error["code"] == "wrong_pin" and error["tries_left"] == 2
    assert "PIN" in error["message"]
    client.post(f"/api/visits/{vid}/card/read", json={"pin": "1234"})  # reset the counter


@pytest.mark.parametrize("pin", ["12", "12345", "12a4", "１２３４"])
def test_malformed_pin_is_422_and_costs_no_try(app, pin):
    """A PIN that is not 4 digits answers 422 bad_pin_format and never reaches the card."""
    client = app.test_client()
    vid = client.post("/api/visits", json={"procedures": ["juminhyo"]}).get_json()["visit_id"]
    place_card_after_start(app)
    response = client.post(f"/api/visits/{vid}/card/read?lang=en", json={"pin": pin})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "bad_pin_format"
    assert client.get(f"/api/visits/{vid}/card").get_json()["pin_tries_left"] == 3


def test_staff_case_view_by_token_is_audited(app):
    """The API's case view returns the case in clear and writes a case.viewed audit row."""
    info = paid_ticket(app)
    client = app.test_client()
    case = client.get(f"/api/staff/cases/{info['case_id']}", headers=_token(client, "clerk"))
    assert case.status_code == 200
    assert case.get_json()["name"].startswith(PERSONA_NAME)
    assert case.get_json()["payments"][0]["status"] == "succeeded"
    with services_of(app).sessions() as s:
        actors = s.scalars(select(AuditEvent.actor).where(AuditEvent.action == "case.viewed"))
        assert list(actors) == ["staff:clerk"]


def test_refund_by_api_needs_a_supervisor(app):
    """A clerk's token gets 403 forbidden on refund; a supervisor's refunds in full."""
    info = paid_ticket(app)
    client = app.test_client()
    url = f"/api/staff/payments/{info['payment_id']}/refund"
    denied = client.post(url, json={"reason": "test"}, headers=_token(client, "clerk"))
    assert denied.status_code == 403 and denied.get_json()["error"]["code"] == "forbidden"
    done = client.post(url, json={"reason": "test"}, headers=_token(client, "boss"))
    assert done.status_code == 200
    assert done.get_json()["payment"]["status"] == "refunded"
    receipt = client.get(
        f"/api/staff/payments/{info['payment_id']}/receipt", headers=_token(client, "boss")
    )
    assert receipt.get_json()["refunded_yen"] == done.get_json()["amount_yen"]


def test_staff_endpoints_need_a_valid_token(app):
    """No token, a forged token or a wrong password give 401 with a stable code."""
    client = app.test_client()
    assert client.get("/api/staff/queues").get_json()["error"]["code"] == "unauthorized"
    forged = client.get("/api/staff/queues", headers={"Authorization": "Bearer abc.def"})
    assert forged.status_code == 401
    bad = client.post("/api/staff/login", json={"username": "clerk", "password": "nope-nope-1"})
    assert bad.status_code == 401 and bad.get_json()["error"]["code"] == "login_failed"
    ok = client.get("/api/staff/queues", headers=_token(client, "clerk"))
    assert ok.status_code == 200 and {q["queue"] for q in ok.get_json()["queues"]} >= {"tax"}


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("ja", "見つかりません"), ("en", "It was not found"), ("ko", "찾을 수 없습니다")],
)
def test_errors_are_json_with_a_stable_code_in_the_requested_language(app, lang, expected):
    """An unknown route or id is JSON {error: {code, message}} in the asked language."""
    client = app.test_client()
    for url in ("/api/no-such-thing", "/api/tickets/not-a-token"):
        response = client.get(url, headers={"Accept-Language": lang})
        assert response.status_code == 404
        assert response.is_json
        assert response.get_json()["error"]["code"] == "not_found"
        assert expected in response.get_json()["error"]["message"]


def test_visit_errors_have_codes(app):
    """Unknown procedures, invalid fields and an unknown visit each have their own code."""
    client = app.test_client()
    unknown = client.post("/api/visits", json={"procedures": ["nope"]})
    assert unknown.status_code == 422 and unknown.get_json()["error"]["code"] == "unknown_procedure"
    invalid = client.post(
        "/api/visits", json={"procedures": ["juminhyo"], "fields": {"juminhyo": {"copies": 99}}}
    )
    body = invalid.get_json()["error"]
    assert invalid.status_code == 422 and body["code"] == "validation_failed"
    assert "copies" in body["fields"]["juminhyo"]
    gone = client.get("/api/visits/unknown-visit")
    assert gone.status_code == 404 and gone.get_json()["error"]["code"] == "visit_not_found"
