"""Resident kiosk screens through the Flask test client: every step, errors in each language,
malformed input, the wipe, and the PIN never leaving the request that uses it."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from kiosk.models import Case, CaseStatus
from payments.models import Payment, PaymentStatus
from tests.ui.cards import place_card_after_start
from tests.ui.moving import move_form
from ui.services import services_of

TEXT_PIN = 0x0011


class KioskActions:
    """Drives one resident visit (flaskr-style actions helper)."""

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app, self.client = app, client

    @property
    def rig(self) -> Any:
        return services_of(self.app).simulation.reader

    def start(self, lang: str = "ja") -> None:
        assert self.client.get(f"/kiosk/?lang={lang}").status_code == 200
        assert self.client.post("/kiosk/start").status_code == 302
        place_card_after_start(self.app)  # one card, one visit

    def choose(self, *codes: str, fields: dict[str, Any] | None = None) -> Any:
        self.client.post("/kiosk/procedures", data={"procedure": list(codes)})
        return self.client.post("/kiosk/fields", data=fields or {})

    def read_card(self, pin: str = "1234") -> Any:
        assert self.client.get("/kiosk/pin").status_code == 200
        return self.client.post("/kiosk/pin", data={"pin": pin})

    def to_pay(self) -> None:
        self.start()
        self.choose("juminhyo")
        assert self.read_card().headers["Location"].endswith("/kiosk/check")
        assert self.client.post("/kiosk/confirm").headers["Location"].endswith("/kiosk/pay")

    def one(self, model: Any) -> Any:
        with services_of(self.app).sessions() as s:
            row = s.query(model).one()
            s.expunge(row)
            return row


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """A kiosk app with yamada's simulated card on the reader."""
    return make_app(sim_persona="yamada")


@pytest.fixture
def kiosk(app: Flask) -> KioskActions:
    """Actions of one resident on one browser."""
    return KioskActions(app, app.test_client())


@pytest.mark.parametrize(
    ("lang", "lang_attr", "welcome"),
    [
        ("ja", "ja", "書かない 窓口"),
        ("en", "en", "without writing"),
        ("zh_Hans", "zh-Hans", "免填写"),
        ("ko", "ko", "쓰지 않는 창구"),
    ],
)
def test_welcome_in_each_language(
    kiosk: KioskActions, lang: str, lang_attr: str, welcome: str
) -> None:
    """The welcome screen speaks the chosen language and says so in its lang attribute."""
    html = kiosk.client.get(f"/kiosk/?lang={lang}").get_data(as_text=True)
    assert f'<html lang="{lang_attr}">' in html
    assert welcome in html
    assert "日本語" in html and "English" in html and "简体中文" in html and "한국어" in html


def test_fees_are_formatted_for_the_language(kiosk: KioskActions) -> None:
    """Yen is 300円 in Japanese and ¥300 in English."""
    kiosk.start("ja")
    assert "300円" in kiosk.client.get("/kiosk/procedures").get_data(as_text=True)
    assert "¥300" in kiosk.client.get("/kiosk/procedures?lang=en").get_data(as_text=True)


def test_full_visit_to_ticket(kiosk: KioskActions, app: Flask) -> None:
    """Procedures, fields, card, PIN, check, pay (simulated terminal approves), ticket."""
    kiosk.to_pay()
    assert kiosk.client.post("/kiosk/pay").status_code == 302
    assert "pay-progress" in kiosk.client.get("/kiosk/pay").get_data(as_text=True)
    services_of(app).payments.terminal.approve()
    state = kiosk.client.get("/kiosk/pay/state").get_json()
    assert state == {"state": "succeeded", "redirect": "/kiosk/ticket"}
    html = kiosk.client.get("/kiosk/ticket").get_data(as_text=True)
    assert "A-001" in html and "<svg" in html
    assert kiosk.one(Case).status is CaseStatus.QUEUED


def test_fee_free_procedure_skips_payment(kiosk: KioskActions) -> None:
    """A free procedure goes from confirmation straight to the ticket."""
    kiosk.start()
    response = kiosk.choose(
        "tenkyo",
        fields=move_form(),
    )
    assert response.headers["Location"].endswith("/kiosk/card"), response.get_data(as_text=True)
    kiosk.read_card()
    assert kiosk.client.post("/kiosk/confirm").headers["Location"].endswith("/kiosk/ticket")
    assert "D-001" in kiosk.client.get("/kiosk/ticket").get_data(as_text=True)


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("ja", "暗証番号が ちがいます。あと2回です。"),
        ("en", "The PIN is not correct. 2 tries left."),
        ("zh_Hans", "密码不正确。还剩2次。"),
        ("ko", "비밀번호가 틀렸습니다. 2번 남았습니다."),
    ],
)
def test_wrong_pin_message_in_each_language(kiosk: KioskActions, lang: str, text: str) -> None:
    """A wrong PIN shows the tries left in the resident's language, never the PIN."""
    kiosk.start(lang)
    kiosk.choose("inkan")
    response = kiosk.read_card("9876")
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert text in body
    assert "9876" not in body


