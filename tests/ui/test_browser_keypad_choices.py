"""The physical number keypad on the resident's main choices, in a real browser (Debian's
Chromium): a whole visit from the welcome screen to the ticket with key events only, each
screen saying what its keys do; and every screen's keypad text in the four languages."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from kiosk.catalog import contains_kanji
from tests.ui.browser import BROWSER_MARKS, Served, shot
from ui.voice import KEYS_SCREENS, SPOKEN_NOTICES, guide_text


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The service with the real espeak-ng (installed by scripts/setup.sh)."""
    return make_app()


def _in_browser(test: Callable[..., None]) -> Callable[..., None]:
    for mark in BROWSER_MARKS:
        test = mark(test)
    return test


def _spoken(page: Any) -> str:
    return str(page.get_attribute("body", "data-spoken") or "")


@_in_browser
def test_a_whole_visit_with_the_number_keypad_only(serve: Callable[..., Served], page: Any) -> None:
    """Welcome (language 2 = English, Enter), procedure 1 ticked and unticked and ticked by
    its digit, fields and check by Enter, the PIN by digits, card payment by 1, Finish by
    Enter: the screen is never touched and "+" says each screen's keys."""
    served = serve(sim_terminal_auto="approve")
    page.goto(f"{served.url}/kiosk/?lang=ja")
    page.keyboard.press("NumpadAdd")
    assert _spoken(page).startswith("/api/voice/guide/keys_welcome.wav?lang=ja")
    assert page.inner_text("[data-key='2'] .key-number") == "2"
    page.keyboard.press("2")
    page.wait_for_url(re.compile(r"/kiosk/\?lang=en$"))
    # Arrived by the keypad: the screen says its keys by itself, in the new language.
    assert _spoken(page).startswith("/api/voice/guide/keys_welcome.wav?lang=en")
    shot(page, "en-keys-01-welcome")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/kiosk/procedures$"))
    assert _spoken(page).startswith("/api/voice/guide/keys_procedures.wav?lang=en")
    first = page.locator("input[data-key='1']")
    name = page.inner_text("label.choice-card:has(input[data-key='1']) .choice-name")
    assert name.startswith("1")
    page.keyboard.press("1")
    assert first.is_checked()
    assert _spoken(page).startswith("/api/voice/guide/keys_chosen_1.wav?lang=en")
    page.keyboard.press("1")
    assert not first.is_checked()
    assert _spoken(page).startswith("/api/voice/guide/keys_removed_1.wav?lang=en")
    page.keyboard.press("Numpad1")
    assert first.is_checked()
    shot(page, "en-keys-02-procedure-1")
    page.keyboard.press("NumpadEnter")
    page.wait_for_url(re.compile(r"/kiosk/fields$"))
    page.keyboard.press("NumpadMultiply")
    assert _spoken(page).startswith("/api/voice/guide/keys_fields.wav?lang=en")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/kiosk/card$"))
    assert _spoken(page).startswith("/api/voice/guide/card.wav?lang=en")
    # A screen without choices: "+" says its instruction again, other keys do nothing.
    page.evaluate("document.body.removeAttribute('data-spoken')")
    page.keyboard.press("Backspace")
    assert _spoken(page) == "" and page.url.endswith("/kiosk/card")
    page.keyboard.press("NumpadAdd")
    assert _spoken(page).startswith("/api/voice/guide/card.wav?lang=en")
    served.rig.insert("yamada")
    page.wait_for_url(re.compile(r"/kiosk/pin$"))
    for key in ("1", "2", "3", "4", "Enter"):
        page.keyboard.press(key)
    page.wait_for_url(re.compile(r"/kiosk/check$"))
    assert _spoken(page).startswith("/api/voice/guide/keys_check.wav?lang=en")
    fee = page.inner_text("#total")
    shot(page, "en-keys-03-check")
    page.keyboard.press("Enter")
    if fee.strip() not in ("Free", "¥0"):
        page.wait_for_url(re.compile(r"/kiosk/pay$"))
        assert _spoken(page).startswith("/api/voice/guide/keys_pay.wav?lang=en")
        shot(page, "en-keys-04-pay")
        page.keyboard.press("1")
    page.wait_for_url(re.compile(r"/kiosk/ticket$"), timeout=20000)
    assert _spoken(page).startswith("/api/voice/guide/keys_ticket.wav?lang=en")
    assert re.fullmatch(r"[A-Z]{1,3}-[0-9]{3,4}", page.inner_text("#ticket-number").strip())
    shot(page, "en-keys-05-ticket")
    wav = page.request.get(served.url + _spoken(page))
    assert wav.ok and wav.headers["content-type"].startswith("audio/")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/kiosk/(take-card|\?|$)"))
    assert "/kiosk/ticket" not in page.url


def test_every_keypad_screen_says_its_keys_in_four_languages(app: Flask) -> None:
    """Each screen's "+" text and each "number N is chosen/removed" is a notice in all four
    languages, Japanese in kana with the digit, and names no personal data."""
    assert set(KEYS_SCREENS) <= set(SPOKEN_NOTICES)
    with app.test_request_context():
        for notice in (*KEYS_SCREENS, "keys_chosen_3", "keys_removed_0"):
            english = guide_text(notice, "en")
            ja = guide_text(notice, "ja")
            assert not contains_kanji(ja) and not re.search(r"[A-Za-z]", ja), (notice, ja)
            for lang in ("ja", "zh-Hans", "ko"):
                assert guide_text(notice, lang) != english, (notice, lang)
        assert "3" in guide_text("keys_chosen_3", "ja") and "3" in guide_text("keys_chosen_3", "ko")
    client = app.test_client()
    page = client.get("/kiosk/?lang=ko").get_data(as_text=True)
    assert 'data-keys-help="/api/voice/guide/keys_welcome.wav?lang=ko"' in page
    for lang in ("ja", "en", "zh-Hans", "ko"):
        response = client.get(f"/api/voice/guide/keys_procedures.wav?lang={lang}")
        assert response.status_code == 200 and response.mimetype == "audio/wav", lang
