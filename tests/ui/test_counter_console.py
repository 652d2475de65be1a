"""The counter desk through the web: console pages (new case, PIN on the customer display,
confirm, cash, amendment, refund of a difference, exemption), the customer display's pages,
the day's takings page with its CSV and closing, the kiosk's "pay in cash at the counter",
the JSON API's counter payments with their 422s and Idempotency-Key, and the counter's
figures on the statistics page and as CSV."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kiosk.clock import business_day
from kiosk.db import transaction
from payments.collect import refresh_payment, start_payment
from tests.ui.cards import place_card_after_start
from tests.ui.staffkit import PASSWORD, add_staff, csrf, login, open_confirmed_case, post
from ui.services import services_of


@pytest.fixture
def app(make_app: Any) -> Any:
    """Simulated counters (a reader and a terminal each); yamada's card at counter 1."""
    app = make_app(sim_persona="yamada")
    services_of(app).simulation.counter_readers["1"].insert("yamada")
    add_staff(app, "clerk", "staff")
    add_staff(app, "chief", "supervisor")
    return app


def _display(app: Any) -> Any:
    """A browser paired as counter 1's customer display (by the clerk, once)."""
    client = app.test_client()
    login(client, "clerk", counter="1")
    assert client.get("/display/pair").status_code == 200
    assert post(client, "/display/pair").status_code == 302
    return client


def _poll_once(app: Any) -> None:
    """The display's long poll, as its page does (it counts as connected meanwhile)."""
    services_of(app).counter_desk.display_poll("1", 0, timeout_s=0.05)


def _new_case(app: Any, client: Any) -> None:
    assert post(client, "/staff/desk/new").status_code == 302
    response = post(
        client,
        "/staff/desk/procedures",
        procedure="juminhyo",
        **{"juminhyo.copies": "1", "next": "card"},
    )
    assert response.status_code == 302


def test_counter_intake_from_new_case_to_paid(app: Any) -> None:
    """New case -> 住民票 -> PIN typed on the display (never on the staff page) -> the
    prefilled form on the desk page -> confirmed -> cash with change -> done."""
    staff = app.test_client()
    login(staff, "clerk", counter="1")
    display = _display(app)
    _poll_once(app)
    _new_case(app, staff)
    page = display.get("/display/?lang=en").get_data(as_text=True)
    assert 'class="pinpad"' in page and "3 tries left" in page
    desk_page = staff.get("/staff/desk").get_data(as_text=True)
    assert 'name="pin"' not in desk_page
    assert post(display, "/display/pin", pin="1234").status_code == 302
    desk_page = staff.get("/staff/desk").get_data(as_text=True)
    assert "山田" in desk_page and 'id="confirm"' in desk_page and "1234" not in desk_page
    shown = display.get("/display/").get_data(as_text=True)
    assert "山田" in shown and 'id="display-confirm"' in shown
    assert post(display, "/display/confirm").status_code == 302
    desk_page = staff.get("/staff/desk").get_data(as_text=True)
    case_id = int(re.search(r"/staff/cases/(\d+)/cash", desk_page).group(1))  # type: ignore[union-attr]
    key = re.search(r'name="request_key" value="([^"]+)"', desk_page).group(1)  # type: ignore[union-attr]
    too_little = post(
        staff,
        f"/staff/cases/{case_id}/cash",
        amount_yen="300",
        tendered_yen="100",
        request_key=key,
        next="/staff/desk",
    )
    assert too_little.status_code == 302
    # The message is worded in the language of the request that failed (Japanese here).
    assert "お預かり金額が収納額に足りません" in staff.get("/staff/desk").get_data(as_text=True)
    paid = post(
        staff,
        f"/staff/cases/{case_id}/cash",
        amount_yen="300",
        tendered_yen="1000",
        request_key=key,
        next="/staff/desk",
    )
    assert paid.status_code == 302
    again = post(
        staff,
        f"/staff/cases/{case_id}/cash",
        amount_yen="300",
        tendered_yen="1000",
        request_key=key,
        next="/staff/desk",
    )
    assert again.status_code == 302  # the same form sent twice: recorded once
    done = display.get("/display/?lang=en").get_data(as_text=True)
    assert "Thank you" in done and "¥700" in done
    case_page = staff.get(f"/staff/cases/{case_id}").get_data(as_text=True)
    assert case_page.count("data-payment-status=") == 1
    assert post(staff, f"/staff/cases/{case_id}/complete").status_code == 302
    chief = app.test_client()
    login(chief, "chief", counter="1")
    stats = chief.get("/staff/stats?lang=en").get_data(as_text=True)
    assert 'id="counter-stats"' in stats and "¥300" in stats
    figures = chief.get("/staff/stats/counter.csv").get_data(as_text=True).splitlines()
    assert figures[0] == "period,metric,key,value"
    assert any(row.endswith(",cases,counter,1") for row in figures)
    assert any(row.endswith(",payments,cash,1") for row in figures)
    assert staff.get("/staff/stats/counter.csv").status_code == 403


