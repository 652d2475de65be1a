"""The resident's receipt: a button on the kiosk ticket screen, a link on the phone page and
a JSON endpoint for the visit; in the resident's language; none for a fee-free case."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from kiosk.models import Ticket
from payments.models import Payment
from tests.support.waiting import wait_until
from tests.ui.cards import place_card_after_start
from tests.ui.moving import move_fields, move_form
from tests.ui.test_kiosk_screens import KioskActions
from ui.services import services_of

WARD = {
    "ja": "千代田区役所",
    "en": "Chiyoda City Office",
    "zh-Hans": "千代田区役所",
    "ko": "지요다구청",
}


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """A kiosk app with yamada's simulated card on the reader."""
    return make_app(sim_persona="yamada")


def paid_visit(app: Flask, lang: str, **receipt: Any) -> KioskActions:
    """A resident who paid 住民票の写し (300 yen) on the simulated terminal, in ``lang``."""
    kiosk = KioskActions(app, app.test_client())
    kiosk.start(lang)
    kiosk.choose("juminhyo")
    kiosk.read_card()
    kiosk.client.post("/kiosk/confirm")
    kiosk.client.post("/kiosk/pay")
    services_of(app).payments.terminal.approve()
    assert kiosk.client.get("/kiosk/pay/state").get_json()["state"] == "succeeded"
    return kiosk


def free_visit(app: Flask, lang: str) -> KioskActions:
    """A resident with a fee-free 転居届 (ticket straight after the confirmation)."""
    kiosk = KioskActions(app, app.test_client())
    kiosk.start(lang)
    kiosk.choose("tenkyo", fields=move_form())
    kiosk.read_card()
    assert kiosk.client.post("/kiosk/confirm").headers["Location"].endswith("/kiosk/ticket")
    return kiosk


@pytest.mark.parametrize(
    ("lang", "title", "texts"),
    [
        ("ja", "利用明細", ["千代田区役所", "住民票の写し", "300円", "お支払い方法", "決済番号"]),
        (
            "en",
            "Statement of fees paid",
            [WARD["en"], "Copy of residence record", "¥300", "Payment method"],
        ),
        ("ko", "이용 명세서", ["지요다구청", "주민표 사본", "300엔", "결제 방법"]),
    ],
)
def test_kiosk_ticket_has_a_printable_receipt(
    app: Flask, lang: str, title: str, texts: list[str]
) -> None:
    """After paying, the ticket screen offers the receipt; its page is in the screen's
    language with ward, procedure, amount, method and the provider's reference."""
    kiosk = paid_visit(app, lang)
    ticket = kiosk.client.get("/kiosk/ticket").get_data(as_text=True)
    assert 'id="receipt"' in ticket and title in ticket
    response = kiosk.client.get("/kiosk/receipt")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'<h1 id="receipt-title" class="receipt-title">{title}</h1>' in html
    for text in texts:
        assert text in html
    payment = kiosk.one(Payment)
    assert (payment.payment_intent_id or payment.provider_ref) in html
    assert "山田" not in html  # a receipt names no person
    assert "data-print" in html


def test_receipt_title_is_the_wards_choice(make_app: Callable[..., Flask]) -> None:
    """A ward that configured 領収書 gets 領収書 in Japanese and "Receipt" in English."""
    app = make_app(sim_persona="yamada", receipt_title="領収書")
    kiosk = paid_visit(app, "ja")
    assert "領収書" in kiosk.client.get("/kiosk/receipt").get_data(as_text=True)
    assert "Receipt" in kiosk.client.get("/kiosk/receipt?lang=en").get_data(as_text=True)


@pytest.mark.parametrize(
    ("lang", "text"),
    [("ja", "お支払いが ない"), ("en", "nothing was paid"), ("zh_Hans", "没有付款")],
)
def test_fee_free_visit_has_no_receipt(app: Flask, lang: str, text: str) -> None:
    """A fee-free case: no receipt button on the ticket, and the receipt page says why (404)."""
    kiosk = free_visit(app, lang)
    assert 'id="receipt"' not in kiosk.client.get("/kiosk/ticket").get_data(as_text=True)
    response = kiosk.client.get("/kiosk/receipt")
    assert response.status_code == 404
    assert text in response.get_data(as_text=True)


