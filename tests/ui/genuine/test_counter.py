"""The ward's card policy at the counter desk, through the same code as at the kiosk: a card
read on the counter's own reader that fails a required check opens no case, is audited
(actor the member of staff, the counter's code, no personal data) and both screens say so
in their language; a genuine card's checks are stored with the counter case; a procedure
that wants the JPKI check is refused before any PIN is asked for (kiosk or document)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from application.card_policy import CardNotGenuine, JpkiNotAtCounter
from hardware_sim.card import PIN_TEXT
from tests.ui.genuine.kit import (
    JPKI_PROCEDURE,
    PERSONAS,
    audit_rows,
    cases,
    jpki_fields,
    personal_data_of,
)
from tests.ui.staffkit import add_staff, login, post
from ui.services import services_of

STAFF = "staff:clerk"


def _counter_app(genuine_app: Callable[..., Flask], persona: str, **settings: Any) -> Flask:
    """An app with the kiosk's reader empty and ``persona``'s card on counter 1's reader."""
    app = genuine_app("", **settings)
    services_of(app).simulation.counter_readers["1"].insert(persona)  # type: ignore[union-attr]
    return app


@pytest.fixture
def display_of() -> Iterator[Callable[[Flask], None]]:
    """Factory: keep counter 1's customer display polling its desk (as its page does)."""
    stops: list[tuple[threading.Event, threading.Thread]] = []

    def open_display(app: Flask) -> None:
        desks = services_of(app).counter_desk
        assert desks is not None
        stop = threading.Event()

        def poll() -> None:
            version = 0
            while not stop.is_set():
                version = desks.display_poll("1", version, timeout_s=0.2).version

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        for _ in range(50):
            if desks.desk("1").view().display_connected:
                break
            stop.wait(0.02)
        stops.append((stop, thread))

    yield open_display
    for stop, thread in stops:
        stop.set()
        thread.join(5)


@pytest.mark.parametrize(
    ("persona", "check", "result"),
    [
        ("yamada_replay", "chip", "not_authenticated"),
        ("nakamura", "card_chain", "chain_invalid"),
        ("mori", "card_chain", "signature_invalid"),
    ],
)
def test_counter_refuses_a_card_failing_a_required_check(
    genuine_app: Callable[..., Flask],
    display_of: Callable[[Flask], None],
    persona: str,
    check: str,
    result: str,
) -> None:
    """Under the default policy (chip, chain) a failing card read at the counter raises
    card_not_genuine naming the check, opens no case, leaves one card.refused row by the
    member of staff with the counter's code and no personal data, and the desk stays at
    choosing (card-less intake with a document still works)."""
    app = _counter_app(genuine_app, persona)
    desks = services_of(app).counter_desk
    assert desks is not None
    display_of(app)
    desks.start("1", actor=STAFF)
    desks.choose("1", ["juminhyo"], {}, language="ja")
    desks.ask_for_pin("1")
    with pytest.raises(CardNotGenuine) as refused:
        desks.enter_pin("1", PERSONAS[persona].text_pin)
    assert (refused.value.check, refused.value.result) == (check, result)
    view = desks.desk("1").view()
    assert view.step == "choosing" and view.case_id is None
    assert (view.message, view.refused_check, view.refused_result) == (
        "card_not_genuine",
        check,
        result,
    )
    assert view.to_json()["refused_check"] == check
    assert cases(app) == []
    [row] = audit_rows(app, "card.refused")
    assert row.actor == STAFF and row.case_id is None
    assert row.detail["check"] == check and row.detail["result"] == result
    assert row.detail["counter"] == "1" and row.detail["procedures"] == ["juminhyo"]
    assert {"integrity", "chip", "card_chain"} <= set(row.detail["required"])
    stored = json.dumps(row.detail, ensure_ascii=False)
    for value in personal_data_of(PERSONAS[persona]):
        assert value not in stored
    typed = {
        "family_name": "山田",
        "given_name": "太郎",
        "address": "東京都千代田区千代田1-1",
        "birth_date": "1980-04-01",
        "sex": "male",
    }
    after = desks.open_without_card("1", typed, "drivers_license")
    assert after.step == "check" and after.message is None and after.refused_check is None
    [case] = cases(app)
    assert case.identity_document == "drivers_license" and case.card_integrity == "not_read"