def test_display_needs_pairing_by_staff(app: Any) -> None:
    """An unpaired browser is sent to pairing, which needs a staff log-in; its state poll
    is 401."""
    anonymous = app.test_client()
    assert anonymous.get("/display/").status_code == 302
    assert "/staff/login" in anonymous.get("/display/pair").headers["Location"]
    assert anonymous.get("/display/state").status_code == 401


def test_display_closed_mid_pin_is_told_to_staff(app: Any) -> None:
    """The display closing while the PIN is asked for: the desk goes back to choosing and
    the staff page says so; nothing was read."""
    staff = app.test_client()
    login(staff, "clerk", counter="1")
    display = _display(app)
    _poll_once(app)
    _new_case(app, staff)
    csrf_token = csrf(display)
    assert display.post("/display/closed", data={"csrf_token": csrf_token}).status_code == 204
    page = staff.get("/staff/desk?lang=en").get_data(as_text=True)
    assert "The customer display was closed" in page and 'id="read-card"' in page


def test_amendment_adds_a_copy_and_supervisor_refunds_a_removed_procedure(app: Any) -> None:
    """On a kiosk-paid case: adding a copy makes 300 due (cash taken); removing a procedure
    makes money due back, which only a supervisor gives back."""
    case_id = open_confirmed_case(app, ("juminhyo", "inkan"))
    services = services_of(app)
    services.simulation.terminal.auto = "approve"
    payment = start_payment(services.sessions, services.payments, case_id, actor="kiosk:test")
    with transaction(services.sessions) as s:
        refresh_payment(s, services.payments, payment.public_id)
    clerk = app.test_client()
    login(clerk, "clerk", counter="1")
    form = clerk.get(f"/staff/cases/{case_id}/amend").get_data(as_text=True)
    assert 'name="juminhyo.copies"' in form
    refused = post(clerk, f"/staff/cases/{case_id}/amend?lang=en", **{"juminhyo.copies": "0"})
    assert refused.status_code == 302
    assert "juminhyo: " in clerk.get(f"/staff/cases/{case_id}/amend").get_data(as_text=True)
    amended = post(clerk, f"/staff/cases/{case_id}/amend", **{"juminhyo.copies": "2"})
    assert amended.status_code == 302
    page = clerk.get(f"/staff/cases/{case_id}?lang=en").get_data(as_text=True)
    assert 'id="take-cash"' in page and "¥300" in page
    key = re.search(r'name="request_key" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    post(
        clerk, f"/staff/cases/{case_id}/cash", amount_yen="300", tendered_yen="300", request_key=key
    )
    removed = post(clerk, f"/staff/cases/{case_id}/amend", remove="inkan")
    assert removed.status_code == 302
    page = clerk.get(f"/staff/cases/{case_id}?lang=en").get_data(as_text=True)
    assert "¥300 to give back" in page and 'id="give-back"' not in page
    refused = post(clerk, f"/staff/cases/{case_id}/refund-difference", method="cash", reason="x")
    assert refused.status_code == 403
    chief = app.test_client()
    login(chief, "chief", counter="2")
    given = post(
        chief,
        f"/staff/cases/{case_id}/refund-difference",
        method="provider",
        reason="印鑑登録証明書は不要",
        next=f"/staff/cases/{case_id}",
    )
    assert given.status_code == 302
    page = chief.get(f"/staff/cases/{case_id}?lang=en").get_data(as_text=True)
    assert 'id="due">Nothing' in page


def test_ledger_page_csv_and_closing_with_a_difference(app: Any) -> None:
    """The day's takings: supervisors only; CSV in both encodings; a count that differs is
    refused without a reason and recorded with one; the day then shows as closed."""
    staff = app.test_client()
    login(staff, "clerk", counter="1")
    assert staff.get("/staff/ledger").status_code == 403
    chief = app.test_client()
    login(chief, "chief", counter="1")
    page = chief.get("/staff/ledger?lang=en").get_data(as_text=True)
    assert 'id="close-day"' in page
    day = re.search(r'name="day" type="date" value="([\d-]+)"', page).group(1)  # type: ignore[union-attr]
    csv = chief.get(f"/staff/ledger/{day}.csv?encoding=cp932")
    assert csv.headers["Content-Type"] == "text/csv; charset=Shift_JIS"
    assert csv.data.decode("cp932").startswith(
        "procedure_code,method,count,gross_yen,refunds_yen,net_yen\r\n"
    )
    counts = {f"counted_{d}": "30000" for d in ("1", "2", "3")}
    unexplained = post(chief, f"/staff/ledger/{day}/close", **{**counts, "counted_1": "29900"})
    assert unexplained.status_code == 302
    assert "give the reason" in chief.get("/staff/ledger?lang=en").get_data(as_text=True)
    closed = post(
        chief,
        f"/staff/ledger/{day}/close",
        **{**counts, "counted_1": "29900", "reason_1": "釣銭の渡し誤り"},
    )
    assert closed.status_code == 302
    page = chief.get(f"/staff/ledger?day={day}&lang=en").get_data(as_text=True)
    assert "Closed" in page and "-100" in page and 'id="close-day"' not in page
    printed = chief.get(f"/staff/ledger/{day}/print").get_data(as_text=True)
    assert "収納日計表" in printed and "釣銭の渡し誤り" in printed


