"""Addresses by touch and dates on a touch calendar, in a real browser on the kiosk's
1080 x 1920 portrait touch screen (Debian's Chromium, Playwright, touch taps only): no kanji
typed, no native date input, the procedure's window enforced on the calendar."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from kiosk.catalog import load_catalog
from kiosk.clock import business_day
from kiosk.eras import format_japanese
from tests.ui.browser import BROWSER_MARKS, Served, place_card, shot
from tests.ui.conftest import enrol_as_kiosk_screen
from tests.ui.test_browser_a11y import Audit

pytestmark = BROWSER_MARKS

PICKERS = [".addrpick", ".datepick"]


@pytest.fixture
def kiosk_screen(browser: Any) -> Iterator[Any]:
    """A page the size and shape of the kiosk: 1080 x 1920 portrait, a touch screen."""
    context = browser.new_context(
        viewport={"width": 1080, "height": 1920}, has_touch=True, locale="ja-JP"
    )
    enrol_as_kiosk_screen(context)  # the kiosk's own screen (its device cookie)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def to_fields(page: Any, served: Served, lang: str, procedure: str) -> None:
    page.goto(f"{served.url}/kiosk/?lang={lang}")
    page.tap("#start")
    page.wait_for_url(re.compile(r"/kiosk/procedures$"))
    page.tap(f"label.choice-card:has(input[value='{procedure}'])")
    page.tap("main button[type=submit].btn-primary")
    page.wait_for_url(re.compile(r"/kiosk/fields$"))


def tap_osk(page: Any, *chars: str) -> None:
    for ch in chars:
        page.locator("#osk").get_by_role("button", name=ch, exact=True).first.tap()


def tap_pad(page: Any, fid: str, digits: str) -> None:
    for d in digits:
        page.tap(f"#{fid} [data-numpad] [data-num='{d}']")


def small_targets(page: Any) -> list[str]:
    """Visible touch targets of the pickers under 64 x 64 px (radio buttons are tapped
    through their labels, which are measured instead)."""
    return page.evaluate(
        """(scopes) => Array.from(document.querySelectorAll(scopes
                .map((s) => s + ' :is(button, label, input:not([type=radio]))').join(',')))
            .filter((el) => el.offsetParent !== null)
            .filter((el) => !el.closest('.numbox-field') || el.tagName === 'INPUT')
            .filter((el) => !el.closest('.addrpick-h'))
            .filter((el) => {
                const r = el.getBoundingClientRect();
                return r.width < 64 || r.height < 64;
            })
            .map((el) => el.tagName + ' ' + (el.textContent || el.name).trim().slice(0, 20))""",
        PICKERS,
    )


def moderate_or_worse(audit: Audit, name: str) -> list[str]:
    """Moderate (or worse) axe findings of page ``name`` (kiosk pages allow none)."""
    return [v for v in audit.seen if v.startswith(f"{name}:") and "(minor)" not in v]


@pytest.mark.parametrize(
    ("lang", "building", "address", "chosen", "on_check"),
    [
        (
            "ja",
            "ハイツ１０１",
            "東京都千代田区霞が関二丁目3番12号\u3000ハイツ１０１",
            lambda d: format_japanese(d),
            lambda d: f"{format_japanese(d)}（{d.year}年）",
        ),
        (
            "en",
            "Heights 101",
            "東京都千代田区霞が関二丁目3番12号\u3000Heights 101",
            lambda d: f"{d.day} {d.strftime('%B')} {d.year}",
            lambda d: f"{d.day} {d.strftime('%B')} {d.year}",
        ),
    ],
)
def test_new_address_and_moving_date_by_touch(
    serve: Callable[..., Served],
    kiosk_screen: Any,
    lang: str,
    building: str,
    address: str,
    chosen: Callable[[date], str],
    on_check: Callable[[date], str],
) -> None:
    """A 転居届 filled only by taps on a portrait kiosk: town from the 50-音 index, its 丁目,
    番 and 号 on the number pad, the building on the on-screen keyboard, the moving date on
    the calendar (only the last 14 days can be picked); the check screen shows the address
    in kanji as the ward writes it and the date written out; every target is >= 64 px and
    axe finds nothing moderate or worse."""
    page = kiosk_screen
    audit = Audit()
    served = serve(sim_persona="yamada")
    to_fields(page, served, lang, "tenkyo")
    assert page.locator("input[type=date]").count() == 0
    address_id, date_id = "f-tenkyo-new_address", "f-tenkyo-moving_date"
    shot(page, f"{lang}-pick-01-fields", full_page=False)

    # 1 town: tap the row of its first sound, then the town (the other rows stay hidden)
    page.tap(f"#{address_id} [data-kana-row='か']")
    assert page.locator(f"#{address_id} [data-town-row='か']").is_visible()
    assert page.locator(f"#{address_id} [data-town-row='あ']").is_hidden()
    shot(page, f"{lang}-pick-02-kana-row", full_page=False)
    assert small_targets(page) == []
    page.tap(f"#{address_id} label.town-choice:has(input[value='霞が関'])")
    assert page.inner_text(f"#{address_id} [data-town-chosen]") == "霞が関"
    assert page.locator(f"#{address_id} [data-town-row='か']").is_hidden()
    # 2 丁目: only the three 霞が関 has
    chome = page.locator(f"#{address_id} .chome-choice:visible span")
    assert chome.all_inner_texts() == ["一丁目", "二丁目", "三丁目"]
    page.tap(f"#{address_id} .chome-choice[data-chome-n='2']")
    # 3 番 and 号 on the kiosk's pad: no native keyboard, no on-screen keyboard
    page.tap(f"#{address_id}-ban")
    assert page.get_attribute(f"#{address_id}-ban", "inputmode") == "none"
    tap_pad(page, address_id, "34")
    page.tap(f"#{address_id} [data-num-back]")
    page.tap(f"#{address_id} [data-num-next]")
    tap_pad(page, address_id, "12")
    assert page.locator("#osk").is_hidden()
    assert page.input_value(f"#{address_id}-ban") == "3"
    assert page.input_value(f"#{address_id}-go") == "12"
    # 4 building and room on the on-screen keyboard
    page.tap(f"#{address_id}-building")
    assert page.locator("#osk").is_visible()
    if lang == "ja":
        page.tap("#osk .osk-tab[data-layout='kata']")
        tap_osk(page, "ハ", "イ", "ツ", "１", "０", "１")
    else:
        page.tap("#osk [data-shift]")
        tap_osk(page, "H", "e", "i", "g", "h", "t", "s")
        page.tap("#osk [data-space]")
        page.tap("#osk .osk-tab[data-layout='digits']")
        tap_osk(page, "1", "0", "1")
    shot(page, f"{lang}-pick-03-building", full_page=False)
    page.tap("#osk [data-done]")
    assert page.input_value(f"#{address_id}-building") == building
    assert page.inner_text(f"#{address_id} [data-addr-preview]") == address

    # the moving date: the calendar offers exactly the last 14 days up to today
    today = business_day()
    days = page.locator(f"#{date_id} input[type=radio]")
    assert days.count() == 15
    assert days.first.get_attribute("value") == (today - timedelta(days=14)).isoformat()
    assert days.last.get_attribute("value") == today.isoformat()
    assert page.locator(f"#{date_id} input[value='{today + timedelta(days=1)}']").count() == 0
    moved = today - timedelta(days=3)
    page.tap(f"#{date_id} label:has(input[value='{moved.isoformat()}'])")
    assert chosen(moved) in page.inner_text(f"#{date_id} [data-chosen]")
    page.locator(f"#{date_id}").scroll_into_view_if_needed()
    shot(page, f"{lang}-pick-04-date", full_page=False)
    assert small_targets(page) == []
    audit.check(page, "fields-picked")
    assert moderate_or_worse(audit, "fields-picked") == [], audit.seen

    # on to the card (placed once the card screen shows), the PIN by taps, the check screen
    page.tap("main button[type=submit].btn-primary")
    place_card(page, served, "yamada")
    for digit in "1234":
        page.tap(f".pinpad [data-digit='{digit}']")
    page.tap("#pin-ok")
    page.wait_for_url(re.compile(r"/kiosk/check$"))
    text = page.inner_text(".check-grid")
    assert address in text
    assert on_check(moved) in text
    shot(page, f"{lang}-pick-05-check", full_page=False)
    audit.check(page, "check")
    assert moderate_or_worse(audit, "check") == [], audit.seen

    # "change" brings the picks back as they were
    page.tap("a.btn-secondary[href$='/kiosk/fields']")
    page.wait_for_url(re.compile(r"/kiosk/fields$"))
    assert page.inner_text(f"#{address_id} [data-addr-preview]") == address
    assert page.is_checked(f"#{date_id} input[value='{moved.isoformat()}']")


def test_town_without_residence_numbers_in_chinese(
    serve: Callable[..., Served], kiosk_screen: Any
) -> None:
    """A town with 地番 and a single 丁目 (神田司町二丁目): the 丁目 is chosen for the
    resident, the numbers are called 番地 and 支号 (optional); a missing 番地 is explained in
    Chinese; the address on the check screen is written with 番地."""
    page = kiosk_screen
    served = serve(sim_persona="yamada")
    to_fields(page, served, "zh_Hans", "tenkyo")
    fid = "f-tenkyo-new_address"
    page.tap(f"#{fid} [data-kana-row='か']")
    page.tap(f"#{fid} label.town-choice:has(input[value='神田司町'])")
    assert page.is_checked(f"#{fid} .chome-choice[data-chome-n='2'] input")
    assert page.locator(f"#{fid} .chome-choice:visible span").all_inner_texts() == ["二丁目"]
    assert page.inner_text(f"label[for='{fid}-ban']") == "番地"
    assert page.inner_text(f"label[for='{fid}-go']") == "支号（如有）"
    moved = business_day() - timedelta(days=1)
    page.tap(f"#f-tenkyo-moving_date label:has(input[value='{moved.isoformat()}'])")
    page.tap("main button[type=submit].btn-primary")
    page.wait_for_selector("#error-summary")
    assert "新地址的番地请输入1到9999之间的数字。" in page.inner_text("#error-summary")
    shot(page, "zh-pick-01-error", full_page=False)
    page.tap(f"#{fid}-ban")
    tap_pad(page, fid, "5")
    assert page.inner_text(f"#{fid} [data-addr-preview]") == "東京都千代田区神田司町二丁目5番地"
    page.tap("main button[type=submit].btn-primary")
    place_card(page, served, "yamada")
    for digit in "1234":
        page.tap(f".pinpad [data-digit='{digit}']")
    page.tap("#pin-ok")
    page.wait_for_url(re.compile(r"/kiosk/check$"))
    text = page.inner_text(".check-grid")
    assert "東京都千代田区神田司町二丁目5番地" in text
    assert f"{moved.year}年{moved.month}月{moved.day}日" in text
    shot(page, "zh-pick-02-check", full_page=False)


def test_a_long_window_pages_month_by_month(
    serve: Callable[..., Served], kiosk_screen: Any, tmp_path: Path
) -> None:
    """A ward whose 転居届 allows 60 days back: the calendar opens on today's month and the
    previous/next month buttons page through the window (and stop at its ends)."""
    shipped = load_catalog()
    text = Path(shipped.source).read_text()
    assert "min_days = -14\nmax_days = 0\n" in text
    catalog = tmp_path / "ward" / "catalog.toml"
    catalog.parent.mkdir()
    catalog.write_text(
        text.replace("min_days = -14\nmax_days = 0\n", "min_days = -60\nmax_days = 0\n")
    )
    shutil.copy(shipped.ward.towns_source, catalog.parent)
    page = kiosk_screen
    served = serve(sim_persona="yamada", catalog=str(catalog))
    to_fields(page, served, "en", "tenkyo")
    picker = "#f-tenkyo-moving_date"
    today = business_day()
    visible = page.locator(f"{picker} .datepick-page:visible")
    assert visible.count() == 1
    assert visible.get_attribute("data-page") == today.strftime("%Y-%m")
    previous, following = (
        page.locator(f"{picker} [data-page-step='-1']"),
        page.locator(f"{picker} [data-page-step='1']"),
    )
    assert following.is_disabled() and previous.is_enabled()
    first = today - timedelta(days=60)
    months = (today.year - first.year) * 12 + today.month - first.month
    for _ in range(months):
        previous.tap()
    assert previous.is_disabled()
    assert visible.get_attribute("data-page") == first.strftime("%Y-%m")
    page.tap(f"{picker} label:has(input[value='{first.isoformat()}'])")
    assert first.strftime("%B") in page.inner_text(f"{picker} [data-chosen]")
    shot(page, "en-pick-06-month-pages", full_page=False)
    following.tap()
    assert visible.get_attribute("data-page") != first.strftime("%Y-%m")
