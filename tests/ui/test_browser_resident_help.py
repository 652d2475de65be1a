"""Help that reaches staff and one card per visit, in a real browser (Debian's Chromium): a
resident's "Call staff" on two staff console tabs at once and the acknowledgement back on the
kiosk; a card left on the reader after a visit, then the next resident's visit."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.ui.browser import BROWSER_MARKS, TEXT_PIN, Served, place_card, press_pin, shot
from tests.ui.staffkit import PASSWORD, add_staff

pytestmark = BROWSER_MARKS


def _staff_tab(context: Any, url: str) -> Any:
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.goto(f"{url}/staff/counter")
    return tab


def _to_pin(page: Any, served: Served) -> None:
    """A 住民票 visit in Japanese up to the PIN screen, yamada's card placed once asked for."""
    page.goto(f"{served.url}/kiosk/?lang=ja")
    page.click("#start")
    page.wait_for_url(re.compile(r"/kiosk/procedures$"))
    page.click("label.choice-card:has(input[value='juminhyo'])")
    page.click("button[type=submit].btn-primary")
    page.wait_for_url(re.compile(r"/kiosk/fields$"))
    page.click("main button[type=submit].btn-primary")
    place_card(page, served)


def test_call_staff_reaches_every_console_tab_and_the_answer_reaches_the_kiosk(
    serve: Callable[..., Served], page: Any, browser: Any
) -> None:
    """The resident presses "Call staff" on the procedures screen: both open console tabs
    show the kiosk and the screen at once; "I am going" on one clears both and the kiosk
    tells the resident that someone is coming."""
    served = serve()
    add_staff(served.app, "sato")
    staff_ctx = browser.new_context(viewport={"width": 1366, "height": 900}, locale="ja-JP")
    first = staff_ctx.new_page()
    first.set_default_timeout(10_000)
    first.goto(f"{served.url}/staff/")
    first.fill("#username", "sato")
    first.fill("#password", PASSWORD)
    first.click("button[type=submit]")
    first.wait_for_url("**/staff/counter")
    second = _staff_tab(staff_ctx, served.url)
    assert second.locator("#help-list li.s-help-open").count() == 0

    page.goto(f"{served.url}/kiosk/?lang=ja")
    page.click("#start")
    page.wait_for_url(re.compile(r"/kiosk/procedures$"))
    page.click("form[data-call-staff] button")
    page.wait_for_selector("#help-status:not([hidden])")
    shot(page, "ja-help-01-kiosk-called")

    for tab in (first, second):
        tab.wait_for_selector("#help-list li.s-help-open")
        alert = tab.inner_text("#help-list li.s-help-open")
        assert "kiosk-1" in alert
        assert "手続きの選択" in alert, alert  # the screen the resident was on
        assert re.search(r"\d\d:\d\d:\d\d", alert), alert
        assert "山田" not in alert  # the kiosk and the screen only, never the resident
    shot(second, "ja-help-02-second-console-tab")

    first.click("#help-list li.s-help-open button")
    second.wait_for_selector("#help-list li.s-help-open", state="detached")
    assert "sato" in second.inner_text("#help-list")
    page.wait_for_selector("#help-status[data-state='acknowledged']")
    assert "向かっています" in page.inner_text("#help-status")
    shot(page, "ja-help-03-kiosk-someone-coming")
    shot(second, "ja-help-04-second-console-acknowledged")
    staff_ctx.close()


def test_a_card_left_on_the_reader_is_not_the_next_residents(
    serve: Callable[..., Served], page: Any
) -> None:
    """A visit ends with the card on the reader: "Please take your card" until it is gone;
    the next visit's card screen waits for a card placed after it began, and only then
    asks for the PIN; the left card's tries are untouched."""
    served = serve(sim_terminal_auto="approve")
    _to_pin(page, served)
    press_pin(page, "1234")
    page.wait_for_url(re.compile(r"/kiosk/check$"))
    page.click("#confirm")
    page.wait_for_url(re.compile(r"/kiosk/pay$"))
    page.click("#pay-start")
    page.wait_for_url(re.compile(r"/kiosk/ticket$"))
    page.click("#finish")
    page.wait_for_url(re.compile(r"/kiosk/take-card"))
    page.wait_for_selector("#take-card")
    shot(page, "ja-card-01-take-your-card")

    served.rig.remove()
    page.wait_for_url(re.compile(r"/kiosk/(\?.*)?$"))
    served.rig.insert("sato")  # the next resident's card, placed before pressing Start
    page.click("#start")
    page.wait_for_url(re.compile(r"/kiosk/procedures$"))
    page.click("label.choice-card:has(input[value='juminhyo'])")
    page.click("button[type=submit].btn-primary")
    page.wait_for_url(re.compile(r"/kiosk/fields$"))
    page.click("main button[type=submit].btn-primary")
    page.wait_for_url(re.compile(r"/kiosk/card$"))
    page.wait_for_selector("#card-state[data-state='from_earlier']")
    shot(page, "ja-card-02-placed-before-start")
    tries_before = served.rig.card.tries_left(TEXT_PIN)
    served.rig.remove()
    served.rig.insert("sato")
    page.wait_for_url(re.compile(r"/kiosk/pin$"))
    shot(page, "ja-card-03-placed-again-pin")
    assert served.rig.card.tries_left(TEXT_PIN) == tries_before


def test_keypad_only_pin_entry_with_voice(serve: Callable[..., Served], page: Any) -> None:
    """On the PIN screen a USB number keypad alone enters the PIN: "+" says how to use it,
    each key says how many digits are in (never which), Backspace erases one, Enter with
    four digits reads the card; the on-screen pad is never touched."""
    served = serve()
    _to_pin(page, served)

    def spoken() -> str:
        return str(page.get_attribute("body", "data-spoken") or "")

    page.keyboard.press("NumpadAdd")
    assert spoken().startswith("/api/voice/guide/pin_keypad")
    for key, digits in (("1", 1), ("2", 2), ("9", 3), ("Backspace", 2), ("3", 3), ("4", 4)):
        page.keyboard.press(key)
        assert spoken().startswith(f"/api/voice/guide/pin_digits_{digits}"), key
    assert page.locator(".pin-dots span.filled").count() == 4
    assert page.eval_on_selector("#pin", "el => el.value") == "1234"
    shot(page, "ja-keypad-01-four-digits")
    wav = page.request.get(served.url + spoken())
    assert wav.ok and wav.headers["content-type"].startswith("audio/")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/kiosk/check$"))
    assert "山田" in page.inner_text(".from-card")
    shot(page, "ja-keypad-02-card-read")
    assert served.rig.card.tries_left(TEXT_PIN) == 3