def test_kiosk_pay_in_cash_at_the_counter(app: Any) -> None:
    """The kiosk's pay screen offers cash at the counter: the ticket at once, the amount
    to pay when called on it."""
    client = app.test_client()
    client.post("/kiosk/start")
    client.post("/kiosk/procedures", data={"procedure": ["juminhyo"]})
    client.post("/kiosk/fields", data={"juminhyo.copies": "2"})
    place_card_after_start(app)
    assert client.post("/kiosk/pin", data={"pin": "1234"}).status_code == 302
    client.post("/kiosk/confirm")
    pay = client.get("/kiosk/pay?lang=en").get_data(as_text=True)
    assert 'id="pay-cash"' in pay
    assert client.post("/kiosk/pay/cash").headers["Location"].endswith("/kiosk/ticket")
    ticket = client.get("/kiosk/ticket?lang=en").get_data(as_text=True)
    assert "Please pay ¥600 at the counter when you are called." in ticket


def test_api_visit_pays_in_cash_at_the_counter(app: Any) -> None:
    """POST /api/visits/{id}/pay-at-counter: the ticket at once and ``due_yen``; the case
    cannot be completed at the counter until the cash is taken."""
    client = app.test_client()
    vid = client.post("/api/visits", json={"procedures": ["juminhyo"]}).get_json()["visit_id"]
    place_card_after_start(app)
    assert client.post(f"/api/visits/{vid}/card/read", json={"pin": "1234"}).status_code == 201
    assert client.post(f"/api/visits/{vid}/confirm").get_json()["fee_yen"] == 300
    paid_later = client.post(f"/api/visits/{vid}/pay-at-counter")
    assert paid_later.status_code == 200, paid_later.get_json()
    visit = paid_later.get_json()
    assert visit["due_yen"] == 300 and visit["ticket_token"]
    again = client.post(f"/api/visits/{vid}/pay-at-counter").get_json()
    assert again["ticket_token"] == visit["ticket_token"]
    clerk = _bearer(client, "clerk")
    client.post("/api/staff/counters/1/open", json={"open": True}, headers=clerk)
    ticket = client.post("/api/staff/counters/1/call-next", headers=clerk).get_json()["ticket"]
    tickets = f"/api/staff/tickets/{ticket['id']}"
    assert client.post(f"{tickets}/serve", headers=clerk).status_code == 200
    refused = client.post(f"{tickets}/complete", headers=clerk)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "fee_due"


def test_api_counter_payment_contract(app: Any) -> None:
    """POST /api/staff/cases/{id}/payments with cash: change returned; too little, a wrong
    amount and nothing due are 422 with their codes; the same Idempotency-Key records once."""
    client = app.test_client()
    token = client.post(
        "/api/staff/login", json={"username": "clerk", "password": PASSWORD}
    ).get_json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    desk = services_of(app).counter_desk
    desk.start("2", actor="staff:clerk")
    desk.choose("2", ["juminhyo"], {}, language="ja")
    person = {
        "family_name": "佐藤",
        "address": "千代田区",
        "birth_date": "1960-01-01",
        "sex": "male",
    }
    case_id = desk.open_without_card("2", person, "passport").case_id
    desk.confirm("2", actor="staff:clerk")
    url = f"/api/staff/cases/{case_id}/payments"
    little = client.post(
        url, json={"method": "cash", "amount_yen": 300, "tendered_yen": 200}, headers=auth
    )
    assert little.status_code == 422 and little.get_json()["error"]["code"] == "too_little_tendered"
    wrong = client.post(
        url, json={"method": "cash", "amount_yen": 500, "tendered_yen": 1000}, headers=auth
    )
    assert wrong.status_code == 422 and wrong.get_json()["error"]["code"] == "wrong_amount"
    keyed = {**auth, "Idempotency-Key": "tablet-7f3a"}
    first = client.post(
        url, json={"method": "cash", "amount_yen": 300, "tendered_yen": 1000}, headers=keyed
    )
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["change_yen"] == 700 and body["payment"]["method"] == "cash"
    assert body["payment"]["counter"] == "2" and body["payment"]["status"] == "succeeded"
    retry = client.post(
        url, json={"method": "cash", "amount_yen": 300, "tendered_yen": 1000}, headers=keyed
    )
    assert retry.status_code == 201 and retry.get_json() == body
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    nothing = client.post(
        url, json={"method": "cash", "amount_yen": 300, "tendered_yen": 300}, headers=auth
    )
    assert nothing.status_code == 422 and nothing.get_json()["error"]["code"] == "nothing_due"
    reused = client.post(
        url, json={"method": "cash", "amount_yen": 300, "tendered_yen": 500}, headers=keyed
    )
    assert reused.status_code == 422
    assert reused.get_json()["error"]["code"] == "idempotency_key_reused"
    bad_key = client.post(url, json={"method": "cash"}, headers={**auth, "Idempotency-Key": "a b"})
    assert bad_key.status_code == 422 and bad_key.get_json()["error"]["field"] == "Idempotency-Key"
    doc = client.get("/api/openapi.json").get_json()
    operation = doc["paths"]["/api/staff/cases/{case_id}/payments"]["post"]
    assert {"name": "Idempotency-Key", "in": "header"}.items() <= operation["parameters"][1].items()
    assert operation["responses"]["422"]["content"]


