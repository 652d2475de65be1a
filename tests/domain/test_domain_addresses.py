"""Addresses in the ward (the town list, the written form, the resident's parts) and dates
inside a procedure's window: what the kiosk's pickers offer is checked again here."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from kiosk.addresses import (
    TownListError,
    kana_row,
    kanji_number,
    load_towns,
    normalise_ward_address,
)
from kiosk.catalog import CatalogError, ValidationFailed, load_catalog
from ui.words import address_part_rows, field_message, field_messages

TODAY = date(2026, 12, 2)
KASUMIGASEKI = {"town": "霞が関", "chome": 1, "ban": 1, "go": 1}


def tenkyo(address: object, moving: str = "2026-11-30", language: str = "ja") -> dict:
    """Validate a 転居届 on TODAY and return its fields (raises ValidationFailed)."""
    spec = load_catalog().procedure("tenkyo")
    return spec.validate_fields(
        {"new_address": address, "moving_date": moving}, language, today=TODAY
    )


def rejected(address: object, language: str = "ja") -> tuple[str, str]:
    """(code, message) of the one error a 転居届 with ``address`` gets."""
    with pytest.raises(ValidationFailed) as info:
        tenkyo(address, language=language)
    [error] = info.value.errors
    assert error.field == "new_address"
    return error.code, field_message(error, language)


def test_shipped_town_list_is_the_demo_ward() -> None:
    """The catalog's ward is 千代田区: 59 towns with hiragana readings, their 丁目 (some
    towns only a later one), and 住居表示 (番・号) or 地番 (番地) as the ward has them."""
    ward = load_catalog().ward
    assert ward is not None
    assert ward.names["ja"] == "千代田区役所" and ward.names["en"] == "Chiyoda City Office"
    assert ward.address_prefix == "東京都千代田区" and ward.addressee == "千代田区長"
    assert len(ward.towns) == 59 and len({t.name for t in ward.towns}) == 59
    facts = {t.name: (t.kana, t.chome, t.numbering) for t in ward.towns}
    assert facts["霞が関"] == ("かすみがせき", (1, 2, 3), "jukyo")
    assert facts["麹町"] == ("こうじまち", (1, 2, 3, 4, 5, 6), "chiban")
    assert facts["外神田"] == ("そとかんだ", (1, 2, 3, 4, 5, 6), "jukyo")
    assert facts["神田司町"] == ("かんだつかさまち", (2,), "chiban")
    assert facts["神田多町"] == ("かんだたちょう", (2,), "chiban")
    assert facts["神田鍛冶町"] == ("かんだかじちょう", (3,), "chiban")
    assert facts["鍛冶町"] == ("かじちょう", (1, 2), "jukyo")
    assert facts["一番町"] == ("いちばんちょう", (), "chiban")
    assert facts["紀尾井町"] == ("きおいちょう", (), "jukyo")
    assert facts["神田三崎町"] == ("かんだみさきちょう", (1, 2, 3), "jukyo")
    assert sum(1 for t in ward.towns if t.numbering == "chiban") == 33


def test_ward_name_per_language_or_the_setting() -> None:
    """Screens, receipts and printouts name the ward in the resident's language, unless the
    setting (KIOSK_WARD_NAME) names it once for every language."""
    catalog = load_catalog()
    assert catalog.ward_name("ja") == "千代田区役所"
    assert catalog.ward_name("zh-Hans") == "千代田区役所"
    assert catalog.ward_name("ko") == "지요다구청"
    assert catalog.ward_name("fr") == "千代田区役所"
    assert catalog.ward_name("en", override="みなと区役所") == "みなと区役所"


def test_towns_are_grouped_by_the_first_sound_of_their_reading() -> None:
    """The 50-音 index: 五番町 (ご) is in the か row, 千代田 in the た row; rows in 50-音 order."""
    ward = load_catalog().ward
    rows = dict(ward.towns_by_row())
    assert list(rows) == ["あ", "か", "さ", "た", "な", "は", "ま", "や", "ら"]
    assert "五番町" in [t.name for t in rows["か"]]
    assert [t.name for t in rows["た"]] == ["千代田"]
    assert kana_row("ぱ") == "は" and kana_row("ゆ") == "や"


@pytest.mark.parametrize(
    ("n", "kanji"), [(1, "一"), (3, "三"), (10, "十"), (12, "十二"), (20, "二十"), (99, "九十九")]
)
def test_chome_in_kanji_numerals(n: int, kanji: str) -> None:
    """丁目 are written in kanji numerals."""
    assert kanji_number(n) == kanji


@pytest.mark.parametrize(
    ("parts", "written"),
    [
        (KASUMIGASEKI, "東京都千代田区霞が関一丁目1番1号"),
        ({"town": "紀尾井町", "ban": "1", "go": "3"}, "東京都千代田区紀尾井町1番3号"),
        (
            {"town": "外神田", "chome": "6", "ban": "12", "go": "34"},
            "東京都千代田区外神田六丁目12番34号",
        ),
        ({"town": "神田神保町", "chome": 2, "ban": 17}, "東京都千代田区神田神保町二丁目17番地"),
        ({"town": "一番町", "ban": "6", "go": "2"}, "東京都千代田区一番町6番地2"),
        (
            {**KASUMIGASEKI, "building": "  霞が関ハイツ　１０１  "},
            "東京都千代田区霞が関一丁目1番1号\u3000霞が関ハイツ　１０１",
        ),
        ({**KASUMIGASEKI, "ban": "１２"}, "東京都千代田区霞が関一丁目12番1号"),
    ],
)
def test_written_as_the_ward_writes_it(parts: dict, written: str) -> None:
    """丁目 in kanji, 番・号 (or 番地 and its branch) in Arabic numerals, the building after a
    full-width space; full-width digits from a keypad count as numbers."""
    value = tenkyo(parts)["new_address"]
    assert value["address"] == written
    assert value["town"] == parts["town"]


def test_stored_value_has_the_parts_and_normalises_to_itself() -> None:
    """The stored value keeps the parts for staff; validating it again (confirmation, a
    change of fields) gives the same value."""
    ward = load_catalog().ward
    value = normalise_ward_address({**KASUMIGASEKI, "building": "ハイツ101"}, ward)
    assert value == {
        "address": "東京都千代田区霞が関一丁目1番1号\u3000ハイツ101",
        "town": "霞が関",
        "chome": 1,
        "ban": 1,
        "go": 1,
        "building": "ハイツ101",
        "numbering": "jukyo",
    }
    assert normalise_ward_address(value, ward) == value
    assert address_part_rows(value, "en") == [
        ("Town", "霞が関"),
        ("Chōme", "一丁目"),
        ("Block (ban)", "1"),
        ("Number (gō)", "1"),
        ("Building and room", "ハイツ101"),
    ]


@pytest.mark.parametrize(
    ("parts", "code"),
    [
        ({"town": "芝公園", "chome": 4, "ban": 2, "go": 8}, "unknown_town"),
        ({"town": "霞ヶ関", "chome": 1, "ban": 1, "go": 1}, "unknown_town"),
        ({"town": ["霞が関"], "ban": 1, "go": 1}, "unknown_town"),
        ({**KASUMIGASEKI, "chome": 4}, "bad_chome"),
        ({**KASUMIGASEKI, "chome": None}, "bad_chome"),
        ({**KASUMIGASEKI, "chome": "x"}, "bad_chome"),
        ({"town": "神田司町", "chome": 1, "ban": 1}, "bad_chome"),
        ({"town": "一番町", "chome": 1, "ban": 1}, "no_chome"),
        ({**KASUMIGASEKI, "ban": 0}, "bad_address_number"),
        ({**KASUMIGASEKI, "ban": 1000}, "bad_address_number"),
        ({**KASUMIGASEKI, "ban": "1a"}, "bad_address_number"),
        ({**KASUMIGASEKI, "ban": -3}, "bad_address_number"),
        ({**KASUMIGASEKI, "ban": True}, "bad_address_number"),
        ({**KASUMIGASEKI, "go": ""}, "bad_address_number"),
        ({"town": "神田神保町", "chome": 1, "ban": 10000}, "bad_address_number"),
        ({"town": "神田神保町", "chome": 1, "ban": 1, "go": 0}, "bad_address_number"),
        ({**KASUMIGASEKI, "building": "ハイツ\u202e101"}, "building_invalid"),
        ({**KASUMIGASEKI, "building": "ハイツ\u2066101\u2069"}, "building_invalid"),
        ({**KASUMIGASEKI, "building": "ハイツ\u200b101"}, "building_invalid"),
        ({**KASUMIGASEKI, "building": "ハイツ\x07101"}, "building_invalid"),
        ({**KASUMIGASEKI, "building": "ハイツ\n101"}, "building_invalid"),
        ({**KASUMIGASEKI, "building": "\ue000"}, "building_invalid"),
        ({**KASUMIGASEKI, "building": 101}, "building_invalid"),
        ({**KASUMIGASEKI, "building": "あ" * 61}, "building_too_long"),
        ("東京都千代田区霞が関一丁目1番1号", "not_an_address"),
        (["霞が関", 1, 1, 1], "not_an_address"),
    ],
)
def test_parts_that_are_rejected(parts: object, code: str) -> None:
    """A town not in the list (even 霞ヶ関 for 霞が関), a 丁目 the town has not, 番・号 out
    of bounds or not numbers, a missing 号 in a 住居表示 town, control, bidi and zero-width
    characters in the building, free text instead of parts: each is its own error."""
    assert rejected(parts)[0] == code


def test_an_empty_address_is_required() -> None:
    """No parts at all (or all blank, as an untouched picker sends) is "required"."""
    assert rejected({})[0] == "required"
    blank = {"town": "", "chome": "", "ban": "", "go": "", "building": ""}
    assert rejected(blank)[0] == "required"


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("ja", "新しい住所：霞が関の丁目を選んでください（一丁目、二丁目、三丁目）。"),
        ("en", "New address: please choose the chōme of 霞が関 (一丁目、二丁目、三丁目)."),
        ("zh-Hans", "新地址：请选择霞が関的丁目（一丁目、二丁目、三丁目）。"),
        ("ko", "새 주소: 霞が関의 초메(丁目)를 골라 주세요(一丁目、二丁目、三丁目)."),
    ],
)
def test_a_wrong_chome_is_explained_in_the_resident_language(language: str, message: str) -> None:
    """The message names the town and the 丁目 it has."""
    assert rejected({**KASUMIGASEKI, "chome": 9}, language)[1] == message


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("ja", "新しい住所の番は1から999までの数字で入力してください。"),
        ("en", "New address: Block (ban) must be a number from 1 to 999."),
        ("zh-Hans", "新地址的番请输入1到999之间的数字。"),
        ("ko", "새 주소의 번(番)은(는) 1에서 999까지의 숫자로 입력해 주세요."),
    ],
)
def test_a_wrong_number_names_the_part(language: str, message: str) -> None:
    """番 (or 号, 番地, 枝番) is named in the resident's language."""
    assert rejected({**KASUMIGASEKI, "ban": 0}, language)[1] == message


