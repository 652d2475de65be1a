"""The on-screen keyboard in a real browser: free-text fields filled without any physical
or native keyboard, only by tapping the kiosk's own keys (Debian's Chromium, Playwright)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.ui.browser import BROWSER_MARKS, SHOTS, Served, press_pin

pytestmark = BROWSER_MARKS


def shot(page: Any, name: str) -> None:
    """What the resident sees (the keyboard is fixed to the bottom of the screen)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def small_keys(page: Any) -> list[str]:
    """Visible keyboard buttons under 44 x 44 px (the kiosk's minimum touch target)."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('#osk button'))
            .filter((b) => b.offsetParent !== null)
            .filter((b) => b.getBoundingClientRect().width < 44
                        || b.getBoundingClientRect().height < 44)
            .map((b) => b.textContent)"""
    )


def tap(page: Any, *chars: str) -> None:
    for ch in chars:
        page.locator("#osk").get_by_role("button", name=ch, exact=True).first.click()


def to_fields(page: Any, served: Served, lang: str, procedure: str) -> None:
    page.goto(f"{served.url}/kiosk/?lang={lang}")
    page.click("#start")
    page.wait_for_url(re.compile(r"/kiosk/procedures$"))
    page.click(f"label.choice-card:has(input[value='{procedure}'])")
    page.click("main button[type=submit].btn-primary")
    page.wait_for_url(re.compile(r"/kiosk/fields$"))


def test_family_register_typed_on_the_screen_keyboard(
    serve: Callable[..., Served], page: Any
) -> None:
    """本籍 and 筆頭者 typed only with on-screen kana keys (゛, 小, katakana, address words,
    backspace, clear) reach the check screen unchanged."""
    served = serve(sim_persona="yamada")
    to_fields(page, served, "ja", "koseki")
    honseki = page.locator("#f-koseki-honseki")
    assert honseki.get_attribute("inputmode") == "none"
    assert page.locator("#osk").is_hidden()

    honseki.click()
    assert page.locator("#osk").is_visible()
    assert page.locator("#osk-field").inner_text() == "本籍"
    assert page.locator(".osk-tab[data-layout='kana']").get_attribute("aria-pressed") == "true"
    tap(page, "と", "う", "き", "よ")
    page.click("#osk [data-mark='small']")  # よ -> ょ
    tap(page, "う", "と", "ち", "よ", "た")
    page.click("#osk [data-mark='dakuten']")  # た -> だ
    tap(page, "く", "１")
    page.click("#osk [data-char='丁目']")
    tap(page, "２")
    page.click("#osk [data-char='番']")
    assert honseki.input_value() == "とうきょうとちよだく１丁目２番"
    assert page.inner_text("#osk-value") == "とうきょうとちよだく１丁目２番"
    # focus never left the field: its caret is where the resident types
    assert page.evaluate("document.activeElement.id") == "f-koseki-honseki"
    assert small_keys(page) == []
    box = honseki.bounding_box()
    assert box is not None and box["y"] + box["height"] <= page.locator("#osk").bounding_box()["y"]
    shot(page, "ja-kbd-01-kana")

    page.locator("#f-koseki-hittousha").click()
    assert page.locator("#osk-field").inner_text() == "筆頭者"
    tap(page, "あ")
    page.click("#osk [data-clear]")
    assert page.locator("#f-koseki-hittousha").input_value() == ""
    page.click("#osk .osk-tab[data-layout='kata']")
    assert page.locator("#osk .osk-word[data-char='の']").inner_text() == "の"  # address words stay
    tap(page, "ヤ", "マ", "タ")
    page.click("#osk [data-mark='dakuten']")
    tap(page, "ハ")
    page.click("#osk [data-back]")
    page.click("#osk [data-space]")
    tap(page, "タ", "ロ", "ウ")
    shot(page, "ja-kbd-02-katakana")
    page.click("#osk [data-done]")
    assert page.locator("#osk").is_hidden()
    assert page.evaluate("document.activeElement.id") == "f-koseki-hittousha"

    page.click("main button[type=submit].btn-primary")
    page.wait_for_url(re.compile(r"/kiosk/card$"))
    page.goto(f"{served.url}/kiosk/pin")
    press_pin(page, "1234")
    page.wait_for_url(re.compile(r"/kiosk/check$"))
    text = page.inner_text(".check-grid")
    assert "とうきょうとちよだく１丁目２番" in text
    assert "ヤマダ\u3000タロウ" in text


def test_latin_and_digit_layouts_in_english(serve: Callable[..., Served], page: Any) -> None:
    """In English the keyboard opens on Latin letters (shift for one capital) and the digit
    pad types half-width digits; the typed new address is on the check screen."""
    served = serve(sim_persona="yamada")
    to_fields(page, served, "en", "tenkyo")
    page.fill("#f-tenkyo-moving_date", "2026-11-20")
    address = page.locator("#f-tenkyo-new_address")
    address.click()
    assert page.locator(".osk-tab[data-layout='latin']").get_attribute("aria-pressed") == "true"
    assert page.locator("#osk [data-back]").get_attribute("aria-label") == "Delete one character"
    page.click("#osk [data-shift]")
    assert small_keys(page) == []
    shot(page, "en-kbd-01-latin")
    tap(page, "S", "h", "i", "b", "a")
    page.click("#osk [data-space]")
    page.click("#osk .osk-tab[data-layout='digits']")
    tap(page, "1", "-", "2")
    assert small_keys(page) == []
    shot(page, "en-kbd-02-digits")
    page.click("#osk [data-done]")
    assert address.input_value() == "Shiba 1-2"
    page.click("main button[type=submit].btn-primary")
    page.wait_for_url(re.compile(r"/kiosk/card$"))
    page.goto(f"{served.url}/kiosk/pin")
    press_pin(page, "1234")
    page.wait_for_url(re.compile(r"/kiosk/check$"))
    assert "Shiba 1-2" in page.inner_text(".check-grid")


def test_keyboard_focus_and_language_in_korean(serve: Callable[..., Served], page: Any) -> None:
    """In Korean the help says kanji are checked at the counter; Enter opens the keyboard,
    Tab moves into it, Escape closes it and gives the focus back to the field."""
    served = serve(sim_persona="yamada")
    to_fields(page, served, "ko", "tenshutsu")
    field = page.locator("#f-tenshutsu-destination_address")
    assert "한자는 창구에서 확인합니다" in page.inner_text("#f-tenshutsu-destination_address-hint")
    field.focus()
    page.keyboard.press("Enter")
    assert page.locator("#osk").is_visible()
    assert "한자" in page.inner_text("#osk-help")
    assert page.locator("#osk [data-done]").inner_text() == "완료"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('data-layout')") == "latin"
    page.keyboard.press("Escape")
    assert page.locator("#osk").is_hidden()
    assert page.evaluate("document.activeElement.id") == "f-tenshutsu-destination_address"