def test_counter_stores_the_checks_of_a_genuine_card(
    genuine_app: Callable[..., Flask], display_of: Callable[[Flask], None]
) -> None:
    """A genuine card read at the counter opens the case with what each check found, as the
    kiosk stores it (chip authenticated, card chain verified, no JPKI check), and nothing is
    refused."""
    app = _counter_app(genuine_app, "yamada")
    desks = services_of(app).counter_desk
    assert desks is not None
    display_of(app)
    desks.start("1", actor=STAFF)
    desks.choose("1", ["juminhyo"], {}, language="ja")
    desks.ask_for_pin("1")
    view = desks.enter_pin("1", PERSONAS["yamada"].text_pin)
    assert view.step == "check" and view.refused_check is None
    [case] = cases(app)
    assert case.channel == "counter" and case.opened_by == STAFF
    assert case.card_integrity == "verified"
    assert case.card_chip_authenticated is True
    assert case.card_chain == "verified"
    assert case.card_jpki_chain == "not_checked"
    assert audit_rows(app, "card.refused") == []


def test_counter_applies_the_wards_policy_not_a_stricter_one(
    genuine_app: Callable[..., Flask], display_of: Callable[[Flask], None]
) -> None:
    """With KIOSK_CARD_CHECKS=chip a card without a trusted chain (nakamura) is not refused
    at the counter either; its case records the chain it failed."""
    app = _counter_app(genuine_app, "nakamura", card_checks="chip")
    desks = services_of(app).counter_desk
    assert desks is not None
    display_of(app)
    desks.start("1", actor=STAFF)
    desks.choose("1", ["juminhyo"], {}, language="ja")
    desks.ask_for_pin("1")
    assert desks.enter_pin("1", PERSONAS["nakamura"].text_pin).step == "check"
    [case] = cases(app)
    assert case.card_chip_authenticated is True and case.card_chain == "chain_invalid"


def test_jpki_procedure_is_refused_at_the_counter_before_any_pin(
    genuine_app: Callable[..., Flask], display_of: Callable[[Flask], None]
) -> None:
    """A procedure that wants the JPKI check (転出届) gets jpki_not_at_counter when staff ask
    for the PIN: no PIN pad, nothing sent to the card, no case."""
    app = _counter_app(genuine_app, "yamada")
    desks = services_of(app).counter_desk
    assert desks is not None
    rig = services_of(app).simulation.counter_readers["1"]  # type: ignore[union-attr]
    display_of(app)
    desks.start("1", actor=STAFF)
    desks.choose("1", [JPKI_PROCEDURE], jpki_fields(), language="ja")
    with pytest.raises(JpkiNotAtCounter):
        desks.ask_for_pin("1")
    view = desks.desk("1").view()
    assert view.step == "choosing" and view.message == "jpki_not_at_counter"
    assert rig.card.tries_left(PIN_TEXT) == 3
    assert cases(app) == []


def test_both_screens_say_why_in_their_language(
    genuine_app: Callable[..., Flask], display_of: Callable[[Flask], None]
) -> None:
    """Through the console and the customer display: after a replayed chip the staff desk
    names the check and its result and points to the card-less intake; the display tells
    the resident in English or Japanese that staff will help with another document."""
    app = _counter_app(genuine_app, "yamada_replay")
    add_staff(app, "clerk", "staff")
    staff = app.test_client()
    login(staff, "clerk", counter="1")
    display = app.test_client()
    login(display, "clerk", counter="1")
    assert post(display, "/display/pair").status_code == 302
    display_of(app)
    assert post(staff, "/staff/desk/new").status_code == 302
    chosen = post(staff, "/staff/desk/procedures", procedure="juminhyo", next="card")
    assert chosen.status_code == 302
    assert post(display, "/display/pin", pin=PERSONAS["yamada_replay"].text_pin).status_code == 302
    page = staff.get("/staff/desk?lang=en").get_data(as_text=True)
    assert 'data-code="card_not_genuine"' in page
    assert "Chip present: the chip did not sign our challenge" in page
    assert "Without a card" in page and 'id="without-card"' in page
    page_ja = staff.get("/staff/desk?lang=ja").get_data(as_text=True)
    assert "本人確認書類" in page_ja
    shown = display.get("/display/?lang=en").get_data(as_text=True)
    assert 'id="display-message"' in shown
    assert "another identity document" in shown
    shown_ja = display.get("/display/?lang=ja").get_data(as_text=True)
    assert "本人確認書類" in shown_ja
    assert cases(app) == []
    [row] = audit_rows(app, "card.refused")
    assert row.actor.startswith("staff:") and row.detail["counter"] == "1"