@pytest.mark.parametrize(
    ("moving", "ok"),
    [
        ("2026-11-17", False),
        ("2026-11-18", True),
        ("2026-12-02", True),
        ("2026-12-03", False),
        ("2019-05-01", False),
        ("2028-01-01", False),
    ],
)
def test_moving_date_must_be_in_the_last_14_days(moving: str, ok: bool) -> None:
    """A 転居届's moving date lies within the 14 days up to the business day, never after."""
    if ok:
        assert tenkyo(KASUMIGASEKI, moving)["moving_date"] == moving
    else:
        with pytest.raises(ValidationFailed) as info:
            tenkyo(KASUMIGASEKI, moving)
        assert [e.code for e in info.value.errors] == ["date_out_of_range"]


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("ja", "転居日は令和8年11月18日から令和8年12月2日までの日を選んでください。"),
        ("en", "Moving date must be a day from 18 November 2026 to 2 December 2026."),
        ("zh-Hans", "迁居日期请选择2026年11月18日至2026年12月2日之间的日期。"),
        ("ko", "전거일은(는) 2026년 11월 18일부터 2026년 12월 2일까지의 날짜로 골라 주세요."),
    ],
)
def test_a_date_outside_the_window_is_explained_with_written_dates(
    language: str, message: str
) -> None:
    """The window is written out in the resident's language (和暦 in Japanese), never as an
    ambiguous 12/02/2026."""
    with pytest.raises(ValidationFailed) as info:
        tenkyo(KASUMIGASEKI, "2026-12-25", language)
    assert field_messages(info.value, language) == {"moving_date": message}


