"""The JPKI PIN step in the product: asked for only when a chosen procedure wants the JPKI
check, on a screen that says which PIN it is; its tries asked first; never sent on its last
try; never sent to the other application, nor the other PIN to it; nothing of it kept."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from cardreader.reader import DirectCardReader
from tests.ui.genuine.kit import (
    JPKI_PROCEDURE,
    PERSONAS,
    KioskCard,
    audit_rows,
    cases,
    jpki_fields,
    resident,
    set_jpki_tries,
    tries,
)
from ui.services import services_of

YOSHIDA = PERSONAS["yoshida"]  # Text AP PIN 7272, JPKI authentication PIN 8383
SELECT_APP, SELECT_EF, VERIFY = b"\x00\xa4\x04\x0c", b"\x00\xa4\x02\x0c", b"\x00\x20\x00\x80"
TEXT_AP = bytes.fromhex("D3921000310001010408")
JPKI_AP = bytes.fromhex("D392F000260100000001")


class RecordingCard:
    """The simulated card now in the reader, every command it receives kept (tests only).
    It follows the rig: a card placed again (one card, one visit) is recorded the same."""

    def __init__(self, rig: Any) -> None:
        self.rig = rig
        self.commands: list[bytes] = []

    def in_reader(self) -> RecordingCard | None:
        """This recorder while a card is in the reader, else None (an empty reader)."""
        return self if self.rig.in_process_card() is not None else None

    def process_apdu(self, apdu: bytes) -> bytes:
        self.commands.append(bytes(apdu))
        return self.rig.in_process_card().process_apdu(apdu)

    def reset(self) -> bytes:
        return self.rig.in_process_card().reset()


def record_commands(app: Flask) -> RecordingCard:
    """Put a recorder between the visit workflow's reader and the simulated card; the reader
    counts the cards put in and taken out like the product's in-process reader, so a card
    placed after the visit starts is told from one left on the reader."""
    services = services_of(app)
    rig = services.simulation.reader  # type: ignore[union-attr]
    recorder = RecordingCard(rig)
    services.visits.reader = DirectCardReader(
        recorder.in_reader, trust=services.card_trust, card_events=lambda: rig.card_events
    )
    return recorder


def verified_pins(commands: list[bytes]) -> list[tuple[bytes, int, str]]:
    """Each VERIFY that carried a PIN: (the application selected, the PIN file, the PIN)."""
    application, pin_file, found = b"", -1, []
    for apdu in commands:
        if apdu.startswith(SELECT_APP):
            application = apdu[5 : 5 + apdu[4]]
        elif apdu.startswith(SELECT_EF):
            pin_file = int.from_bytes(apdu[5:7], "big")
        elif apdu.startswith(VERIFY) and len(apdu) > 5:
            found.append((application, pin_file, apdu[5 : 5 + apdu[4]].decode()))
    return found


def test_the_pin_screen_asks_for_the_second_pin_and_says_which(
    genuine_app: Callable[..., Flask],
) -> None:
    """For the 転出届 the PIN screen has a second stage naming the PIN of the user
    authentication certificate (利用者証明用電子証明書の暗証番号（数字4桁）), saying that many
    set the same four digits and some do not, with its tries and a way to decline; for a
    住民票 there is no such stage and no second PIN field."""
    app = genuine_app("yoshida")
    kiosk = KioskCard(app.test_client(), "ja")
    kiosk.start(JPKI_PROCEDURE, jpki_fields())
    page = kiosk.pin_screen().get_data(as_text=True)
    assert 'id="stage-text"' in page and 'id="stage-jpki"' in page
    assert "利用者証明用電子証明書の暗証番号（数字4桁）" in page
    assert "同じ 4桁に している 人が 多いですが、違う 番号に している 人も います。" in page
    assert re.search(r'id="jpki-tries">.*?あと3回 入れられます', page, re.S)
    assert 'name="jpki_pin"' in page and 'id="jpki-decline"' in page
    assert 'name="pin"' in page and "券面事項入力補助用" in page

    english = KioskCard(app.test_client(), "en")
    english.start(JPKI_PROCEDURE, jpki_fields())
    page = english.pin_screen().get_data(as_text=True)
    assert "Enter the PIN of your user authentication certificate" in page
    assert "Many people set the same 4 digits for both PINs, but some do not." in page

    plain = KioskCard(app.test_client(), "en")
    plain.start("juminhyo")
    page = plain.pin_screen().get_data(as_text=True)
    assert 'id="stage-jpki"' not in page and 'name="jpki_pin"' not in page
    assert tries(app) == (3, 3)


@pytest.mark.parametrize("lang", ["zh-Hans", "ko"])
def test_the_second_pin_is_named_in_every_language(
    genuine_app: Callable[..., Flask], lang: str
) -> None:
    """Chinese and Korean screens name the certificate's PIN in their language and show its
    official Japanese name (as on the resident's PIN letter)."""
    app = genuine_app("yamada")
    kiosk = KioskCard(app.test_client(), lang)
    kiosk.start(JPKI_PROCEDURE, jpki_fields())
    page = kiosk.pin_screen().get_data(as_text=True)
    words = {"zh-Hans": "用户证明用电子证书的密码", "ko": "이용자 증명용 전자증명서"}[lang]
    assert words in page and "利用者証明用電子証明書の暗証番号" in page


@pytest.mark.parametrize(("left", "code"), [(1, "jpki_pin_would_lock"), (0, "jpki_pin_locked")])
def test_one_jpki_try_left_or_none_sends_to_the_counter_without_that_pin(
    genuine_app: Callable[..., Flask], front_end: str, left: int, code: str
) -> None:
    """With one JPKI try left (or none) the resident is sent to the counter and the JPKI PIN
    never reaches the card: its counter is unchanged, and no case is opened. The kiosk knows
    before the resident types anything (its tries are asked first); the API's read stops
    before that PIN is sent."""
    app = genuine_app("yoshida")
    set_jpki_tries(app, left)
    someone = resident(app, front_end)
    someone.start(JPKI_PROCEDURE, jpki_fields())
    if front_end == "api":
        assert someone.card()["jpki_pin_tries_left"] == left
    outcome = someone.read(YOSHIDA.text_pin, YOSHIDA.jpki_auth_pin)
    assert (outcome.word, outcome.code) == ("stop", code)
    assert tries(app) == (3, left)
    assert cases(app) == []


def test_a_wrong_jpki_pin_is_told_as_that_pin_and_costs_only_its_try(
    genuine_app: Callable[..., Flask], front_end: str
) -> None:
    """Typing the card's PIN again as the certificate's PIN (yoshida's differ): the resident
    is told the certificate's PIN was wrong with its tries left; only its counter drops; the
    right one then reads."""
    app = genuine_app("yoshida")
    someone = resident(app, front_end)
    someone.start(JPKI_PROCEDURE, jpki_fields())
    outcome = someone.read(YOSHIDA.text_pin, YOSHIDA.text_pin)
    assert outcome.word == "retry"
    assert "user authentication certificate is not correct. 2 tries left." in outcome.message
    assert tries(app) == (3, 2)
    assert someone.read(YOSHIDA.text_pin, YOSHIDA.jpki_auth_pin).word == "ok"
    assert tries(app) == (3, 3)


def test_a_wrong_jpki_pin_that_leaves_one_try_stops_the_visit(
    genuine_app: Callable[..., Flask], front_end: str
) -> None:
    """Two JPKI tries left and a wrong one: the resident is stopped rather than invited to
    try again, and the last try is never used."""
    app = genuine_app("yoshida")
    set_jpki_tries(app, 2)
    someone = resident(app, front_end)
    someone.start(JPKI_PROCEDURE, jpki_fields())
    outcome = someone.read(YOSHIDA.text_pin, "0000")
    assert (outcome.word, outcome.code) == ("stop", "jpki_pin_would_lock")
    assert tries(app) == (3, 1)
    assert someone.read(YOSHIDA.text_pin, YOSHIDA.jpki_auth_pin).word == "stop"
    assert tries(app) == (3, 1)


def test_each_pin_goes_to_its_own_application_only(
    genuine_app: Callable[..., Flask], front_end: str
) -> None:
    """The card's PIN is verified under the Text AP (EF 0011), the certificate's under the JPKI
    AP (EF 0018), each once; a wrong card PIN stops there and the certificate's PIN is never
    sent; the Text AP never receives the JPKI PIN."""
    app = genuine_app("yoshida")
    recorder = record_commands(app)
    someone = resident(app, front_end)
    someone.start(JPKI_PROCEDURE, jpki_fields())
    assert someone.read(YOSHIDA.jpki_auth_pin, YOSHIDA.jpki_auth_pin).word == "retry"
    assert verified_pins(recorder.commands) == [(TEXT_AP, 0x0011, YOSHIDA.jpki_auth_pin)]
    recorder.commands.clear()
    assert someone.read(YOSHIDA.text_pin, YOSHIDA.jpki_auth_pin).word == "ok"
    assert verified_pins(recorder.commands) == [
        (TEXT_AP, 0x0011, YOSHIDA.text_pin),
        (JPKI_AP, 0x0018, YOSHIDA.jpki_auth_pin),
    ]


def test_no_jpki_pin_is_sent_unless_a_procedure_wants_the_check(
    genuine_app: Callable[..., Flask],
) -> None:
    """A JPKI PIN sent with a 住民票 is refused before the card is touched (API 422
    jpki_pin_not_wanted, kiosk 400); for the 転出届 a read without it is refused the same way
    (jpki_pin_required). No PIN reaches the card, no case is opened."""
    app = genuine_app("yoshida")
    recorder = record_commands(app)
    api = resident(app, "api")
    api.start("juminhyo")
    assert api.card()["jpki_pin_wanted"] is False and api.card()["jpki_pin_tries_left"] is None
    assert api.read(YOSHIDA.text_pin, YOSHIDA.jpki_auth_pin).code == "jpki_pin_not_wanted"
    kiosk = KioskCard(app.test_client())
    kiosk.start("juminhyo")
    bad = kiosk.client.post("/kiosk/pin", data={"pin": "7272", "jpki_pin": "8383"})
    assert bad.status_code == 400
    wanting = resident(app, "api")
    wanting.start(JPKI_PROCEDURE, jpki_fields())
    assert wanting.card()["jpki_pin_wanted"] is True
    missing = wanting.read(YOSHIDA.text_pin)
    assert (missing.word, missing.code) == ("retry", "jpki_pin_required")
    assert verified_pins(recorder.commands) == []
    assert cases(app) == [] and tries(app) == (3, 3)


def test_declining_the_second_pin_sends_to_the_counter_with_an_audit_row(
    genuine_app: Callable[..., Flask],
) -> None:
    """ "I do not know this PIN": the counter, in the resident's language, with a way to
    choose other procedures; an audit row names the procedure; no PIN sent, no case."""
    app = genuine_app("yoshida")
    kiosk = KioskCard(app.test_client(), "ja")
    kiosk.start(JPKI_PROCEDURE, jpki_fields())
    kiosk.pin_screen()
    response = kiosk.client.post("/kiosk/pin/decline")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-code="jpki_declined"' in page and "窓口で 職員が お手伝いします。" in page
    assert "/kiosk/procedures" in page
    [row] = audit_rows(app, "kiosk.jpki_declined")
    assert row.detail == {"procedures": [JPKI_PROCEDURE]} and row.case_id is None
    assert cases(app) == [] and tries(app) == (3, 3)


def test_neither_pin_is_kept_logged_audited_or_echoed(
    genuine_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    """After wrong and right reads through both front ends, neither of yoshida's PINs is in
    the logs, an audit row, a page or an API answer (the PIN fields come back empty)."""
    app = genuine_app("yoshida")
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []
    kiosk = KioskCard(app.test_client())
    kiosk.start(JPKI_PROCEDURE, jpki_fields())
    wrong = kiosk.client.post("/kiosk/pin", data={"pin": "7272", "jpki_pin": "7272"})
    bodies.append(wrong.get_data(as_text=True))
    right = kiosk.client.post("/kiosk/pin", data={"pin": "7272", "jpki_pin": "8383"})
    assert right.status_code == 302
    bodies.append(kiosk.client.get("/kiosk/check").get_data(as_text=True))
    api = resident(app, "api")
    api.start(JPKI_PROCEDURE, jpki_fields())
    for jpki_pin in ("7272", "8383"):
        answer = api.client.post(
            f"/api/visits/{api.visit}/card/read", json={"pin": "7272", "jpki_pin": jpki_pin}
        )
        bodies.append(answer.get_data(as_text=True))
    with services_of(app).sessions() as s:
        from kiosk.models import AuditEvent

        audit = json.dumps([e.detail for e in s.query(AuditEvent)], ensure_ascii=False)
    for pin in ("7272", "8383"):
        assert pin not in caplog.text
        assert pin not in audit
        for body in bodies:
            assert f'value="{pin}"' not in body and f'"{pin}"' not in body


def test_the_simulator_panel_sets_the_certificate_pins_tries(
    genuine_app: Callable[..., Flask],
) -> None:
    """Staff training: the panel lists yoshida's own certificate PIN, shows its tries and sets
    them; at one try left the kiosk then stops before either PIN is typed."""
    app = genuine_app("yoshida")
    panel = app.test_client()
    page = panel.get("/sim/?lang=en").get_data(as_text=True)
    assert "(PIN 7272, JPKI 8383)" in page and "(PIN 1234)" in page
    assert re.search(r'id="sim-jpki-tries">3<', page)
    done = panel.post("/sim/card", data={"action": "jpki_tries", "tries": "1"})
    assert done.status_code == 302 and tries(app) == (3, 1)
    assert panel.post("/sim/card", data={"action": "jpki_tries", "tries": "4"}).status_code == 400
    kiosk = KioskCard(app.test_client())
    kiosk.start(JPKI_PROCEDURE, jpki_fields())
    outcome = kiosk.read(YOSHIDA.text_pin, YOSHIDA.jpki_auth_pin)
    assert (outcome.word, outcome.code) == ("stop", "jpki_pin_would_lock")
    assert tries(app) == (3, 1)