@pytest.mark.parametrize(
    ("tries", "lang", "text"),
    [
        (1, "ja", "窓口へ 行ってください"),
        (1, "ko", "창구로 가 주세요"),
        (0, "en", "Please go to the counter"),
        (0, "zh_Hans", "请到窗口办理"),
    ],
)
def test_one_try_left_or_locked_stops(
    kiosk: KioskActions, tries: int, lang: str, text: str
) -> None:
    """With one try left or a locked PIN there is no PIN pad, only the counter stop."""
    kiosk.rig.card.set_tries(TEXT_PIN, tries)
    kiosk.start(lang)
    kiosk.choose("inkan")
    response = kiosk.client.get("/kiosk/pin")
    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert text in body and "pinpad" not in body
    assert kiosk.rig.card.tries_left(TEXT_PIN) == tries


def test_wrong_pin_down_to_one_try_stops(kiosk: KioskActions) -> None:
    """The wrong PIN that leaves one try ends on the stop screen, not another PIN pad."""
    kiosk.rig.card.set_tries(TEXT_PIN, 2)
    kiosk.start("en")
    kiosk.choose("inkan")
    response = kiosk.read_card("0000")
    assert response.status_code == 409
    assert "Please go to the counter" in response.get_data(as_text=True)
    assert kiosk.rig.card.tries_left(TEXT_PIN) == 1


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("ja", "カードが 置かれていません"),
        ("en", "There is no card on the reader"),
        ("zh_Hans", "读卡器上没有卡片"),
        ("ko", "리더기에 카드가 없습니다"),
    ],
)
def test_no_card_message_in_each_language(kiosk: KioskActions, lang: str, text: str) -> None:
    """Asking for the PIN with no card on the reader explains it in the resident's language."""
    kiosk.rig.remove()
    kiosk.start(lang)
    kiosk.choose("inkan")
    response = kiosk.client.get("/kiosk/pin")
    assert response.status_code == 409
    assert text in response.get_data(as_text=True)


def test_card_state_reports_waiting_present_removed(kiosk: KioskActions) -> None:
    """The polled reader state goes present -> removed when the card is taken away."""
    kiosk.start()
    kiosk.choose("inkan")
    assert kiosk.client.get("/kiosk/card/state").get_json() == {"state": "present"}
    kiosk.rig.remove()
    assert kiosk.client.get("/kiosk/card/state").get_json() == {"state": "removed"}


@pytest.mark.parametrize(
    ("lang", "text"),
    [("ja", "年度を入力してください"), ("en", "Please enter Fiscal years"), ("ko", "연도")],
)
def test_field_errors_in_the_language(kiosk: KioskActions, lang: str, text: str) -> None:
    """Missing fiscal years are reported (422) next to the field, in the resident's language."""
    kiosk.start(lang)
    response = kiosk.choose("tax_certificate")
    assert response.status_code == 422
    assert text in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("post", "/kiosk/procedures", {"procedure": ["no_such_thing"]}),
        ("post", "/kiosk/procedures", {"procedure": ["inkan", "inkan"]}),
        ("post", "/kiosk/fields", {"inkan.copies": "many"}),
        ("post", "/kiosk/fields", {"inkan.copies": "99999999999"}),
        ("post", "/kiosk/pin", {"pin": "12a4"}),
        ("post", "/kiosk/pin", {"pin": "1" * 5000}),
        ("post", "/kiosk/pin", {}),
        ("get", "/kiosk/check", None),
        ("post", "/kiosk/confirm", None),
        ("get", "/t/not-a-token", None),
        ("post", "/sim/card", {"action": "tries", "tries": "x"}),
        ("post", "/sim/card", {"action": "insert", "persona": "nobody"}),
    ],
)
def test_malformed_input_is_4xx_or_redirect(
    kiosk: KioskActions, method: str, path: str, data: Any
) -> None:
    """Malformed or out-of-order requests get a 4xx or a redirect, never a 500."""
    kiosk.start("en")
    if not path.startswith("/kiosk/procedures"):
        kiosk.choose("inkan")
    response = getattr(kiosk.client, method)(path, data=data)
    assert response.status_code < 500
    assert response.status_code in (302, 400, 404, 409, 422)


def test_no_visit_goes_back_to_welcome(kiosk: KioskActions) -> None:
    """Any step without a visit sends the browser to the welcome screen (JSON: 410)."""
    assert kiosk.client.get("/kiosk/procedures").headers["Location"] == "/kiosk/?ended=1"
    assert kiosk.client.get("/kiosk/card/state").status_code == 410


