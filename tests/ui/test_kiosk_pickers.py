"""The fields screen's touch pickers as served (a new address in the ward, dates on a
calendar), their values on the staff view, the A4 form and the JSON API, and the ward's
name per language."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask

from kiosk.clock import business_day
from kiosk.eras import format_japanese
from kiosk.models import Case
from tests.ui.moving import KASUMIGASEKI, KASUMIGASEKI_TEXT, move_fields, move_form, moving_date
from tests.ui.staffkit import add_staff, login
from tests.ui.test_kiosk_screens import KioskActions


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """A kiosk app with yamada's simulated card on the reader."""
    return make_app(sim_persona="yamada")


@pytest.fixture
def kiosk(app: Flask) -> KioskActions:
    return KioskActions(app, app.test_client())


def fields_page(kiosk: KioskActions, lang: str, procedure: str = "tenkyo") -> str:
    kiosk.start(lang)
    kiosk.client.post("/kiosk/procedures", data={"procedure": procedure})
    return kiosk.client.get("/kiosk/fields").get_data(as_text=True)


def test_fields_screen_has_no_native_date_input_and_no_kanji_typing(kiosk: KioskActions) -> None:
    """The 転居届's date is a calendar of the 15 days it allows (today marked, nothing
    after), its new address a list of the ward's 59 towns with 丁目, 番 and 号 boxes."""
    html = fields_page(kiosk, "ja")
    assert 'type="date"' not in html
    today = business_day()
    days = re.findall(r'name="tenkyo\.moving_date" value="([0-9-]+)"', html)
    assert days == [(today - timedelta(days=n)).isoformat() for n in range(14, -1, -1)]
    assert re.search(rf'value="{today.isoformat()}"[^>]*aria-label="[^"]+ \(今日\)"', html)
    assert f"{format_japanese(today - timedelta(days=14))} から {format_japanese(today)}" in html
    towns = re.findall(r'name="tenkyo\.new_address\.town" value="([^"]+)"', html)
    assert len(towns) == 59 and "霞が関" in towns and "神田司町" in towns
    for part in ("chome", "ban", "go", "building"):
        assert f'name="tenkyo.new_address.{part}"' in html
    # moving out of the ward keeps free text for the destination
    html = fields_page(kiosk, "ja", "tenshutsu")
    assert 'name="tenshutsu.destination_address" type="text"' in html


@pytest.mark.parametrize(
    ("lang", "texts"),
    [
        ("en", ["Choose a day from", "Chōme", "Block (ban)", "K G"]),
        ("zh_Hans", ["请选择", "丁目", "支号（如有）", "S Z J"]),
        ("ko", ["날짜를 골라 주세요", "초메(丁目)", "번지(番地)", "H B P F"]),
    ],
)
def test_pickers_speak_the_resident_language(kiosk: KioskActions, lang: str, texts: list) -> None:
    """Every word of the pickers is translated; Latin initials help find a 50-音 row."""
    html = fields_page(kiosk, lang)
    for text in texts:
        assert text in html, text