def test_phone_page_links_the_receipt_in_the_ticket_language(app: Flask) -> None:
    """The phone status page links the receipt (behind the ticket token), in the ticket's
    language unless ?lang= asks; a wrong token is a 404."""
    paid_visit(app, "ko")
    token = KioskActions(app, app.test_client()).one(Ticket).token
    phone = app.test_client()
    status = phone.get(f"/t/{token}").get_data(as_text=True)
    assert 'id="receipt-link"' in status and f"/t/{token}/receipt" in status
    receipt = phone.get(f"/t/{token}/receipt")
    html = receipt.get_data(as_text=True)
    assert receipt.status_code == 200
    assert '<html lang="ko">' in html and "이용 명세" in html and "300엔" in html
    english = phone.get(f"/t/{token}/receipt?lang=en").get_data(as_text=True)
    assert "Statement" in english and "¥300" in english
    assert phone.get("/t/not-a-token/receipt").status_code == 404


def test_phone_page_of_a_fee_free_ticket_has_no_receipt(app: Flask) -> None:
    """A fee-free ticket's phone page has no receipt link; its receipt URL is a plain 404."""
    free_visit(app, "en")
    token = KioskActions(app, app.test_client()).one(Ticket).token
    phone = app.test_client()
    assert 'id="receipt-link"' not in phone.get(f"/t/{token}").get_data(as_text=True)
    response = phone.get(f"/t/{token}/receipt")
    assert response.status_code == 404
    assert "nothing was paid" in response.get_data(as_text=True)


def api_visit(client: Any, lang: str, procedure: str, fields: dict[str, Any]) -> str:
    body = {"procedures": [procedure], "fields": {procedure: fields}}
    visit = client.post(f"/api/visits?lang={lang}", json=body)
    assert visit.status_code == 201, visit.get_json()
    vid = visit.get_json()["visit_id"]
    place_card_after_start(client.application)
    assert client.post(f"/api/visits/{vid}/card/read", json={"pin": "1234"}).status_code == 201
    assert client.post(f"/api/visits/{vid}/confirm").status_code == 200
    return vid


@pytest.mark.parametrize(
    ("lang", "title", "name", "method"),
    [
        ("ja", "利用明細", "住民票の写し", "クレジットカード"),
        ("en", "Statement of fees paid", "Copy of residence record", "Card"),
        ("zh-Hans", "缴费明细", "住民票副本", "信用卡"),
    ],
)
def test_api_receipt_of_a_paid_visit(
    make_app: Callable[..., Flask], lang: str, title: str, name: str, method: str
) -> None:
    """GET /api/visits/<id>/receipt is the paid visit's receipt in the visit's language."""
    app = make_app(sim_persona="yamada", sim_terminal_auto="approve")
    client = app.test_client()
    vid = api_visit(client, lang, "juminhyo", {})
    assert client.get(f"/api/visits/{vid}/receipt").status_code == 404  # not paid yet
    client.post(f"/api/visits/{vid}/payment")
    wait_until(
        lambda: client.get(f"/api/visits/{vid}/payment").get_json()["ticket_token"],
        message="the ticket of the paid visit",
    )
    receipt = client.get(f"/api/visits/{vid}/receipt")
    assert receipt.status_code == 200, receipt.get_json()
    body = receipt.get_json()
    assert body["title"] == title and body["language"] == lang
    assert body["ward_name"] == WARD[lang] and body["total_yen"] == 300
    assert body["lines"] == [
        {"code": "juminhyo", "name": name, "units": 1, "unit_fee_yen": 300, "fee_yen": 300}
    ]
    assert body["method"] == method and body["provider_reference"]
    assert (
        client.get(f"/api/visits/{vid}/receipt?lang=en").get_json()["title"]
        == "Statement of fees paid"
    )


@pytest.mark.parametrize(
    ("lang", "text"), [("ja", "お支払いが ない"), ("en", "nothing was paid"), ("ko", "결제")]
)
def test_api_no_receipt_for_a_fee_free_visit(
    make_app: Callable[..., Flask], lang: str, text: str
) -> None:
    """A fee-free visit has no receipt: 404 with code no_receipt and a message in the
    request's language."""
    app = make_app(sim_persona="yamada")
    client = app.test_client()
    vid = api_visit(client, lang, "tenkyo", move_fields())
    response = client.get(f"/api/visits/{vid}/receipt?lang={lang}")
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert error["code"] == "no_receipt" and text in error["message"]
    assert client.get("/api/visits/nope/receipt").get_json()["error"]["code"] == "visit_not_found"
