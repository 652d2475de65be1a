"""One card, one visit: a visit only uses a card placed on the reader after it began; a
visit that ends with the card on the reader asks the resident to take it; the next visit
waits for the card to be taken off and a card placed. On the in-process reader and on the
PC/SC path (pcscd, the vpcd driver, the simulated card on "Virtual PCD 00 00")."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from application.visits import CardState, VisitStore, VisitWorkflow
from cardreader.reader import DirectCardReader
from tests.support.waiting import wait_until
from tests.ui.moving import move_form
from ui.services import services_of

TEXT_PIN = 0x0011


def _rig(app: Flask) -> Any:
    return services_of(app).simulation.reader  # type: ignore[union-attr]


def _start(client: FlaskClient, lang: str = "ja", procedure: str = "tenkyo") -> None:
    client.get(f"/kiosk/?lang={lang}")
    assert client.post("/kiosk/start").status_code == 302
    client.post("/kiosk/procedures", data={"procedure": [procedure]})
    form = move_form() if procedure == "tenkyo" else {}
    assert client.post("/kiosk/fields", data=form).status_code == 302


def _state(client: FlaskClient) -> str:
    return str(client.get("/kiosk/card/state").get_json()["state"])


def _wait_state(client: FlaskClient, wanted: str, timeout_s: float = 10.0) -> str:
    """Poll the card screen's state as the page does until it is ``wanted``."""
    deadline = time.monotonic() + timeout_s
    state = _state(client)
    while state != wanted and time.monotonic() < deadline:
        time.sleep(0.1)
        state = _state(client)
    return state


def test_a_card_placed_before_start_is_refused_until_placed_again(
    make_app: Callable[..., Flask],
) -> None:
    """The card already on the reader when Start was pressed: the card screen says so, the
    PIN pad is refused in the resident's language and no PIN try is used; taken off and
    placed again it is read."""
    app = make_app(sim_persona="yamada")
    client = app.test_client()
    _start(client, "ja")
    assert _state(client) == CardState.FROM_EARLIER.value
    pad = client.get("/kiosk/pin")
    html = pad.get_data(as_text=True)
    assert pad.status_code == 409 and 'data-error="card_from_earlier"' in html
    assert "はじめる 前から 置いてある カードです" in html and "pinpad" not in html
    assert "/api/voice/guide/card_from_earlier.wav" in html
    assert _rig(app).card.tries_left(TEXT_PIN) == 3
    _rig(app).remove()
    assert _state(client) == CardState.WAITING.value
    _rig(app).insert("yamada")
    assert _state(client) == CardState.PRESENT.value
    assert client.get("/kiosk/pin").status_code == 200
    assert client.post("/kiosk/pin", data={"pin": "1234"}).headers["Location"] == "/kiosk/check"


def test_the_same_card_taken_off_and_put_back_between_polls_is_new(
    make_app: Callable[..., Flask],
) -> None:
    """The reader counts cards: off and on again, even unseen by any poll, is a new card;
    so is another resident's card swapped in."""
    app = make_app(sim_persona="yamada")
    client = app.test_client()
    _start(client)
    _rig(app).remove()
    _rig(app).insert("yamada")
    assert _state(client) == CardState.PRESENT.value
    second = app.test_client()
    _start(second)
    assert _state(second) == CardState.FROM_EARLIER.value
    _rig(app).insert("suzuki")  # taken out and another put in, in one go
    assert _state(second) == CardState.PRESENT.value


def test_finishing_with_the_card_on_the_reader_asks_to_take_it(
    make_app: Callable[..., Flask],
) -> None:
    """Finish with the card still on the reader: "Please take your card", spoken; the screen
    follows the reader and goes back to the welcome once the card is taken."""
    app = make_app(sim_persona="")
    client = app.test_client()
    _start(client, "en")
    _rig(app).insert("yamada")
    client.post("/kiosk/pin", data={"pin": "1234"})
    assert client.post("/kiosk/confirm").headers["Location"] == "/kiosk/ticket"
    finished = client.post("/kiosk/wipe")
    assert finished.headers["Location"] == "/kiosk/take-card"
    page = client.get("/kiosk/take-card")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Please take your card" in html
    assert 'data-voice="/api/voice/guide/take_card.wav?lang=en"' in html
    assert client.get("/kiosk/take-card/state").get_json() == {"card_present": True}
    _rig(app).remove()
    assert client.get("/kiosk/take-card/state").get_json() == {"card_present": False}
    assert client.get("/kiosk/take-card").headers["Location"] == "/kiosk/"
    assert 'lang="ja"' in client.get("/kiosk/").get_data(as_text=True)  # the next resident


def test_a_timed_out_visit_with_the_card_on_the_reader_asks_to_take_it(
    make_app: Callable[..., Flask],
) -> None:
    """The idle wipe (from the page's timer) sends the screen to "take your card" too, and
    from there to the welcome's privacy notice; without a card, straight to the welcome."""
    app = make_app(sim_persona="yamada")
    client = app.test_client()
    _start(client)
    wiped = client.post(
        "/kiosk/wipe", data={"reason": "timeout"}, headers={"Accept": "application/json"}
    )
    assert wiped.get_json() == {"state": "ended", "redirect": "/kiosk/take-card?ended=1"}
    _rig(app).remove()
    assert client.get("/kiosk/take-card?ended=1").headers["Location"] == "/kiosk/?ended=1"
    _start(client)
    assert client.post("/kiosk/wipe").headers["Location"] == "/kiosk/"