def test_wipe_cancels_payment_case_and_visit(kiosk: KioskActions, app: Flask) -> None:
    """The wipe cancels the pending terminal payment and the case and forgets the visit."""
    kiosk.to_pay()
    kiosk.client.post("/kiosk/pay")
    assert services_of(app).payments.terminal.current is not None
    response = kiosk.client.post("/kiosk/wipe", data={"reason": "timeout"})
    # The card is still on the reader: "take your card" first, then the welcome's notice.
    assert response.headers["Location"] == "/kiosk/take-card?ended=1"
    kiosk.rig.remove()
    assert kiosk.client.get("/kiosk/take-card?ended=1").headers["Location"] == "/kiosk/?ended=1"
    assert services_of(app).payments.terminal.current is None
    assert kiosk.one(Payment).status is PaymentStatus.CANCELLED
    assert kiosk.one(Case).status is CaseStatus.CANCELLED
    assert len(services_of(app).visits.store) == 0
    assert kiosk.client.get("/kiosk/check").headers["Location"] == "/kiosk/?ended=1"


def test_idle_visits_expire_on_the_server(make_app: Callable[..., Flask]) -> None:
    """A visit idle past the timeout is wiped by the server even if no browser asks."""
    app = make_app(sim_persona="yamada", idle_timeout_s=2, idle_warning_s=1)
    kiosk = KioskActions(app, app.test_client())
    kiosk.start()
    kiosk.choose("inkan")
    kiosk.read_card()
    store = services_of(app).visits.store
    store._clock = lambda: 10_000_000.0  # far in the future
    assert len(store.sweep()) == 1
    assert kiosk.one(Case).status is CaseStatus.CANCELLED


def test_pin_never_in_response_cookie_or_log(
    kiosk: KioskActions, caplog: pytest.LogCaptureFixture
) -> None:
    """The PIN appears in no response body, no cookie and no log record."""
    caplog.set_level(logging.DEBUG)
    kiosk.start()
    kiosk.choose("inkan")
    wrong = kiosk.read_card("8642")
    right = kiosk.read_card("1234")
    check = kiosk.client.get("/kiosk/check")
    for response in (wrong, right, check):
        assert "8642" not in response.get_data(as_text=True)
        assert "1234" not in response.get_data(as_text=True)
        assert all(
            "1234" not in c and "8642" not in c for c in response.headers.getlist("Set-Cookie")
        )
    cookie = kiosk.client.get_cookie("kiosk_session")
    assert cookie is not None and "1234" not in cookie.value and "山田" not in cookie.value
    # Whole numbers only: SQL timings such as "0.01234s" are not the PIN.
    assert re.search(r"(?<![0-9])(1234|8642)(?![0-9])", caplog.text) is None
    assert "山田" in check.get_data(as_text=True)
    assert "山田" not in caplog.text


def test_kiosk_pages_are_not_cached(kiosk: KioskActions) -> None:
    """Every kiosk response forbids caching, so the back button shows no card data."""
    kiosk.start()
    assert kiosk.client.get("/kiosk/procedures").headers["Cache-Control"] == "no-store"


def test_call_staff_answers_in_the_language(kiosk: KioskActions) -> None:
    """'Call staff' works on any screen and answers in the resident's language."""
    kiosk.client.get("/kiosk/?lang=ko")
    response = kiosk.client.post(
        "/kiosk/call-staff", data={"screen": "welcome"}, headers={"X-Requested-With": "fetch"}
    )
    assert response.get_json() == {"message": "직원이 갑니다. 여기서 기다려 주세요."}


def test_phone_page_in_ticket_language(kiosk: KioskActions, app: Flask) -> None:
    """The phone page shows the number in the language the ticket was taken in."""
    from kiosk.models import Ticket

    kiosk.start("ko")
    kiosk.choose(
        "tenkyo",
        fields=move_form(),
    )
    kiosk.read_card()
    kiosk.client.post("/kiosk/confirm")
    token = kiosk.one(Ticket).token
    html = app.test_client().get(f"/t/{token}").get_data(as_text=True)
    assert '<html lang="ko">' in html and "D-001" in html and 'id="ticket-live"' in html


def test_simulator_panel_drives_card_and_terminal(kiosk: KioskActions, app: Flask) -> None:
    """The panel inserts and removes cards, sets tries and declines a terminal payment."""
    c = kiosk.client
    assert c.post("/sim/card", data={"action": "insert", "persona": "takahashi"}).status_code == 302
    assert kiosk.rig.persona.key == "takahashi"
    c.post("/sim/card", data={"action": "tries", "tries": "2"})
    assert kiosk.rig.card.tries_left(TEXT_PIN) == 2
    c.post("/sim/card", data={"action": "remove"})
    assert kiosk.rig.persona is None
    c.post("/sim/faults", data={"delay_ms": "10", "corrupt": "on"})
    assert kiosk.rig.faults.corrupt is True
    c.post("/sim/faults", data={"action": "clear"})
    assert kiosk.rig.faults.corrupt is False
    assert "sim-approve" in c.get("/sim/").get_data(as_text=True)
