"""The on-screen keyboard in a real browser: free-text fields filled without any physical
or native keyboard, only by tapping the kiosk's own keys (Debian's Chromium, Playwright)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kiosk.clock import business_day
from tests.ui.browser import BROWSER_MARKS, SHOTS, Served, place_card, press_pin

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


def pick_today(page: Any, procedure: str) -> None:
    """Tap today on the moving date's calendar (a 転出届 allows two weeks either side)."""
    today = business_day().isoformat()
    page.click(f"#f-{procedure}-moving_date label:has(input[value='{today}'])")


def check_page_text(page: Any, served: Served, *, jpki: bool = False) -> str:
    """Submit the fields, place yamada's card, enter the PIN (and, for a procedure with the
    JPKI check such as 転出届, the second PIN) and return the check screen's form text."""
    page.click("main button[type=submit].btn-primary")
    # One card, one visit: the resident places the card after starting.
    place_card(page, served, "yamada")
    if jpki:
        for digit in "1234":
            page.click(f"#stage-text .pinpad [data-digit='{digit}']")
        page.click("#pin-next")
        page.wait_for_selector("#stage-jpki:visible")
        for digit in "1234":
            page.click(f"#stage-jpki .pinpad [data-digit='{digit}']")
        page.click("#jpki-pin-ok")
    else:
        press_pin(page, "1234")
    page.wait_for_url(re.compile(r"/kiosk/check$"))
    return page.inner_text(".check-grid")


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

    text = check_page_text(page, served)
    assert "とうきょうとちよだく１丁目２番" in text
    assert "ヤマダ\u3000タロウ" in text


def test_latin_and_digit_layouts_in_english(serve: Callable[..., Served], page: Any) -> None:
    """In English the keyboard opens on Latin letters (shift for one capital) and the digit
    pad types half-width digits; the typed destination address is on the check screen."""
    served = serve(sim_persona="yamada")
    to_fields(page, served, "en", "tenshutsu")
    pick_today(page, "tenshutsu")
    address = page.locator("#f-tenshutsu-destination_address")
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
    assert "Shiba 1-2" in check_page_text(page, served, jpki=True)


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


def caret_view(page: Any) -> tuple[str, str]:
    """The preview's text on each side of its caret."""
    return (page.inner_text("#osk-before"), page.inner_text("#osk-after"))


def test_cursor_keys_edit_in_the_middle(serve: Callable[..., Served], page: Any) -> None:
    """← → 先頭 末尾 move the field's caret; keys, ⌫ and ゛ act at the caret; the preview shows
    the caret where it is; every change fires one input event and the focus stays in the
    field; a full field takes no more characters in the middle."""
    served = serve(sim_persona="yamada")
    to_fields(page, served, "ja", "tenshutsu")
    address = page.locator("#f-tenshutsu-destination_address")
    address.click()
    page.evaluate(
        """() => { window.inputs = 0;
            document.getElementById('f-tenshutsu-destination_address')
              .addEventListener('input', () => { window.inputs += 1; }); }"""
    )
    tap(page, "か", "き", "く")
    assert caret_view(page) == ("かきく", "")
    left = page.locator("#osk [data-move='left']")
    left.click()
    left.click()
    assert caret_view(page) == ("か", "きく")
    assert address.evaluate("el => [el.selectionStart, el.selectionEnd]") == [1, 1]
    page.wait_for_function("document.getElementById('live').textContent === 'き'")
    tap(page, "さ")
    assert address.input_value() == "かさきく"
    assert caret_view(page) == ("かさ", "きく")
    page.click("#osk [data-back]")  # deletes さ, before the caret
    assert address.input_value() == "かきく"
    assert caret_view(page) == ("か", "きく")
    page.click("#osk [data-mark='dakuten']")  # か before the caret -> が
    assert address.input_value() == "がきく"
    assert caret_view(page) == ("が", "きく")
    assert page.inner_text("#osk-value") == "がきく"
    page.click("#osk [data-space]")
    assert address.input_value() == "が\u3000きく"
    page.click("#osk [data-back]")
    page.click("#osk [data-move='right']")
    assert caret_view(page) == ("がき", "く")
    page.click("#osk [data-char='丁目']")
    assert address.input_value() == "がき丁目く"
    page.click("#osk [data-move='end']")
    tap(page, "け")
    page.click("#osk [data-move='start']")
    tap(page, "あ")
    assert address.input_value() == "あがき丁目くけ"
    assert caret_view(page) == ("あ", "がき丁目くけ")
    assert page.evaluate("window.inputs") == 11  # one per change, none per move
    assert page.evaluate("document.activeElement.id") == "f-tenshutsu-destination_address"
    assert small_keys(page) == []
    for key in ("left", "right"):
        name = page.locator(f"#osk [data-move='{key}']").get_attribute("aria-label")
        assert name == {"left": "カーソルを 左へ", "right": "カーソルを 右へ"}[key]
    assert page.locator("#osk [data-move='start']").inner_text() == "先頭"
    shot(page, "ja-kbd-03-cursor")

    # A full field: a key in the middle types nothing (nothing is cut off at the end).
    address.evaluate("el => { el.maxLength = el.value.length; }")
    tap(page, "ん")
    assert address.input_value() == "あがき丁目くけ"
    assert caret_view(page) == ("あ", "がき丁目くけ")

    # A character outside the BMP (𠮷, two UTF-16 units) is one step for the cursor keys.
    page.click("#osk [data-clear]")
    assert caret_view(page) == ("", "")
    address.evaluate("el => { el.maxLength = 200; }")
    address.fill("𠮷田")
    page.click("#osk [data-move='end']")
    left.click()
    left.click()
    assert address.evaluate("el => el.selectionStart") == 0
    page.click("#osk [data-move='right']")
    assert caret_view(page) == ("𠮷", "田")
    page.click("#osk [data-back]")
    assert address.input_value() == "田"


def test_cursor_keys_in_english(serve: Callable[..., Served], page: Any) -> None:
    """The cursor keys have English names; a typo in the middle of a Latin address is fixed
    without retyping what follows, and the fixed text reaches the check screen."""
    served = serve(sim_persona="yamada")
    to_fields(page, served, "en", "tenshutsu")
    pick_today(page, "tenshutsu")
    address = page.locator("#f-tenshutsu-destination_address")
    address.click()
    assert page.locator("#osk [data-move='left']").get_attribute("aria-label") == (
        "Move the cursor left"
    )
    assert page.locator("#osk [data-move='end']").inner_text() == "End"
    page.click("#osk [data-shift]")
    tap(page, "S", "h", "u", "b", "a")  # Shuba: u should be i
    for _ in range(2):
        page.click("#osk [data-move='left']")
    page.click("#osk [data-back]")
    tap(page, "i")
    assert caret_view(page) == ("Shi", "ba")
    page.click("#osk [data-move='end']")
    page.click("#osk [data-space]")
    page.click("#osk .osk-tab[data-layout='digits']")
    tap(page, "1", "-", "2")
    shot(page, "en-kbd-03-cursor")
    page.click("#osk [data-done]")
    assert address.input_value() == "Shiba 1-2"
    assert "Shiba 1-2" in check_page_text(page, served, jpki=True)