def test_the_next_visit_never_reads_the_card_the_last_one_left(
    make_app: Callable[..., Flask],
) -> None:
    """A stranger's visit after a finished one: the left card gets no PIN attempt (its
    tries are untouched), through the screens and the JSON API alike."""
    app = make_app(sim_persona="")
    first = app.test_client()
    _start(first)
    _rig(app).insert("yamada")
    assert first.post("/kiosk/pin", data={"pin": "1234"}).status_code == 302
    first.post("/kiosk/confirm")
    first.post("/kiosk/wipe")
    stranger = app.test_client()
    _start(stranger, procedure="juminhyo")
    assert stranger.post("/kiosk/pin", data={"pin": "0000"}).status_code == 409
    api = app.test_client()
    visit = api.post("/api/visits?lang=en", json={"procedures": ["juminhyo"]}).get_json()
    card = api.get(f"/api/visits/{visit['visit_id']}/card").get_json()
    assert card["card_from_earlier"] is True and card["pin_tries_left"] is None
    read = api.post(f"/api/visits/{visit['visit_id']}/card/read", json={"pin": "0000"})
    assert read.status_code == 409
    assert read.get_json()["error"]["code"] == "card_from_earlier"
    assert "take it off" in read.get_json()["error"]["message"]
    assert _rig(app).card.tries_left(TEXT_PIN) == 3


def test_a_reader_that_cannot_count_cards_needs_to_be_seen_empty(
    make_app: Callable[..., Flask],
) -> None:
    """Where a reader reports no card count, a card from before the visit stays refused,
    even taken off and put back unseen, until the visit has seen the reader empty."""
    app = make_app(sim_persona="yamada")
    services = services_of(app)
    rig = _rig(app)
    workflow = VisitWorkflow(
        sessions=services.sessions,
        catalog=services.catalog,
        reader=DirectCardReader(rig.in_process_card),  # no card_events
        payments=services.payments,
        store=VisitStore(120),
        kiosk_id="kiosk-9",
    )
    visit = workflow.start("ja")
    workflow.choose_procedures(visit, ["juminhyo"])
    assert workflow.card_state(visit) is CardState.FROM_EARLIER
    rig.remove()
    rig.insert("yamada")
    assert workflow.card_state(visit) is CardState.FROM_EARLIER
    rig.remove()
    assert workflow.card_state(visit) is CardState.WAITING
    rig.insert("yamada")
    assert workflow.card_state(visit) is CardState.PRESENT
    assert workflow.pin_tries(visit) == 3


@pytest.mark.pcsc
def test_pcsc_left_card_then_a_new_visit(
    make_app: Callable[..., Flask], pcscd: str, vpcd_port: int
) -> None:
    """Through pcscd and the vpcd reader: a visit finishes with its card on the reader; the
    next visit shows "take it off", sends no PIN to it (tries unchanged) and reads only a
    card placed after it began, told apart by pcscd's card event counter."""
    app = make_app(card_reader="sim", sim_vpcd_port=vpcd_port, sim_persona="")
    assert services_of(app).card_reader.status().reader_name == pcscd
    rig = _rig(app)
    first = app.test_client()
    _start(first)
    assert _wait_state(first, "waiting") == "waiting"
    rig.insert("yamada")
    assert _wait_state(first, "present") == "present"
    assert first.post("/kiosk/pin", data={"pin": "1234"}).headers["Location"] == "/kiosk/check"
    assert first.post("/kiosk/confirm").headers["Location"] == "/kiosk/ticket"
    assert first.post("/kiosk/wipe").headers["Location"] == "/kiosk/take-card"

    second = app.test_client()
    _start(second, procedure="juminhyo")
    assert _state(second) == "from_earlier"
    assert second.get("/kiosk/pin").status_code == 409
    assert second.post("/kiosk/pin", data={"pin": "0000"}).status_code == 409
    assert rig.card.tries_left(TEXT_PIN) == 3
    assert first.get("/kiosk/take-card/state").get_json() == {"card_present": True}
    rig.remove()
    assert _wait_state(second, "waiting") == "waiting"
    assert first.get("/kiosk/take-card/state").get_json() == {"card_present": False}
    rig.insert("takahashi")
    assert _wait_state(second, "present") == "present"
    assert second.get("/kiosk/pin").status_code == 200
    assert second.post("/kiosk/pin", data={"pin": "2468"}).headers["Location"] == "/kiosk/check"


@pytest.mark.pcsc
def test_pcsc_card_put_back_quickly_is_a_new_card(
    make_app: Callable[..., Flask], pcscd: str, vpcd_port: int
) -> None:
    """pcscd counts the card leaving and coming back even when no poll of the visit saw the
    reader empty: the same card placed again is usable. (pcscd itself polls the reader: a
    card out and in again between two of its polls is not seen, and stays "from earlier",
    the safe side; the test waits until pcscd has counted the removal.)"""
    app = make_app(card_reader="sim", sim_vpcd_port=vpcd_port, sim_persona="yamada")
    client = app.test_client()
    deadline = time.monotonic() + 10
    while not services_of(app).card_reader.status().card_present:
        assert time.monotonic() < deadline, "pcscd never saw the card"
        time.sleep(0.1)
    _start(client)
    assert _state(client) == "from_earlier"
    reader = services_of(app).card_reader
    before = reader.status().card_events
    _rig(app).remove()
    wait_until(lambda: reader.status().card_events != before, message="pcscd counting the removal")
    _rig(app).insert("yamada")  # on again: no poll of the visit saw the reader empty
    assert _wait_state(client, "present") == "present"