@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("en", "Moving date must be a day from"),
        ("ko", "전거일은(는)"),
    ],
)
def test_a_date_outside_the_window_is_refused(kiosk: KioskActions, lang: str, message: str) -> None:
    """A posted moving date after today (the calendar never offers it) is a clear error."""
    kiosk.start(lang)
    form = {**move_form(), "tenkyo.moving_date": (business_day() + timedelta(days=1)).isoformat()}
    response = kiosk.choose("tenkyo", fields=form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


def test_unknown_town_is_refused_and_the_picks_are_kept(kiosk: KioskActions) -> None:
    """A town not in the ward's list is refused; what the resident picked stays picked."""
    kiosk.start("ja")
    form = {**move_form(), "tenkyo.new_address.town": "芝公園"}
    response = kiosk.choose("tenkyo", fields=form)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "新しい住所の町名を一覧から選んでください。" in html
    assert re.search(rf'value="{moving_date()}"[^>]*checked', html)
    assert 'id="f-tenkyo-new_address-ban" class="numbox" name="tenkyo.new_address.ban"' in html


def test_staff_see_the_written_address_and_its_parts(app: Flask, kiosk: KioskActions) -> None:
    """The staff case view shows the address as written and its parts to key in; the A4
    form shows the written address only, addressed to the ward's head."""
    kiosk.start("ja")
    form = {**move_form(), "tenkyo.new_address.building": "ハイツ１０１"}
    assert kiosk.choose("tenkyo", fields=form).status_code == 302
    kiosk.read_card()
    kiosk.client.post("/kiosk/confirm")
    case_id = kiosk.one(Case).id
    add_staff(app, "clerk", "staff")
    staff = app.test_client()
    login(staff, "clerk")
    html = staff.get(f"/staff/cases/{case_id}?lang=ja").get_data(as_text=True)
    written = f"{KASUMIGASEKI_TEXT}\u3000ハイツ１０１"
    assert written in html
    for label, text in [("町名", "霞が関"), ("丁目", "一丁目"), ("番", "1"), ("号", "1")]:
        assert f"<dt>新しい住所: {label}</dt><dd>{text}</dd>" in html
    assert "<dt>新しい住所: 建物名・部屋番号</dt><dd>ハイツ１０１</dd>" in html
    form_html = staff.get(f"/staff/cases/{case_id}/print").get_data(as_text=True)
    assert f"新しい住所：{written}" in form_html
    assert "新しい住所: 町名" not in form_html
    assert "千代田区長　あて" in form_html


def test_api_takes_the_parts_and_describes_the_ward(app: Flask) -> None:
    """/api/catalog gives the towns and the date window; a visit takes the address as parts
    and refuses free text with the reason."""
    client = app.test_client()
    catalog = client.get("/api/catalog").get_json()
    assert catalog["ward"]["address_prefix"] == "東京都千代田区"
    assert {
        "name": "神田司町",
        "kana": "かんだつかさまち",
        "chome": [2],
        "numbering": "chiban",
    } in (catalog["ward"]["towns"])
    tenkyo = next(p for p in catalog["procedures"] if p["code"] == "tenkyo")
    moving = next(f for f in tenkyo["fields"] if f["name"] == "moving_date")
    assert (moving["min_days"], moving["max_days"]) == (-14, 0)
    body = {"procedures": ["tenkyo"], "fields": {"tenkyo": move_fields()}}
    visit = client.post("/api/visits?lang=en", json=body)
    assert visit.status_code == 201, visit.get_json()
    assert visit.get_json()["fields"]["tenkyo"]["new_address"]["address"] == KASUMIGASEKI_TEXT
    text = {**move_fields(), "new_address": KASUMIGASEKI_TEXT}
    refused = client.post(
        "/api/visits?lang=en", json={"procedures": ["tenkyo"], "fields": {"tenkyo": text}}
    )
    assert refused.status_code == 422
    assert "choose the town" in refused.get_json()["error"]["fields"]["tenkyo"]["new_address"]
    assert KASUMIGASEKI["town"] == "霞が関"


@pytest.mark.parametrize(
    ("lang", "name"),
    [("ja", "千代田区役所"), ("en", "Chiyoda City Office"), ("ko", "지요다구청")],
)
def test_the_ward_name_is_in_the_screen_language(kiosk: KioskActions, lang: str, name: str) -> None:
    """Without KIOSK_WARD_NAME the screens show the catalog's ward name in their language."""
    html = kiosk.client.get(f"/kiosk/?lang={lang}").get_data(as_text=True)
    assert f"<span>{name}</span>" in html and f"| {name}</title>" in html


def test_ward_name_setting_overrides_the_catalog(make_app: Callable[..., Flask]) -> None:
    """KIOSK_WARD_NAME, when set, is shown in every language."""
    app = make_app(ward_name="テスト区役所")
    client = app.test_client()
    for lang in ("ja", "en"):
        assert "<span>テスト区役所</span>" in client.get(f"/kiosk/?lang={lang}").get_data(
            as_text=True
        )


def test_a_long_window_pages_by_month(app: Flask) -> None:
    """A window longer than six weeks is a page per month, opening on today's month; the
    titles and weekdays are in the screen's language, Sunday first."""
    from datetime import date

    from kiosk.catalog import FieldSpec
    from ui.pickers import date_picker

    spec = FieldSpec("day", "date", {"en": "Day"}, True, min_days=-60, max_days=0)
    with app.test_request_context("/kiosk/fields?lang=en"):
        picker = date_picker(spec, date(2026, 12, 2))
    assert [p.key for p in picker.pages] == ["2026-10", "2026-11", "2026-12"]
    assert [p.title for p in picker.pages] == ["October 2026", "November 2026", "December 2026"]
    assert picker.start_page == "2026-12"
    assert picker.weekdays[0] == "Sun" and picker.weekdays[-1] == "Sat"
    days = [d for p in picker.pages for w in p.weeks for d in w if d is not None and d.enabled]
    assert len(days) == 61
    assert days[0].iso == "2026-10-03" and days[-1].iso == "2026-12-02" and days[-1].today
    assert days[-1].label == "Wednesday 2 December 2026"
    assert picker.range_text == "Choose a day from 3 October 2026 to 2 December 2026."