def test_moving_out_keeps_free_text_and_allows_a_planned_date() -> None:
    """転出届: the destination is free text (outside the ward); the date may be up to 14 days
    ahead or 14 days back."""
    spec = load_catalog().procedure("tenshutsu")
    assert spec.field_spec("destination_address").kind == "text"
    values = spec.validate_fields(
        {"destination_address": "大阪府大阪市北区", "moving_date": "2026-12-16"}, today=TODAY
    )
    assert values["moving_date"] == "2026-12-16"
    with pytest.raises(ValidationFailed):
        spec.validate_fields(
            {"destination_address": "大阪府大阪市北区", "moving_date": "2026-12-17"}, today=TODAY
        )


# --- a ward's own files ------------------------------------------------------------------------


def _ward_files(
    tmp_path: Path, towns: str | None = None, catalog: tuple[str, str] = ("", "")
) -> Path:
    """A copy of the shipped catalog (one text replaced) with its town list (or ``towns``)."""
    shipped = load_catalog()
    text = Path(shipped.source).read_text()
    if catalog[0]:
        assert catalog[0] in text
        text = text.replace(catalog[0], catalog[1], 1)
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    if towns is None:
        shutil.copy(shipped.ward.towns_source, tmp_path)
    else:
        (tmp_path / "towns-chiyoda.csv").write_text(towns)
    return path