def _bearer(client: Any, username: str) -> dict[str, str]:
    token = client.post(
        "/api/staff/login", json={"username": username, "password": PASSWORD}
    ).get_json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_api_amendment_refund_of_a_difference_and_closing(app: Any) -> None:
    """Through the API (every answer checked against the document): a copy added makes 300
    due, taken in cash; a procedure removed makes 300 due back, refunded by a supervisor
    only; the ledger shows the day; closing refuses a missing count per drawer, then closes
    once."""
    case_id = open_confirmed_case(app, ("juminhyo", "inkan"))
    services = services_of(app)
    services.simulation.terminal.auto = "approve"
    payment = start_payment(services.sessions, services.payments, case_id, actor="kiosk:test")
    with transaction(services.sessions) as s:
        refresh_payment(s, services.payments, payment.public_id)
    client = app.test_client()
    clerk, chief = _bearer(client, "clerk"), _bearer(client, "chief")
    base = f"/api/staff/cases/{case_id}"
    added = client.post(
        f"{base}/amendments", json={"fields": {"juminhyo": {"copies": 2}}}, headers=clerk
    )
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["due_yen"] == 300
    assert added.get_json()["amendment"]["fields"] == ["juminhyo.copies"]
    cash = {"method": "cash", "amount_yen": 300, "tendered_yen": 300, "counter": "1"}
    assert client.post(f"{base}/payments", json=cash, headers=clerk).status_code == 201
    same = client.post(f"{base}/amendments", json={}, headers=clerk)
    assert same.status_code == 422 and same.get_json()["error"]["code"] == "nothing_changed"
    removed = client.post(f"{base}/amendments", json={"remove": ["inkan"]}, headers=clerk)
    assert removed.status_code == 201 and removed.get_json()["due_yen"] == -300
    back = {"method": "provider", "reason": "印鑑登録証明書は不要", "counter": "1"}
    refused = client.post(f"{base}/refund-difference", json=back, headers=clerk)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    given = client.post(f"{base}/refund-difference", json=back, headers=chief)
    assert given.status_code == 200, given.get_json()
    assert [r["amount_yen"] for r in given.get_json()["refunds"]] == [300]
    ledger = client.get("/api/staff/ledger/2099-13-01", headers=chief)
    assert ledger.status_code == 422 and ledger.get_json()["error"]["code"] == "invalid_field"
    today = client.get(f"/api/staff/cases/{case_id}", headers=clerk).get_json()
    assert today["fee_yen"] == 600
    iso = business_day().isoformat()
    shown = client.get(f"/api/staff/ledger/{iso}", headers=chief).get_json()
    assert shown["closed"] is False and shown["total"]["net_yen"] == 600
    assert {d["drawer"]: d["cash_in_yen"] for d in shown["drawers"]}["1"] == 300
    short = client.post(
        f"/api/staff/ledger/{iso}/close", json={"counted": {"1": 30300}}, headers=chief
    )
    assert short.status_code == 422 and short.get_json()["error"]["code"] == "count_invalid"
    assert short.get_json()["error"]["drawers"]["2"] == "missing"
    counted = {drawer["drawer"]: drawer["expected_yen"] for drawer in shown["drawers"]}
    closed = client.post(f"/api/staff/ledger/{iso}/close", json={"counted": counted}, headers=chief)
    assert closed.status_code == 200 and closed.get_json()["closed"] is True
    again = client.post(f"/api/staff/ledger/{iso}/close", json={"counted": counted}, headers=chief)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "day_already_closed"
