"""Offline voice in a real browser (Debian's Chromium): the display board fetches and plays
the spoken call after the chime, and every kiosk screen has a read-aloud button that fetches
its instruction from the service."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.ui.browser import (
    BROWSER_MARKS,
    Served,
    finish_and_take_card,
    place_card,
    press_pin,
)
from tests.ui.staffkit import PASSWORD, add_staff, paid_ticket

pytestmark = BROWSER_MARKS

VOICE_CALL = re.compile(r"/api/voice/call\.wav\?")


def test_board_speaks_a_call_after_the_chime(serve: Callable[..., Served], browser: Any) -> None:
    """After "enable sound" and a call, the board fetches the call's audio in ja then en
    (number and counter only) and plays it."""
    served = serve(sim_terminal_auto="approve", sim_persona="yamada")
    ticket = paid_ticket(served.app)
    add_staff(served.app, "clerk", "staff")

    context = browser.new_context(viewport={"width": 1600, "height": 900}, locale="ja-JP")
    board = context.new_page()
    board.set_default_timeout(10_000)
    asked: list[tuple[str, int]] = []
    board.on(
        "response",
        lambda r: asked.append((r.url, r.status)) if VOICE_CALL.search(r.url) else None,
    )
    board.goto(f"{served.url}/board/")
    board.wait_for_selector('#live[data-state="live"]')
    if board.locator("#sound").is_visible():  # the browser's autoplay policy: one click
        board.click("#sound")
        board.wait_for_selector("#sound", state="hidden")
    assert asked == []  # calls already on the board when it opens are not spoken again

    client = served.app.test_client()
    login = client.post("/api/staff/login", json={"username": "clerk", "password": PASSWORD})
    auth = {"Authorization": f"Bearer {login.get_json()['token']}"}
    assert client.post("/api/staff/counters/1/call-next", headers=auth).status_code == 200

    board.wait_for_function(
        "n => document.body.getAttribute('data-announced') === n", arg=ticket["number"]
    )
    assert board.get_attribute("body", "data-chimed")
    langs = sorted(re.search(r"lang=([\w-]+)", url).group(1) for url, _ in asked)
    assert langs == ["en", "ja"]
    for url, status in asked:
        assert status == 200
        assert f"number={ticket['number']}" in url and "counter=1" in url
    context.close()


def _read_aloud(page: Any, screen: str, name: str) -> None:
    """The screen's read-aloud button: named, big enough, fetches ``screen``'s audio."""
    button = page.get_by_role("button", name=name, exact=True)
    assert button.count() == 1, screen
    box = button.bounding_box()
    assert box and box["height"] >= 44 and box["width"] >= 44, (screen, box)
    with page.expect_response(lambda r: f"/api/voice/guide/{screen}.wav" in r.url) as info:
        button.click()
    response = info.value
    assert response.status in (200, 206), screen  # 206: a media range from the cache
    assert response.headers["content-type"] == "audio/wav", screen


@pytest.mark.parametrize(("lang", "name"), [("ja", "音声案内"), ("en", "Read aloud")])
def test_every_kiosk_screen_reads_its_instruction_aloud(
    serve: Callable[..., Served], page: Any, lang: str, name: str
) -> None:
    """Welcome to receipt, and the stop screen: each has the button in its language, and
    pressing it plays that screen's instruction (a second press starts it over)."""
    served = serve()
    page.goto(f"{served.url}/kiosk/?lang={lang}")
    _read_aloud(page, "welcome", name)
    page.wait_for_selector("#read-aloud[data-state='speaking']")
    _read_aloud(page, "welcome", name)  # starts over: one audio element, stopped first
    page.wait_for_selector("#read-aloud[data-state='speaking']")
    page.click("#start")
    page.wait_for_url(re.compile(r"/kiosk/procedures$"))
    _read_aloud(page, "procedures", name)
    page.click("label.choice-card:has(input[value='juminhyo'])")
    page.click("main button[type=submit].btn-primary")
    page.wait_for_url(re.compile(r"/kiosk/fields$"))
    _read_aloud(page, "fields", name)
    page.click("main button[type=submit].btn-primary")
    page.wait_for_url(re.compile(r"/kiosk/card$"))
    page.wait_for_selector("#card-state[data-state='waiting']")
    _read_aloud(page, "card", name)
    place_card(page, served, "yamada")
    _read_aloud(page, "pin", name)
    press_pin(page, "1234")
    page.wait_for_url(re.compile(r"/kiosk/check$"))
    _read_aloud(page, "check", name)
    page.click("#confirm")
    page.wait_for_url(re.compile(r"/kiosk/pay$"))
    _read_aloud(page, "pay", name)
    page.click("#pay-start")
    page.wait_for_selector("#pay-progress")
    _read_aloud(page, "pay_terminal", name)
    served.terminal.approve()
    page.wait_for_url(re.compile(r"/kiosk/ticket$"))
    _read_aloud(page, "ticket", name)
    page.click("#receipt")
    page.wait_for_url(re.compile(r"/kiosk/receipt$"))
    _read_aloud(page, "receipt", name)
    page.click("#receipt-back")
    page.wait_for_url(re.compile(r"/kiosk/ticket$"))
    page.click("#finish")
    page.wait_for_selector("#take-card")
    _read_aloud(page, "take_card", name)
    finish_and_take_card(page, served, finish=None)
    served.rig.insert("yamada")  # the card's counters persist across taking it out
    served.rig.card.set_tries(0x0011, 1)  # one PIN try left: the kiosk stops
    served.rig.remove()
    page.goto(f"{served.url}/kiosk/?lang={lang}")  # the next visit starts in Japanese
    page.click("#start")
    page.click("label.choice-card:has(input[value='inkan'])")
    page.click("main button[type=submit].btn-primary")
    page.click("main button[type=submit].btn-primary")
    place_card(page, served, "yamada")
    assert page.locator(".stop").count() == 1
    _read_aloud(page, "stop", name)