HEADER = "# a ward's list\ntown,kana,chome,numbering\n"


@pytest.mark.parametrize(
    ("rows", "line", "reason"),
    [
        ("霞が関,かすみがせき,3,jukyo\n霞が関,かすみがせき,3,jukyo\n", 4, "listed twice"),
        ("霞が関,カスミガセキ,3,jukyo\n", 3, "must be hiragana"),
        ("霞が関,かすみがせき,3-1,jukyo\n", 3, "A-B with 1 <= A <= B"),
        ("霞が関,かすみがせき,three,jukyo\n", 3, "expected N or A-B"),
        ("霞が関,かすみがせき,3,banchi\n", 3, "must be jukyo or chiban"),
        ("霞が関,かすみがせき,3\n", 3, "expected 4 columns"),
        ("霞\u202eが関,かすみがせき,3,jukyo\n", 3, "not usable"),
        ("", 2, "has no town"),
    ],
)
def test_a_broken_town_list_stops_start_up_with_file_and_line(
    tmp_path: Path, rows: str, line: int, reason: str
) -> None:
    """Like the catalog, a town list that cannot be used fails loading with file:line: reason."""
    path = _ward_files(tmp_path, towns=HEADER + rows)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert info.value.path == str(tmp_path / "towns-chiyoda.csv")
    assert info.value.line == line
    assert reason in info.value.reason
    assert str(info.value).startswith(f"{tmp_path / 'towns-chiyoda.csv'}:{line}: ")


def test_a_town_list_header_is_checked(tmp_path: Path) -> None:
    """A list without the expected header is refused at its header line."""
    (tmp_path / "towns.csv").write_text("# comment\nname,reading\n霞が関,かすみがせき\n")
    with pytest.raises(TownListError, match=r"towns.csv:2: the header must be"):
        load_towns(tmp_path / "towns.csv")


@pytest.mark.parametrize(
    ("old", "new", "key", "reason"),
    [
        ('towns = "towns-chiyoda.csv"', 'towns = "nowhere.csv"', "towns =", "no file"),
        (
            'address_prefix = "東京都千代田区"\n',
            "",
            "[ward]\nnames",
            "missing key 'address_prefix'",
        ),
        ('names = { ja = "千代田区役所", ', "names = { ", "names =", "lacks the language"),
        (
            "min_days = -14\nmax_days = 0\n",
            "",
            '[[procedure.field]]\nname = "moving_date"',
            "missing key 'min_days'",
        ),
        (
            "min_days = -14\nmax_days = 0\n",
            "min_days = 1\nmax_days = 0\n",
            "min_days = 1",
            "min_days > max_days",
        ),
        (
            "min_days = -14\nmax_days = 0\n",
            "min_days = -400\nmax_days = 0\n",
            "max_days = 0",
            "longer than 366",
        ),
    ],
)
def test_a_broken_ward_or_date_window_names_the_catalog_line(
    tmp_path: Path, old: str, new: str, key: str, reason: str
) -> None:
    """A missing town list, ward key or date window stops loading at the catalog's line (a
    missing key: the line of its table)."""
    path = _ward_files(tmp_path, catalog=(old, new))
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert reason in info.value.reason
    text = path.read_text()
    expected = text[: text.index(key)].count("\n") + 1
    assert info.value.line == expected, str(info.value)
